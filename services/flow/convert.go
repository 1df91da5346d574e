package flow

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// structToJSON encodes a Struct as plain JSON. It goes through AsMap and
// encoding/json rather than protojson, whose output is deliberately
// unstable, so the same definition is always stored as the same bytes.
func structToJSON(s *structpb.Struct) ([]byte, error) {
	b, err := json.Marshal(s.AsMap())
	if err != nil {
		return nil, badRequest("definition: %v", err)
	}
	return b, nil
}

// jsonToStruct decodes a stored JSON object into a Struct. Empty JSON (a
// record written without a context) gives an empty Struct; anything else
// that is not an object is a corrupt record.
func jsonToStruct(raw json.RawMessage) (*structpb.Struct, error) {
	s := &structpb.Struct{}
	if len(raw) == 0 || string(raw) == "null" {
		return s, nil
	}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("stored JSON is not an object: %w", err)
	}
	return s, nil
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func flowStatusToProto(s store.FlowStatus) flowv1.FlowStatus {
	switch s {
	case store.FlowStatusDraft:
		return flowv1.FlowStatus_FLOW_STATUS_DRAFT
	case store.FlowStatusPublished:
		return flowv1.FlowStatus_FLOW_STATUS_PUBLISHED
	}
	return flowv1.FlowStatus_FLOW_STATUS_UNSPECIFIED
}

// flowStatusFromProto converts a required status field.
func flowStatusFromProto(s flowv1.FlowStatus) (store.FlowStatus, error) {
	switch s {
	case flowv1.FlowStatus_FLOW_STATUS_DRAFT:
		return store.FlowStatusDraft, nil
	case flowv1.FlowStatus_FLOW_STATUS_PUBLISHED:
		return store.FlowStatusPublished, nil
	}
	return "", badRequest("status must be FLOW_STATUS_DRAFT or FLOW_STATUS_PUBLISHED, not %v", s)
}

func executionStatusToProto(s store.ExecutionStatus) flowv1.ExecutionStatus {
	switch s {
	case store.ExecutionStatusActive:
		return flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE
	case store.ExecutionStatusEnded:
		return flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED
	}
	return flowv1.ExecutionStatus_EXECUTION_STATUS_UNSPECIFIED
}

// executionStatusFilter converts the optional status filter of
// ListExecutions; unspecified means any status.
func executionStatusFilter(s flowv1.ExecutionStatus) (store.ExecutionStatus, error) {
	switch s {
	case flowv1.ExecutionStatus_EXECUTION_STATUS_UNSPECIFIED:
		return "", nil
	case flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE:
		return store.ExecutionStatusActive, nil
	case flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED:
		return store.ExecutionStatusEnded, nil
	}
	return "", badRequest("status: unknown execution status %v", s)
}

var endedReasons = map[string]flowv1.ExecutionEndedReason{
	store.EndedReasonFlowEnd:    flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_FLOW_END,
	store.EndedReasonAPI:        flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_API,
	store.EndedReasonMaxSteps:   flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_MAX_STEPS,
	store.EndedReasonWidgetLoop: flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_WIDGET_LOOP,
	store.EndedReasonLifetime:   flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_LIFETIME,
	store.EndedReasonError:      flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_ERROR,
}

func problemsToProto(ps []engine.Problem) []*flowv1.ValidationProblem {
	if len(ps) == 0 {
		return nil
	}
	out := make([]*flowv1.ValidationProblem, len(ps))
	for i, p := range ps {
		out[i] = &flowv1.ValidationProblem{PropertyPath: p.PropertyPath, Message: p.Message, Code: int32(p.Code)}
	}
	return out
}

// problemsJSON is how a revision's errors and warnings are stored: the
// engine's Problem JSON (property_path, message, code), nil when none.
func problemsJSON(ps []engine.Problem) json.RawMessage {
	if len(ps) == 0 {
		return nil
	}
	b, err := json.Marshal(ps)
	if err != nil {
		// []Problem holds only strings and ints.
		panic(err)
	}
	return b
}

func problemsFromJSON(raw json.RawMessage) ([]*flowv1.ValidationProblem, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var ps []engine.Problem
	if err := json.Unmarshal(raw, &ps); err != nil {
		return nil, fmt.Errorf("stored validation problems: %w", err)
	}
	return problemsToProto(ps), nil
}

// flowToProto converts a stored flow revision. full adds what Studio's
// list leaves out: the definition, errors and warnings.
func (s *service) flowToProto(f store.Flow, full bool) (*flowv1.Flow, error) {
	out := &flowv1.Flow{
		Sid:           f.SID,
		FriendlyName:  f.FriendlyName,
		Status:        flowStatusToProto(f.Status),
		Revision:      int32(f.Revision),
		CommitMessage: f.CommitMessage,
		Valid:         f.Valid,
		WebhookUrl:    s.webhookURL(f.SID),
		CreateTime:    timestamp(f.CreateTime),
		UpdateTime:    timestamp(f.UpdateTime),
	}
	if !full {
		return out, nil
	}
	var err error
	if out.Definition, err = jsonToStruct(f.Definition); err != nil {
		return nil, fmt.Errorf("flow %s revision %d: definition: %w", f.SID, f.Revision, err)
	}
	if out.Errors, err = problemsFromJSON(f.Errors); err != nil {
		return nil, fmt.Errorf("flow %s revision %d: %w", f.SID, f.Revision, err)
	}
	if out.Warnings, err = problemsFromJSON(f.Warnings); err != nil {
		return nil, fmt.Errorf("flow %s revision %d: %w", f.SID, f.Revision, err)
	}
	return out, nil
}

func revisionToProto(f store.Flow) (*flowv1.FlowRevision, error) {
	def, err := jsonToStruct(f.Definition)
	if err != nil {
		return nil, fmt.Errorf("flow %s revision %d: definition: %w", f.SID, f.Revision, err)
	}
	errs, err := problemsFromJSON(f.Errors)
	if err != nil {
		return nil, fmt.Errorf("flow %s revision %d: %w", f.SID, f.Revision, err)
	}
	return &flowv1.FlowRevision{
		Sid:           f.SID,
		FriendlyName:  f.FriendlyName,
		Status:        flowStatusToProto(f.Status),
		Revision:      int32(f.Revision),
		Definition:    def,
		CommitMessage: f.CommitMessage,
		Valid:         f.Valid,
		Errors:        errs,
		CreateTime:    timestamp(f.CreateTime),
		UpdateTime:    timestamp(f.UpdateTime),
	}, nil
}

func executionToProto(e store.Execution) *flowv1.Execution {
	return &flowv1.Execution{
		Sid:                   e.SID,
		FlowSid:               e.FlowSID,
		FlowRevision:          int32(e.FlowRevision),
		ContactChannelAddress: e.ContactChannelAddress,
		ConversationSid:       e.ConversationSID,
		Status:                executionStatusToProto(e.Status),
		EndedReason:           endedReasons[e.EndedReason],
		CreateTime:            timestamp(e.CreateTime),
		UpdateTime:            timestamp(e.UpdateTime),
	}
}

func stepToProto(st store.Step) *flowv1.ExecutionStep {
	return &flowv1.ExecutionStep{
		Sid:              st.SID,
		ExecutionSid:     st.ExecutionSID,
		Name:             st.Name,
		TransitionedFrom: st.TransitionedFrom,
		TransitionedTo:   st.TransitionedTo,
		Type:             st.Type,
		CreateTime:       timestamp(st.CreateTime),
		FlowSid:          st.FlowSID,
		ParentStepSid:    st.ParentStepSID,
	}
}

// pageSize checks a request's page_size; the store applies the default and
// the maximum.
func pageSize(n int32) (int, error) {
	if n < 0 {
		return 0, badRequest("page_size must not be negative, got %d", n)
	}
	return int(n), nil
}

package flow

import (
	"encoding/json"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// TestExecutions_read reads executions, steps and contexts recorded in the
// store, the way the runner records them, through both client stacks.
func TestExecutions_read(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	ctx := t.Context()
	flow, err := hs.clients[0].CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "echo", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: testdataStruct(t, "flows/echo.json")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := hs.clients[0].CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "other", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: testdataStruct(t, "flows/echo.json")})
	if err != nil {
		t.Fatal(err)
	}
	flowSid := flow.GetFlow().GetSid()
	ids := engine.RandomIDs{}
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	// Three executions a day apart: the oldest ended, the others active.
	var execs []store.Execution
	for i := range 3 {
		e := store.Execution{
			SID: ids.NewSID(store.PrefixExecution), FlowSID: flowSid, FlowRevision: 1,
			ContactChannelAddress: "+1555000000" + string(rune('0'+i)), ConversationSID: ids.NewSID("CH"),
			Status: store.ExecutionStatusActive, State: json.RawMessage(`{}`),
			Context:    json.RawMessage(`{"flow":{"flow_sid":"` + flowSid + `"},"widgets":{"echo":{"status":"sent"}}}`),
			CreateTime: base.Add(time.Duration(i) * 24 * time.Hour), UpdateTime: base.Add(time.Duration(i) * 24 * time.Hour),
		}
		if e, err = hs.store.CreateExecution(ctx, e); err != nil {
			t.Fatal(err)
		}
		execs = append(execs, e)
	}
	ended, err := hs.store.UpdateExecution(ctx, store.ExecutionUpdate{SID: execs[0].SID, Version: 1, Status: store.ExecutionStatusEnded,
		EndedReason: store.EndedReasonFlowEnd, State: json.RawMessage(`{}`), Context: execs[0].Context, UpdateTime: base.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	execs[0] = ended
	var steps []store.Step
	// The second step ran in a subflow the first entered.
	subflowSid := ids.NewSID(store.PrefixFlow)
	for i, s := range []struct{ name, from, to, typ string }{
		{"incomingConversationMessage", "Trigger", "echo", "trigger"},
		{"sent", "echo", "Ended", "send-message"},
	} {
		in := store.Step{SID: ids.NewSID(store.PrefixStep), ExecutionSID: execs[0].SID, Name: s.name,
			TransitionedFrom: s.from, TransitionedTo: s.to, Type: s.typ, Context: json.RawMessage(`{"n":` + string(rune('1'+i)) + `}`),
			CreateTime: base.Add(time.Duration(i) * time.Second)}
		if i == 1 {
			in.FlowSID, in.ParentStepSID = subflowSid, steps[0].SID
		}
		st, err := hs.store.AppendStep(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, st)
	}
	wantExec0 := &flowv1.Execution{Sid: execs[0].SID, FlowSid: flowSid, FlowRevision: 1, ContactChannelAddress: "+15550000000",
		ConversationSid: execs[0].ConversationSID, Status: flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED,
		EndedReason: flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_FLOW_END,
		CreateTime:  timestamppb.New(base), UpdateTime: timestamppb.New(base.Add(time.Minute))}
	wantSteps := []*flowv1.ExecutionStep{
		{Sid: steps[0].SID, ExecutionSid: execs[0].SID, Name: "incomingConversationMessage", TransitionedFrom: "Trigger", TransitionedTo: "echo", Type: "trigger",
			CreateTime: timestamppb.New(base), FlowSid: flowSid},
		{Sid: steps[1].SID, ExecutionSid: execs[0].SID, Name: "sent", TransitionedFrom: "echo", TransitionedTo: "Ended", Type: "send-message",
			CreateTime: timestamppb.New(base.Add(time.Second)), FlowSid: subflowSid, ParentStepSid: steps[0].SID},
	}
	sids := func(es []*flowv1.Execution) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.GetSid())
		}
		return out
	}
	const unknownExec = "FN0123456789abcdef0123456789abcdef"
	for _, c := range hs.clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.GetExecution(ctx, &flowv1.GetExecutionRequest{FlowSid: flowSid, Sid: execs[0].SID})
			if err != nil {
				t.Fatalf("GetExecution: %v", err)
			}
			if diff := cmp.Diff(wantExec0, got.GetExecution(), protocmp.Transform()); diff != "" {
				t.Errorf("GetExecution (-want +got):\n%s", diff)
			}

			for _, tt := range []struct {
				name string
				req  *flowv1.ListExecutionsRequest
				want []string
			}{
				{"all_newest_first", &flowv1.ListExecutionsRequest{FlowSid: flowSid}, []string{execs[2].SID, execs[1].SID, execs[0].SID}},
				{"active", &flowv1.ListExecutionsRequest{FlowSid: flowSid, Status: flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE}, []string{execs[2].SID, execs[1].SID}},
				{"ended", &flowv1.ListExecutionsRequest{FlowSid: flowSid, Status: flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED}, []string{execs[0].SID}},
				{"from_inclusive", &flowv1.ListExecutionsRequest{FlowSid: flowSid, CreateTimeFrom: timestamppb.New(base.Add(24 * time.Hour))}, []string{execs[2].SID, execs[1].SID}},
				{"to_inclusive", &flowv1.ListExecutionsRequest{FlowSid: flowSid, CreateTimeTo: timestamppb.New(base.Add(24 * time.Hour))}, []string{execs[1].SID, execs[0].SID}},
				{"window", &flowv1.ListExecutionsRequest{FlowSid: flowSid, CreateTimeFrom: timestamppb.New(base.Add(time.Hour)), CreateTimeTo: timestamppb.New(base.Add(47 * time.Hour))}, []string{execs[1].SID}},
				{"other_flow", &flowv1.ListExecutionsRequest{FlowSid: other.GetFlow().GetSid()}, nil},
			} {
				resp, err := c.ListExecutions(ctx, tt.req)
				if err != nil {
					t.Fatalf("ListExecutions %s: %v", tt.name, err)
				}
				if diff := cmp.Diff(tt.want, sids(resp.GetExecutions())); diff != "" {
					t.Errorf("ListExecutions %s (-want +got):\n%s", tt.name, diff)
				}
			}
			// Paging one at a time visits every execution once.
			var paged []string
			token := ""
			for range 5 {
				resp, err := c.ListExecutions(ctx, &flowv1.ListExecutionsRequest{FlowSid: flowSid, PageSize: 1, PageToken: token})
				if err != nil {
					t.Fatalf("ListExecutions page: %v", err)
				}
				paged = append(paged, sids(resp.GetExecutions())...)
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			if diff := cmp.Diff([]string{execs[2].SID, execs[1].SID, execs[0].SID}, paged); diff != "" {
				t.Errorf("paged executions (-want +got):\n%s", diff)
			}

			stepsResp, err := c.ListExecutionSteps(ctx, &flowv1.ListExecutionStepsRequest{FlowSid: flowSid, ExecutionSid: execs[0].SID})
			if err != nil {
				t.Fatalf("ListExecutionSteps: %v", err)
			}
			if diff := cmp.Diff(wantSteps, stepsResp.GetSteps(), protocmp.Transform()); diff != "" {
				t.Errorf("ListExecutionSteps (-want +got):\n%s", diff)
			}
			step, err := c.GetExecutionStep(ctx, &flowv1.GetExecutionStepRequest{FlowSid: flowSid, ExecutionSid: execs[0].SID, Sid: steps[1].SID})
			if err != nil {
				t.Fatalf("GetExecutionStep: %v", err)
			}
			if diff := cmp.Diff(wantSteps[1], step.GetStep(), protocmp.Transform()); diff != "" {
				t.Errorf("GetExecutionStep (-want +got):\n%s", diff)
			}
			sc, err := c.GetExecutionStepContext(ctx, &flowv1.GetExecutionStepContextRequest{FlowSid: flowSid, ExecutionSid: execs[0].SID, StepSid: steps[1].SID})
			if err != nil {
				t.Fatalf("GetExecutionStepContext: %v", err)
			}
			if diff := cmp.Diff(mustStruct(t, `{"n": 2}`), sc.GetContext(), protocmp.Transform()); diff != "" {
				t.Errorf("GetExecutionStepContext (-want +got):\n%s", diff)
			}
			ec, err := c.GetExecutionContext(ctx, &flowv1.GetExecutionContextRequest{FlowSid: flowSid, ExecutionSid: execs[0].SID})
			if err != nil {
				t.Fatalf("GetExecutionContext: %v", err)
			}
			if diff := cmp.Diff(mustStruct(t, string(execs[0].Context)), ec.GetContext(), protocmp.Transform()); diff != "" {
				t.Errorf("GetExecutionContext (-want +got):\n%s", diff)
			}
		})
	}

	otherSid := other.GetFlow().GetSid()
	errTests := []struct {
		name string
		call func(flowClient) error
		code connect.Code
	}{
		{"execution_of_other_flow", func(c flowClient) error {
			_, err := c.GetExecution(ctx, &flowv1.GetExecutionRequest{FlowSid: otherSid, Sid: execs[0].SID})
			return err
		}, connect.CodeNotFound},
		{"unknown_execution", func(c flowClient) error {
			_, err := c.GetExecution(ctx, &flowv1.GetExecutionRequest{FlowSid: flowSid, Sid: unknownExec})
			return err
		}, connect.CodeNotFound},
		{"context_of_other_flow", func(c flowClient) error {
			_, err := c.GetExecutionContext(ctx, &flowv1.GetExecutionContextRequest{FlowSid: otherSid, ExecutionSid: execs[0].SID})
			return err
		}, connect.CodeNotFound},
		{"steps_of_other_flow", func(c flowClient) error {
			_, err := c.ListExecutionSteps(ctx, &flowv1.ListExecutionStepsRequest{FlowSid: otherSid, ExecutionSid: execs[0].SID})
			return err
		}, connect.CodeNotFound},
		{"step_of_other_execution", func(c flowClient) error {
			_, err := c.GetExecutionStep(ctx, &flowv1.GetExecutionStepRequest{FlowSid: flowSid, ExecutionSid: execs[1].SID, Sid: steps[0].SID})
			return err
		}, connect.CodeNotFound},
		{"step_context_of_other_execution", func(c flowClient) error {
			_, err := c.GetExecutionStepContext(ctx, &flowv1.GetExecutionStepContextRequest{FlowSid: flowSid, ExecutionSid: execs[1].SID, StepSid: steps[0].SID})
			return err
		}, connect.CodeNotFound},
		{"list_unknown_flow", func(c flowClient) error {
			_, err := c.ListExecutions(ctx, &flowv1.ListExecutionsRequest{FlowSid: "FW0123456789abcdef0123456789abcdef"})
			return err
		}, connect.CodeNotFound},
		{"list_bad_window", func(c flowClient) error {
			_, err := c.ListExecutions(ctx, &flowv1.ListExecutionsRequest{FlowSid: flowSid, CreateTimeFrom: timestamppb.New(base), CreateTimeTo: timestamppb.New(base.Add(-time.Hour))})
			return err
		}, connect.CodeInvalidArgument},
		{"list_bad_status", func(c flowClient) error {
			_, err := c.ListExecutions(ctx, &flowv1.ListExecutionsRequest{FlowSid: flowSid, Status: 7})
			return err
		}, connect.CodeInvalidArgument},
		{"list_negative_page_size", func(c flowClient) error {
			_, err := c.ListExecutionSteps(ctx, &flowv1.ListExecutionStepsRequest{FlowSid: flowSid, ExecutionSid: execs[0].SID, PageSize: -5})
			return err
		}, connect.CodeInvalidArgument},
		{"watch_of_other_flow", func(c flowClient) error {
			_, err := c.watch(ctx, &flowv1.WatchExecutionRequest{FlowSid: otherSid, ExecutionSid: execs[0].SID})
			return err
		}, connect.CodeNotFound},
		{"watch_unknown", func(c flowClient) error {
			_, err := c.watch(ctx, &flowv1.WatchExecutionRequest{FlowSid: flowSid, ExecutionSid: unknownExec})
			return err
		}, connect.CodeNotFound},
		{"end_unknown", func(c flowClient) error {
			_, err := c.EndExecution(ctx, &flowv1.EndExecutionRequest{FlowSid: flowSid, Sid: unknownExec})
			return err
		}, connect.CodeNotFound},
		{"create_without_to", func(c flowClient) error {
			_, err := c.CreateExecution(ctx, &flowv1.CreateExecutionRequest{FlowSid: flowSid, From: "+15550000000"})
			return err
		}, connect.CodeInvalidArgument},
		{"create_for_unknown_flow", func(c flowClient) error {
			_, err := c.CreateExecution(ctx, &flowv1.CreateExecutionRequest{FlowSid: "FW0123456789abcdef0123456789abcdef", To: "+15551230001", From: "+15550000000"})
			return err
		}, connect.CodeNotFound},
		{"delete_of_other_flow", func(c flowClient) error {
			_, err := c.DeleteExecution(ctx, &flowv1.DeleteExecutionRequest{FlowSid: otherSid, Sid: execs[2].SID})
			return err
		}, connect.CodeNotFound},
	}
	for _, c := range hs.clients {
		for _, tt := range errTests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				if err := tt.call(c); codeOf(err) != tt.code {
					t.Errorf("error %v, want code %v", err, tt.code)
				}
			})
		}
	}
}

func TestDeleteExecution(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	ctx := t.Context()
	flow, err := hs.clients[0].CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "echo", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: testdataStruct(t, "flows/echo.json")})
	if err != nil {
		t.Fatal(err)
	}
	flowSid := flow.GetFlow().GetSid()
	for _, c := range hs.clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ids := engine.RandomIDs{}
			e, err := hs.store.CreateExecution(ctx, store.Execution{SID: ids.NewSID(store.PrefixExecution), FlowSID: flowSid, FlowRevision: 1,
				ContactChannelAddress: "+1555" + c.name, Status: store.ExecutionStatusActive})
			if err != nil {
				t.Fatal(err)
			}
			st, err := hs.store.AppendStep(ctx, store.Step{SID: ids.NewSID(store.PrefixStep), ExecutionSID: e.SID, Name: "incomingRequest", TransitionedFrom: "Trigger", TransitionedTo: "greet", Type: "trigger"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.DeleteExecution(ctx, &flowv1.DeleteExecutionRequest{FlowSid: flowSid, Sid: e.SID}); err != nil {
				t.Fatalf("DeleteExecution: %v", err)
			}
			if _, err := c.GetExecution(ctx, &flowv1.GetExecutionRequest{FlowSid: flowSid, Sid: e.SID}); codeOf(err) != connect.CodeNotFound {
				t.Errorf("GetExecution after delete: %v, want NotFound", err)
			}
			if _, err := hs.store.GetStep(ctx, st.SID); codeOf(toConnectError(ctx, testLogger(t), err)) != connect.CodeNotFound {
				t.Errorf("step after delete: %v, want not found", err)
			}
			if _, err := c.DeleteExecution(ctx, &flowv1.DeleteExecutionRequest{FlowSid: flowSid, Sid: e.SID}); codeOf(err) != connect.CodeNotFound {
				t.Errorf("second DeleteExecution: %v, want NotFound", err)
			}
		})
	}
}

package studioapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/openapitest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from this run")

const (
	execSid   = "FN0123456789abcdef0123456789abcdef"
	stepSid   = "FT0123456789abcdef0123456789abcdef"
	parentSid = "FTfedcba9876543210fedcba9876543210"
	publicURL = "https://flows.example.com"
)

// fixtureService answers reads with fixed resources, so the golden files
// pin exactly how each is rendered.
type fixtureService struct {
	flowv1connect.UnimplementedFlowServiceHandler
}

var (
	created = timestamppb.New(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	updated = timestamppb.New(time.Date(2026, 12, 7, 12, 5, 30, 250e6, time.UTC))
)

func (fixtureService) flow() *flowv1.Flow {
	def, _ := structpb.NewStruct(map[string]any{"initial_state": "Trigger", "states": []any{}})
	return &flowv1.Flow{
		Sid: flowSid, FriendlyName: "Orders", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Revision: 2, Definition: def, Valid: true,
		Warnings:   []*flowv1.ValidationProblem{{PropertyPath: "#/states/1/properties/body", Message: "unknown Liquid filter", Code: 84003}},
		WebhookUrl: publicURL + "/v1/Accounts/" + accountSid + "/Flows/" + flowSid, CreateTime: created, UpdateTime: updated,
	}
}

func (f fixtureService) GetFlow(context.Context, *flowv1.GetFlowRequest) (*flowv1.GetFlowResponse, error) {
	return &flowv1.GetFlowResponse{Flow: f.flow()}, nil
}

func (f fixtureService) ListFlows(_ context.Context, req *flowv1.ListFlowsRequest) (*flowv1.ListFlowsResponse, error) {
	if req.GetPageToken() != "" {
		return &flowv1.ListFlowsResponse{}, nil
	}
	return &flowv1.ListFlowsResponse{Flows: []*flowv1.Flow{f.flow()}, NextPageToken: "page-2"}, nil
}

func (f fixtureService) GetFlowRevision(context.Context, *flowv1.GetFlowRevisionRequest) (*flowv1.GetFlowRevisionResponse, error) {
	fl := f.flow()
	return &flowv1.GetFlowRevisionResponse{Revision: &flowv1.FlowRevision{
		Sid: fl.Sid, FriendlyName: fl.FriendlyName, Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Revision: 1, Definition: fl.Definition,
		CommitMessage: "first", Valid: true, CreateTime: created, UpdateTime: created,
	}}, nil
}

// GetFlowTestUsers lists two test users of flowSid and none of any other
// flow, so both renderings are pinned.
func (fixtureService) GetFlowTestUsers(_ context.Context, req *flowv1.GetFlowTestUsersRequest) (*flowv1.GetFlowTestUsersResponse, error) {
	t := &flowv1.FlowTestUsers{FlowSid: req.GetFlowSid()}
	if req.GetFlowSid() == flowSid {
		t.TestUsers = []string{"+15551230001", "whatsapp:+15551230002"}
	}
	return &flowv1.GetFlowTestUsersResponse{FlowTestUsers: t}, nil
}

func (fixtureService) GetExecution(context.Context, *flowv1.GetExecutionRequest) (*flowv1.GetExecutionResponse, error) {
	return &flowv1.GetExecutionResponse{Execution: &flowv1.Execution{
		Sid: execSid, FlowSid: flowSid, FlowRevision: 2, ContactChannelAddress: "+15551230001", ConversationSid: "CH0123456789abcdef0123456789abcdef",
		Status: flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED, EndedReason: flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_FLOW_END,
		CreateTime: created, UpdateTime: updated,
	}}, nil
}

func (fixtureService) ListExecutionSteps(context.Context, *flowv1.ListExecutionStepsRequest) (*flowv1.ListExecutionStepsResponse, error) {
	return &flowv1.ListExecutionStepsResponse{Steps: []*flowv1.ExecutionStep{
		{Sid: parentSid, ExecutionSid: execSid, Name: "incomingRequest", TransitionedFrom: "Trigger", TransitionedTo: "sub", Type: "trigger", CreateTime: created, FlowSid: flowSid},
		{Sid: stepSid, ExecutionSid: execSid, Name: "next", TransitionedFrom: "remember", TransitionedTo: "Ended", Type: "set-variables",
			CreateTime: updated, FlowSid: "FWfedcba9876543210fedcba9876543210", ParentStepSid: parentSid},
	}}, nil
}

func (fixtureService) GetExecutionContext(context.Context, *flowv1.GetExecutionContextRequest) (*flowv1.GetExecutionContextResponse, error) {
	c, _ := structpb.NewStruct(map[string]any{"flow": map[string]any{"data": map[string]any{"name": "Zeke"}}, "widgets": map[string]any{}})
	return &flowv1.GetExecutionContextResponse{Context: c}, nil
}

// TestGolden compares answers with testdata/<name>.json; -update rewrites
// them instead (review the diff).
func TestGolden(t *testing.T) {
	t.Parallel()
	spec := openapitest.Load(t, "specs/twilio_studio_v2.json")
	base := serve(t, fixtureService{}, publicURL)
	for _, tt := range []struct{ name, path string }{
		{"fetch_flow", "/v2/Flows/" + flowSid},
		{"list_flow", "/v2/Flows?PageSize=1"},
		{"list_flow_page_2", "/v2/Flows?PageSize=1&Page=1&PageToken=page-2"},
		{"fetch_flow_revision", "/v2/Flows/" + flowSid + "/Revisions/1"},
		{"fetch_test_user", "/v2/Flows/" + flowSid + "/TestUsers"},
		{"fetch_test_user_none", "/v2/Flows/FWfedcba9876543210fedcba9876543210/TestUsers"},
		{"fetch_execution", "/v2/Flows/" + flowSid + "/Executions/" + execSid},
		{"list_execution_step", "/v2/Flows/" + flowSid + "/Executions/" + execSid + "/Steps"},
		{"fetch_execution_context", "/v2/Flows/" + flowSid + "/Executions/" + execSid + "/Context"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := do(t, spec, base, http.MethodGet, tt.path, nil, "basic")
			if a.status != http.StatusOK {
				t.Fatalf("status %d: %v", a.status, a.body)
			}
			// Indented in the order the API writes its fields.
			var buf bytes.Buffer
			if err := json.Indent(&buf, a.raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			got := append(buf.Bytes(), '\n')
			file := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("answer differs from %s (-want +got):\n%s", file, cmp.Diff(string(want), string(got)))
			}
		})
	}
}

package flow

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

func TestFlows_lifecycle(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	echo := testdataStruct(t, "flows/echo.json")
	wait := testdataStruct(t, "flows/wait.json")
	for _, c := range hs.clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			created, err := c.CreateFlow(ctx, &flowv1.CreateFlowRequest{
				FriendlyName: "Echo", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Definition: echo, CommitMessage: "first",
			})
			if err != nil {
				t.Fatalf("CreateFlow: %v", err)
			}
			f := created.GetFlow()
			if !strings.HasPrefix(f.GetSid(), "FW") || len(f.GetSid()) != 34 {
				t.Errorf("sid = %q, want FW + 32 hex digits", f.GetSid())
			}
			wantFlow := &flowv1.Flow{
				Sid: f.GetSid(), FriendlyName: "Echo", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Revision: 1,
				Definition: echo, CommitMessage: "first", Valid: true,
				WebhookUrl: hs.url + "/v1/Accounts/" + testAccountSid + "/Flows/" + f.GetSid(),
			}
			ignoreTimes := protocmp.IgnoreFields(&flowv1.Flow{}, "create_time", "update_time")
			if diff := cmp.Diff(wantFlow, f, protocmp.Transform(), ignoreTimes); diff != "" {
				t.Errorf("CreateFlow (-want +got):\n%s", diff)
			}
			if f.GetCreateTime() == nil || !f.GetCreateTime().AsTime().Equal(f.GetUpdateTime().AsTime()) {
				t.Errorf("create_time %v, update_time %v: want both set and equal", f.GetCreateTime(), f.GetUpdateTime())
			}

			got, err := c.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: f.GetSid()})
			if err != nil {
				t.Fatalf("GetFlow: %v", err)
			}
			if diff := cmp.Diff(f, got.GetFlow(), protocmp.Transform()); diff != "" {
				t.Errorf("GetFlow (-created +got):\n%s", diff)
			}

			// Publish without a new definition: the definition is kept.
			up, err := c.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{Sid: f.GetSid(), Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, CommitMessage: "publish"})
			if err != nil {
				t.Fatalf("UpdateFlow publish: %v", err)
			}
			if g := up.GetFlow(); g.GetRevision() != 2 || g.GetStatus() != flowv1.FlowStatus_FLOW_STATUS_PUBLISHED || g.GetFriendlyName() != "Echo" ||
				!cmp.Equal(echo, g.GetDefinition(), protocmp.Transform()) || g.GetCommitMessage() != "publish" {
				t.Errorf("UpdateFlow publish = %v", g)
			}
			// A draft with a new name and definition.
			name := "Echo and wait"
			up, err = c.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{Sid: f.GetSid(), Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, FriendlyName: &name, Definition: wait})
			if err != nil {
				t.Fatalf("UpdateFlow draft: %v", err)
			}
			if g := up.GetFlow(); g.GetRevision() != 3 || g.GetStatus() != flowv1.FlowStatus_FLOW_STATUS_DRAFT || g.GetFriendlyName() != name ||
				!cmp.Equal(wait, g.GetDefinition(), protocmp.Transform()) || !g.GetCreateTime().AsTime().Equal(f.GetCreateTime().AsTime()) {
				t.Errorf("UpdateFlow draft = %v", g)
			}

			// Revisions, newest first, two pages.
			var revs []int32
			token := ""
			for pages := 0; ; pages++ {
				page, err := c.ListFlowRevisions(ctx, &flowv1.ListFlowRevisionsRequest{FlowSid: f.GetSid(), PageSize: 2, PageToken: token})
				if err != nil {
					t.Fatalf("ListFlowRevisions: %v", err)
				}
				for _, r := range page.GetRevisions() {
					revs = append(revs, r.GetRevision())
				}
				if token = page.GetNextPageToken(); token == "" || pages > 3 {
					break
				}
			}
			if diff := cmp.Diff([]int32{3, 2, 1}, revs); diff != "" {
				t.Errorf("revisions (-want +got):\n%s", diff)
			}

			for _, tt := range []struct {
				name string
				req  *flowv1.GetFlowRevisionRequest
				want int32
			}{
				{"number", &flowv1.GetFlowRevisionRequest{FlowSid: f.GetSid(), Selector: &flowv1.GetFlowRevisionRequest_Number{Number: 1}}, 1},
				{"latest_published", &flowv1.GetFlowRevisionRequest{FlowSid: f.GetSid(), Selector: &flowv1.GetFlowRevisionRequest_Alias{Alias: flowv1.RevisionAlias_REVISION_ALIAS_LATEST_PUBLISHED}}, 2},
				{"latest_revision", &flowv1.GetFlowRevisionRequest{FlowSid: f.GetSid(), Selector: &flowv1.GetFlowRevisionRequest_Alias{Alias: flowv1.RevisionAlias_REVISION_ALIAS_LATEST_REVISION}}, 3},
			} {
				rev, err := c.GetFlowRevision(ctx, tt.req)
				if err != nil {
					t.Fatalf("GetFlowRevision %s: %v", tt.name, err)
				}
				if rev.GetRevision().GetRevision() != tt.want || rev.GetRevision().GetSid() != f.GetSid() {
					t.Errorf("GetFlowRevision %s = revision %d, want %d", tt.name, rev.GetRevision().GetRevision(), tt.want)
				}
			}
			rev1, err := c.GetFlowRevision(ctx, &flowv1.GetFlowRevisionRequest{FlowSid: f.GetSid(), Selector: &flowv1.GetFlowRevisionRequest_Number{Number: 1}})
			if err != nil {
				t.Fatal(err)
			}
			wantRev := &flowv1.FlowRevision{Sid: f.GetSid(), FriendlyName: "Echo", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Revision: 1,
				Definition: echo, CommitMessage: "first", Valid: true, CreateTime: f.GetCreateTime(), UpdateTime: f.GetUpdateTime()}
			if diff := cmp.Diff(wantRev, rev1.GetRevision(), protocmp.Transform()); diff != "" {
				t.Errorf("revision 1 (-want +got):\n%s", diff)
			}

			if _, err := c.DeleteFlow(ctx, &flowv1.DeleteFlowRequest{Sid: f.GetSid()}); err != nil {
				t.Fatalf("DeleteFlow: %v", err)
			}
			if _, err := c.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: f.GetSid()}); codeOf(err) != connect.CodeNotFound {
				t.Errorf("GetFlow after delete: %v, want NotFound", err)
			}
			if _, err := c.ListFlowRevisions(ctx, &flowv1.ListFlowRevisionsRequest{FlowSid: f.GetSid()}); codeOf(err) != connect.CodeNotFound {
				t.Errorf("ListFlowRevisions after delete: %v, want NotFound", err)
			}
		})
	}
}

func TestListFlows_pages(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	ctx := t.Context()
	echo := testdataStruct(t, "flows/echo.json")
	want := map[string]bool{}
	for i := range 5 {
		resp, err := hs.clients[0].CreateFlow(ctx, &flowv1.CreateFlowRequest{
			FriendlyName: "flow " + string(rune('a'+i)), Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: echo,
		})
		if err != nil {
			t.Fatal(err)
		}
		want[resp.GetFlow().GetSid()] = true
	}
	for _, c := range hs.clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			seen := map[string]bool{}
			token := ""
			pages := 0
			for {
				resp, err := c.ListFlows(t.Context(), &flowv1.ListFlowsRequest{PageSize: 2, PageToken: token})
				if err != nil {
					t.Fatalf("ListFlows: %v", err)
				}
				pages++
				for _, f := range resp.GetFlows() {
					if f.GetDefinition() != nil || f.GetErrors() != nil || f.GetWarnings() != nil {
						t.Errorf("listed flow %s carries definition or problems", f.GetSid())
					}
					if f.GetWebhookUrl() == "" || f.GetRevision() != 1 || f.GetStatus() != flowv1.FlowStatus_FLOW_STATUS_PUBLISHED {
						t.Errorf("listed flow = %v", f)
					}
					if seen[f.GetSid()] {
						t.Errorf("flow %s listed twice", f.GetSid())
					}
					seen[f.GetSid()] = true
				}
				if token = resp.GetNextPageToken(); token == "" || pages > 10 {
					break
				}
			}
			if pages != 3 || !cmp.Equal(want, seen) {
				t.Errorf("%d pages, flows %v; want 3 pages of %v", pages, seen, want)
			}
		})
	}
}

func TestFlows_errors(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	ctx := t.Context()
	echo := testdataStruct(t, "flows/echo.json")
	invalid := testdataStruct(t, "flows/invalid.json")
	draft, err := hs.clients[0].CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "draft only", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Definition: echo})
	if err != nil {
		t.Fatal(err)
	}
	draftSid := draft.GetFlow().GetSid()
	const unknownFlow = "FW0123456789abcdef0123456789abcdef"
	wantProblems := &flowv1.ValidationErrors{Problems: []*flowv1.ValidationProblem{
		{PropertyPath: "#/states/0/transitions/2/next", Message: `transition references a widget that doesn't exist: "nowhere"`, Code: 81022},
		{PropertyPath: "#/states/2/type", Message: `unknown widget type "no-such-widget"`, Code: 81022},
	}}
	notAFlow := mustStruct(t, `{"states": "not a list"}`)
	tests := []struct {
		name   string
		call   func(flowClient) error
		code   connect.Code
		detail *flowv1.ValidationErrors
	}{
		{"create_invalid_definition", func(c flowClient) error {
			_, err := c.CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "bad", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Definition: invalid})
			return err
		}, connect.CodeInvalidArgument, wantProblems},
		{"create_unparsable_definition", func(c flowClient) error {
			_, err := c.CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "bad", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Definition: notAFlow})
			return err
		}, connect.CodeInvalidArgument, &flowv1.ValidationErrors{Problems: []*flowv1.ValidationProblem{
			{PropertyPath: "#/states", Message: "states must be an array of widgets", Code: 81022},
			{PropertyPath: "#/states", Message: "states must hold at least one widget", Code: 81022},
			{PropertyPath: "#/initial_state", Message: "initial_state is required", Code: 81022},
		}}},
		{"create_without_definition", func(c flowClient) error {
			_, err := c.CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "bad", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"create_without_name", func(c flowClient) error {
			_, err := c.CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: " ", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Definition: echo})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"create_without_status", func(c flowClient) error {
			_, err := c.CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "x", Definition: echo})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"update_invalid_definition", func(c flowClient) error {
			_, err := c.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{Sid: draftSid, Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: invalid})
			return err
		}, connect.CodeInvalidArgument, wantProblems},
		{"update_without_status", func(c flowClient) error {
			_, err := c.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{Sid: draftSid})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"update_unknown", func(c flowClient) error {
			_, err := c.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{Sid: unknownFlow, Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT})
			return err
		}, connect.CodeNotFound, nil},
		{"get_unknown", func(c flowClient) error {
			_, err := c.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: unknownFlow})
			return err
		}, connect.CodeNotFound, nil},
		{"get_malformed_sid", func(c flowClient) error {
			_, err := c.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: "FW1"})
			return err
		}, connect.CodeNotFound, nil},
		{"delete_unknown", func(c flowClient) error {
			_, err := c.DeleteFlow(ctx, &flowv1.DeleteFlowRequest{Sid: unknownFlow})
			return err
		}, connect.CodeNotFound, nil},
		{"validate_invalid", func(c flowClient) error {
			_, err := c.ValidateFlow(ctx, &flowv1.ValidateFlowRequest{FriendlyName: "bad", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: invalid})
			return err
		}, connect.CodeInvalidArgument, wantProblems},
		{"validate_without_status", func(c flowClient) error {
			_, err := c.ValidateFlow(ctx, &flowv1.ValidateFlowRequest{FriendlyName: "x", Definition: echo})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"revision_without_selector", func(c flowClient) error {
			_, err := c.GetFlowRevision(ctx, &flowv1.GetFlowRevisionRequest{FlowSid: draftSid})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"revision_unspecified_alias", func(c flowClient) error {
			_, err := c.GetFlowRevision(ctx, &flowv1.GetFlowRevisionRequest{FlowSid: draftSid, Selector: &flowv1.GetFlowRevisionRequest_Alias{}})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"revision_zero", func(c flowClient) error {
			_, err := c.GetFlowRevision(ctx, &flowv1.GetFlowRevisionRequest{FlowSid: draftSid, Selector: &flowv1.GetFlowRevisionRequest_Number{}})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"revision_missing", func(c flowClient) error {
			_, err := c.GetFlowRevision(ctx, &flowv1.GetFlowRevisionRequest{FlowSid: draftSid, Selector: &flowv1.GetFlowRevisionRequest_Number{Number: 9}})
			return err
		}, connect.CodeNotFound, nil},
		{"never_published", func(c flowClient) error {
			_, err := c.GetFlowRevision(ctx, &flowv1.GetFlowRevisionRequest{FlowSid: draftSid, Selector: &flowv1.GetFlowRevisionRequest_Alias{Alias: flowv1.RevisionAlias_REVISION_ALIAS_LATEST_PUBLISHED}})
			return err
		}, connect.CodeNotFound, nil},
		{"list_negative_page_size", func(c flowClient) error {
			_, err := c.ListFlows(ctx, &flowv1.ListFlowsRequest{PageSize: -1})
			return err
		}, connect.CodeInvalidArgument, nil},
		{"list_bad_page_token", func(c flowClient) error {
			_, err := c.ListFlows(ctx, &flowv1.ListFlowsRequest{PageToken: "not a token"})
			return err
		}, connect.CodeInvalidArgument, nil},
	}
	for _, c := range hs.clients {
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				err := tt.call(c)
				if got := codeOf(err); got != tt.code {
					t.Fatalf("error %v: code %v, want %v", err, got, tt.code)
				}
				details := detailsOf(t, err)
				if tt.detail == nil {
					if len(details) != 0 {
						t.Errorf("details = %v, want none", details)
					}
					return
				}
				if len(details) != 1 {
					t.Fatalf("details = %v, want one ValidationErrors", details)
				}
				if diff := cmp.Diff(tt.detail, details[0], protocmp.Transform()); diff != "" {
					t.Errorf("detail (-want +got):\n%s", diff)
				}
			})
		}
	}
	// Nothing invalid was stored, and the draft kept its only revision.
	list, err := hs.clients[0].ListFlows(ctx, &flowv1.ListFlowsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetFlows()) != 1 || list.GetFlows()[0].GetRevision() != 1 {
		t.Errorf("flows after failed calls = %v, want only the draft at revision 1", list.GetFlows())
	}
}

func TestValidateFlow_valid(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	def := testdataStruct(t, "flows/wait.json")
	for _, c := range hs.clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.ValidateFlow(t.Context(), &flowv1.ValidateFlowRequest{FriendlyName: "wait", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: def})
			if err != nil {
				t.Fatalf("ValidateFlow: %v", err)
			}
			if !resp.GetValid() || len(resp.GetWarnings()) != 0 {
				t.Errorf("ValidateFlow = %v, want valid without warnings", resp)
			}
			list, err := c.ListFlows(t.Context(), &flowv1.ListFlowsRequest{})
			if err != nil || len(list.GetFlows()) != 0 {
				t.Errorf("ListFlows after ValidateFlow = %v, %v; want nothing stored", list, err)
			}
		})
	}
}

// A Liquid filter the engine lacks does not refuse the definition (a
// Studio export may use one): ValidateFlow, CreateFlow and GetFlow report
// it as a warning on the widget's property.
func TestFlowWarnings_unknownLiquidFilter(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	def := mustStruct(t, `{"description":"w","initial_state":"Trigger","flags":{"allow_concurrent_calls":true},"states":[
		{"name":"Trigger","type":"trigger","properties":{},"transitions":[{"event":"incomingConversationMessage","next":"say"},{"event":"incomingMessage"},{"event":"incomingCall"},{"event":"incomingRequest"},{"event":"incomingParent"}]},
		{"name":"say","type":"send-message","properties":{"body":"{{trigger.conversation.Body | shout}}"},"transitions":[{"event":"sent"},{"event":"failed"}]}]}`)
	check := func(t *testing.T, what string, ws []*flowv1.ValidationProblem) {
		t.Helper()
		if len(ws) != 1 || ws[0].GetPropertyPath() != "#/states/1/properties/body" || !strings.Contains(ws[0].GetMessage(), `"shout"`) || ws[0].GetCode() != 84003 {
			t.Errorf("%s warnings = %v, want one for the filter shout on #/states/1/properties/body", what, ws)
		}
	}
	for _, c := range hs.clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, err := c.ValidateFlow(t.Context(), &flowv1.ValidateFlowRequest{FriendlyName: "w", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: def})
			if err != nil || !v.GetValid() {
				t.Fatalf("ValidateFlow = %v, %v; want valid", v, err)
			}
			check(t, "ValidateFlow", v.GetWarnings())
			created, err := c.CreateFlow(t.Context(), &flowv1.CreateFlowRequest{FriendlyName: "w", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: def})
			if err != nil {
				t.Fatal(err)
			}
			check(t, "CreateFlow", created.GetFlow().GetWarnings())
			got, err := c.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: created.GetFlow().GetSid()})
			if err != nil {
				t.Fatal(err)
			}
			check(t, "GetFlow", got.GetFlow().GetWarnings())
		})
	}
}

// TestUpdateFlow_concurrent saves revisions from several clients at once:
// each update becomes its own revision, none is lost.
func TestUpdateFlow_concurrent(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	ctx := t.Context()
	created, err := hs.clients[0].CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "busy", Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Definition: testdataStruct(t, "flows/echo.json")})
	if err != nil {
		t.Fatal(err)
	}
	sid := created.GetFlow().GetSid()
	const updates = 4
	var wg sync.WaitGroup
	revs := make(chan int32, updates*len(hs.clients))
	for _, c := range hs.clients {
		for i := range updates {
			wg.Go(func() {
				name := fmt.Sprintf("%s-%d", c.name, i)
				resp, err := c.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{Sid: sid, Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, FriendlyName: &name})
				if err != nil {
					t.Errorf("UpdateFlow %s: %v", name, err)
					return
				}
				revs <- resp.GetFlow().GetRevision()
			})
		}
	}
	wg.Wait()
	close(revs)
	seen := map[int32]bool{}
	for r := range revs {
		if seen[r] {
			t.Errorf("revision %d returned twice", r)
		}
		seen[r] = true
	}
	got, err := hs.clients[0].GetFlow(ctx, &flowv1.GetFlowRequest{Sid: sid})
	if err != nil {
		t.Fatal(err)
	}
	if want := int32(1 + updates*len(hs.clients)); got.GetFlow().GetRevision() != want || len(seen) != int(want-1) {
		t.Errorf("latest revision %d and %d distinct revisions, want %d and %d", got.GetFlow().GetRevision(), len(seen), want, want-1)
	}
}

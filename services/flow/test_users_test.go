package flow

import (
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

func TestFlowTestUsers_lifecycle(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	echo := testdataStruct(t, "flows/echo.json")
	for _, c := range hs.clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			sid := deploy(t, c, "Echo", echo)
			get := func() *flowv1.FlowTestUsers {
				t.Helper()
				res, err := c.GetFlowTestUsers(ctx, &flowv1.GetFlowTestUsersRequest{FlowSid: sid})
				if err != nil {
					t.Fatalf("GetFlowTestUsers: %v", err)
				}
				return res.GetFlowTestUsers()
			}
			check := func(what string, want []string, got *flowv1.FlowTestUsers) {
				t.Helper()
				if diff := cmp.Diff(&flowv1.FlowTestUsers{FlowSid: sid, TestUsers: want}, got, protocmp.Transform()); diff != "" {
					t.Errorf("%s (-want +got):\n%s", what, diff)
				}
			}
			check("a new flow's test users", nil, get())

			// A repeat is kept once, at its first place.
			up, err := c.UpdateFlowTestUsers(ctx, &flowv1.UpdateFlowTestUsersRequest{FlowSid: sid,
				TestUsers: []string{"whatsapp:+15551230001", "+15551230002", "whatsapp:+15551230001", "alice"}})
			if err != nil {
				t.Fatalf("UpdateFlowTestUsers: %v", err)
			}
			want := []string{"whatsapp:+15551230001", "+15551230002", "alice"}
			check("UpdateFlowTestUsers", want, up.GetFlowTestUsers())
			check("GetFlowTestUsers", want, get())

			// A new revision keeps them.
			if _, err := c.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{Sid: sid, Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT}); err != nil {
				t.Fatal(err)
			}
			check("test users after UpdateFlow", want, get())

			// Each call replaces the list; an empty one clears it.
			if _, err := c.UpdateFlowTestUsers(ctx, &flowv1.UpdateFlowTestUsersRequest{FlowSid: sid, TestUsers: []string{"bob"}}); err != nil {
				t.Fatal(err)
			}
			check("replaced test users", []string{"bob"}, get())
			if _, err := c.UpdateFlowTestUsers(ctx, &flowv1.UpdateFlowTestUsersRequest{FlowSid: sid}); err != nil {
				t.Fatal(err)
			}
			check("cleared test users", nil, get())

			if _, err := c.UpdateFlowTestUsers(ctx, &flowv1.UpdateFlowTestUsersRequest{FlowSid: sid, TestUsers: []string{"bob"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.DeleteFlow(ctx, &flowv1.DeleteFlowRequest{Sid: sid}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetFlowTestUsers(ctx, &flowv1.GetFlowTestUsersRequest{FlowSid: sid}); codeOf(err) != connect.CodeNotFound {
				t.Errorf("GetFlowTestUsers of a deleted flow: %v, want NotFound", err)
			}
		})
	}
}

func TestFlowTestUsers_errors(t *testing.T) {
	t.Parallel()
	hs := startHandler(t)
	ctx := t.Context()
	sid := deploy(t, hs.clients[0], "Echo", testdataStruct(t, "flows/echo.json"))
	kept := []string{"alice"}
	if _, err := hs.clients[0].UpdateFlowTestUsers(ctx, &flowv1.UpdateFlowTestUsersRequest{FlowSid: sid, TestUsers: kept}); err != nil {
		t.Fatal(err)
	}
	distinct := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("+1555%07d", i)
		}
		return out
	}
	const unknownFlow = "FW0123456789abcdef0123456789abcdef"
	// code 0 is a success: such calls get a flow of their own, since the
	// others check that sid's list is left alone.
	tests := []struct {
		name    string
		flowSid string
		users   []string
		code    connect.Code
	}{
		{"unknown_flow", unknownFlow, []string{"alice"}, connect.CodeNotFound},
		{"malformed_sid", "FW1", []string{"alice"}, connect.CodeNotFound},
		{"empty_identity", sid, []string{"bob", ""}, connect.CodeInvalidArgument},
		// "+15551230001" sent unencoded in a form.
		{"leading_space", sid, []string{" 15551230001"}, connect.CodeInvalidArgument},
		{"trailing_newline", sid, []string{"bob\n"}, connect.CodeInvalidArgument},
		{"too_long", sid, []string{strings.Repeat("é", maxTestUserLength+1)}, connect.CodeInvalidArgument},
		{"too_many", sid, distinct(maxTestUsers + 1), connect.CodeInvalidArgument},
		{"nul", sid, []string{"bo\x00b"}, connect.CodeInvalidArgument},
		// At the limits, and repeats do not count against it.
		{"longest", "", []string{strings.Repeat("é", maxTestUserLength)}, 0},
		{"most", "", append(distinct(maxTestUsers), distinct(maxTestUsers)...), 0},
	}
	t.Run("calls", func(t *testing.T) {
		for _, c := range hs.clients {
			for _, tt := range tests {
				t.Run(c.name+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					flowSid := tt.flowSid
					if tt.code == 0 {
						flowSid = deploy(t, c, tt.name, testdataStruct(t, "flows/echo.json"))
					}
					_, err := c.UpdateFlowTestUsers(t.Context(), &flowv1.UpdateFlowTestUsersRequest{FlowSid: flowSid, TestUsers: tt.users})
					if got := codeOf(err); err != nil && got != tt.code || err == nil && tt.code != 0 {
						t.Fatalf("error %v: code %v, want %v", err, got, tt.code)
					}
				})
			}
			t.Run(c.name+"/get_unknown_flow", func(t *testing.T) {
				t.Parallel()
				if _, err := c.GetFlowTestUsers(t.Context(), &flowv1.GetFlowTestUsersRequest{FlowSid: unknownFlow}); codeOf(err) != connect.CodeNotFound {
					t.Errorf("GetFlowTestUsers of an unknown flow: %v, want NotFound", err)
				}
			})
		}
	})
	// The refused calls left the list alone.
	res, err := hs.clients[0].GetFlowTestUsers(ctx, &flowv1.GetFlowTestUsersRequest{FlowSid: sid})
	if err != nil || !cmp.Equal(kept, res.GetFlowTestUsers().GetTestUsers()) {
		t.Errorf("test users after refused updates = %v, %v; want %v", res.GetFlowTestUsers().GetTestUsers(), err, kept)
	}
}

package runner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
)

// tester is the test user of the tests below; customer is not one.
const tester = "+15551239999"

// saveDraft saves def as the flow's next revision, a draft.
func (h *harness) saveDraft(sid string, def []byte) {
	h.t.Helper()
	if _, err := h.st.UpdateFlow(context.Background(), store.FlowUpdate{SID: sid, FriendlyName: "test", Status: store.FlowStatusDraft, Definition: def, Valid: true}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) setTestUsers(sid string, users ...string) {
	h.t.Helper()
	if err := h.st.SetFlowTestUsers(context.Background(), sid, users); err != nil {
		h.t.Fatal(err)
	}
}

// TestTestUsersRunLatestRevision: a conversation message from a test user
// starts the flow's draft revision, anyone else's the published one, on
// both stores; clearing the list ends that.
func TestTestUsersRunLatestRevision(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, pg bool) {
		h := newHarness(t, harnessOptions{postgres: pg})
		published := readFile(t, "testdata/send-once.json")
		flow := h.createFlow(published)
		h.saveDraft(flow, []byte(strings.Replace(string(published), "Got ", "Draft got ", 1)))
		h.setTestUsers(flow, "alice", tester)

		chTester := h.conversationWith(flow, "", tester)
		chCustomer := h.conversation(flow, "")
		h.textFrom(chTester, tester, "one")
		h.text(chCustomer, "two")
		if diff := cmp.Diff([]string{tester + ": one", "system: Draft got one"}, h.bodies(chTester)); diff != "" {
			t.Errorf("test user's conversation (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{customer + ": two", "system: Got two"}, h.bodies(chCustomer)); diff != "" {
			t.Errorf("customer's conversation (-want +got):\n%s", diff)
		}
		revisions := map[string]int{}
		for _, x := range h.executions(flow) {
			revisions[x.ContactChannelAddress] = x.FlowRevision
		}
		if diff := cmp.Diff(map[string]int{tester: 2, customer: 1}, revisions); diff != "" {
			t.Errorf("revisions by contact (-want +got):\n%s", diff)
		}

		// No longer a test user: the published revision.
		h.setTestUsers(flow)
		h.textFrom(chTester, tester, "three")
		if got := h.bodies(chTester); got[len(got)-1] != "system: Got three" {
			t.Errorf("former test user's conversation: %q", got)
		}
	})
}

// TestTestUsersOfDraftOnlyFlow: a flow never published runs for its test
// users and for nobody else.
func TestTestUsersOfDraftOnlyFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	sid := h.createDraftFlow(readFile(t, "testdata/send-once.json"))
	h.setTestUsers(sid, tester)
	chTester := h.conversationWith(sid, "", tester)
	chCustomer := h.conversation(sid, "")
	ctx := context.Background()
	out, err := h.runner().ProcessConversationEvent(ctx, runner.ConversationEvent{FlowSid: sid, ConversationSid: chCustomer, MessageSid: newSID("IM"), Author: customer, Body: "hi", Source: "SMS"})
	if err != nil || out.Disposition != runner.DispositionFailed || !strings.Contains(out.Error, "no published revision") {
		t.Errorf("customer's outcome = %+v, %v", out, err)
	}
	out, err = h.runner().ProcessConversationEvent(ctx, runner.ConversationEvent{FlowSid: sid, ConversationSid: chTester, MessageSid: newSID("IM"), Author: tester, Body: "hi", Source: "SMS"})
	if err != nil || out.Disposition != runner.DispositionStarted {
		t.Fatalf("test user's outcome = %+v, %v", out, err)
	}
	x := h.only(sid)
	if x.SID != out.ExecutionSid || x.FlowRevision != 1 || x.ContactChannelAddress != tester {
		t.Errorf("execution: %+v", x)
	}
	if _, err := h.runner().CreateExecution(ctx, sid, customer, proxy, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateExecution for a customer: %v, want ErrNotFound", err)
	}
}

// TestTestUsersCreateExecution: the REST trigger matches To against the
// test users.
func TestTestUsersCreateExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	published := readFile(t, "testdata/rest-wait.json")
	flow := h.createFlow(published)
	h.saveDraft(flow, []byte(strings.Replace(string(published), "Your appointment is", "Draft: your appointment is", 1)))
	h.setTestUsers(flow, tester)
	chTester := h.conversationWith("", "", tester)
	chCustomer := h.conversation("", "")
	ctx := context.Background()
	for _, tc := range []struct {
		to, ch   string
		revision int
		body     string
	}{
		{tester, chTester, 2, "system: Draft: your appointment is Monday. Reply YES to confirm."},
		{customer, chCustomer, 1, "system: Your appointment is Monday. Reply YES to confirm."},
	} {
		x, err := h.runner().CreateExecution(ctx, flow, tc.to, proxy, map[string]any{"when": "Monday"})
		if err != nil {
			t.Fatal(err)
		}
		if x.FlowRevision != tc.revision {
			t.Errorf("execution for %s runs revision %d, want %d", tc.to, x.FlowRevision, tc.revision)
		}
		if diff := cmp.Diff([]string{tc.body}, h.bodies(tc.ch)); diff != "" {
			t.Errorf("messages to %s (-want +got):\n%s", tc.to, diff)
		}
	}
}

// TestTestUsersChooseSubflowRevision: a run-subflow naming LatestPublished
// runs the subflow's latest revision for the parent's test users (studio.md
// §2.3), and the published one for everyone else.
func TestTestUsersChooseSubflowRevision(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	child := string(readFile(t, "testdata/subflow-child.json"))
	childSid := h.createFlow([]byte(strings.Replace(child, "PREFIX", "", 1)))
	h.saveDraft(childSid, []byte(strings.Replace(child, "PREFIX", "draft ", 1)))
	parent := h.createFlow([]byte(strings.Replace(string(readFile(t, "testdata/subflow-parent.json")), "CHILD", childSid, 1)))
	h.setTestUsers(parent, tester)
	// The subflow's own test users do not count for a parent's execution.
	h.setTestUsers(childSid, customer)

	for _, tc := range []struct {
		contact, answer string
	}{
		{tester, "system: Answer: draft 42"},
		{customer, "system: Answer: 42"},
	} {
		ch := h.conversationWith(parent, "", tc.contact)
		h.textFrom(ch, tc.contact, "hi")
		h.post(ch, "agent", "42")
		if got := h.bodies(ch); len(got) != 4 || got[3] != tc.answer {
			t.Errorf("conversation of %s: %q, want the answer %q", tc.contact, got, tc.answer)
		}
	}
}

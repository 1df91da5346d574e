package storetest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/convoflow/convoflow/services/flow/store"
)

func testFlowTestUsers(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	other := createFlow(t, s, store.FlowStatusPublished)
	users := func(sid string) []string {
		t.Helper()
		return must[[]string](t)(s.GetFlowTestUsers(ctxOf(t), sid))
	}
	set := func(sid string, list []string) {
		t.Helper()
		if err := s.SetFlowTestUsers(ctxOf(t), sid, list); err != nil {
			t.Fatal(err)
		}
	}
	diff(t, "a new flow's test users", []string(nil), users(f.SID))

	// Each call replaces the whole list, which keeps the order given.
	set(f.SID, []string{"+15551230002", "whatsapp:+15551230001", "alice"})
	diff(t, "test users", []string{"+15551230002", "whatsapp:+15551230001", "alice"}, users(f.SID))
	set(f.SID, []string{"alice", "+15551230003"})
	diff(t, "replaced test users", []string{"alice", "+15551230003"}, users(f.SID))
	diff(t, "another flow's test users", []string(nil), users(other.SID))

	// A new revision keeps them; they belong to the flow.
	must[store.Flow](t)(s.UpdateFlow(ctxOf(t), store.FlowUpdate{SID: f.SID, FriendlyName: "v2", Status: store.FlowStatusDraft, Definition: json.RawMessage(`{"v":2}`)}))
	diff(t, "test users after an update", []string{"alice", "+15551230003"}, users(f.SID))

	// Refused lists change nothing.
	for _, tc := range []struct {
		name  string
		users []string
	}{
		{"empty_identity", []string{"alice", ""}},
		{"duplicate", []string{"alice", "bob", "alice"}},
		{"nul", []string{"al\x00ice"}},
		{"not_utf8", []string{"caf\xe9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, s.SetFlowTestUsers(ctxOf(t), f.SID, tc.users), store.ErrInvalidArgument)
		})
	}
	diff(t, "test users after refused lists", []string{"alice", "+15551230003"}, users(f.SID))

	// A transaction that rolls back leaves them as they were.
	errRollback := errors.New("roll back")
	err := s.InTx(ctxOf(t), func(tx store.Tx) error {
		if err := tx.SetFlowTestUsers(ctxOf(t), f.SID, []string{"carol"}); err != nil {
			return err
		}
		diff(t, "test users inside the transaction", []string{"carol"}, must[[]string](t)(tx.GetFlowTestUsers(ctxOf(t), f.SID)))
		return errRollback
	})
	wantErr(t, err, errRollback)
	diff(t, "test users after a rollback", []string{"alice", "+15551230003"}, users(f.SID))

	// An empty list and nil both clear them.
	set(f.SID, []string{})
	diff(t, "cleared test users", []string(nil), users(f.SID))
	set(f.SID, []string{"alice"})
	set(f.SID, nil)
	diff(t, "test users cleared with nil", []string(nil), users(f.SID))

	unknown := newSID(store.PrefixFlow)
	_, err = s.GetFlowTestUsers(ctxOf(t), unknown)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.SetFlowTestUsers(ctxOf(t), unknown, []string{"alice"}), store.ErrNotFound)
	wantErr(t, s.SetFlowTestUsers(ctxOf(t), unknown, nil), store.ErrNotFound)

	// Deleted with the flow.
	set(f.SID, []string{"alice"})
	if err := s.DeleteFlow(ctxOf(t), f.SID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetFlowTestUsers(ctxOf(t), f.SID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.SetFlowTestUsers(ctxOf(t), f.SID, []string{"alice"}), store.ErrNotFound)
}

func testRevisionForContact(t *testing.T, s store.Store) {
	revisionFor := func(p store.RevisionForContactParams) int {
		t.Helper()
		return must[store.Flow](t)(s.GetRevisionForContact(ctxOf(t), p)).Revision
	}
	update := func(sid string, status store.FlowStatus) {
		t.Helper()
		must[store.Flow](t)(s.UpdateFlow(ctxOf(t), store.FlowUpdate{SID: sid, FriendlyName: "Support", Status: status, Definition: json.RawMessage(`{"v":1}`)}))
	}

	// A flow that was never published runs for its test users only.
	f := createFlow(t, s, store.FlowStatusDraft)
	if err := s.SetFlowTestUsers(ctxOf(t), f.SID, []string{"alice", "whatsapp:+15551230001"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetRevisionForContact(ctxOf(t), store.RevisionForContactParams{FlowSID: f.SID, Contact: "bob"})
	wantErr(t, err, store.ErrNotFound)
	diff(t, "a test user's revision of a draft-only flow", f,
		must[store.Flow](t)(s.GetRevisionForContact(ctxOf(t), store.RevisionForContactParams{FlowSID: f.SID, Contact: "alice"})))

	// Revision 2 published, 3 and 4 drafts: test users get 4, the others 2.
	update(f.SID, store.FlowStatusPublished)
	update(f.SID, store.FlowStatusDraft)
	update(f.SID, store.FlowStatusDraft)
	diff(t, "a test user's revision", must[store.Flow](t)(s.GetLatestRevision(ctxOf(t), f.SID)),
		must[store.Flow](t)(s.GetRevisionForContact(ctxOf(t), store.RevisionForContactParams{FlowSID: f.SID, Contact: "alice"})))
	diff(t, "another contact's revision", must[store.Flow](t)(s.GetLatestPublishedRevision(ctxOf(t), f.SID)),
		must[store.Flow](t)(s.GetRevisionForContact(ctxOf(t), store.RevisionForContactParams{FlowSID: f.SID, Contact: "bob"})))
	for _, tc := range []struct {
		name    string
		contact string
		want    int
	}{
		{"channel_address", "whatsapp:+15551230001", 4},
		// Addresses match exactly: the same number on another channel
		// is another contact.
		{"other_channel", "+15551230001", 2},
		{"case_differs", "Alice", 2},
		{"no_contact", "", 2},
		// Text no store can hold is nobody's, not an error.
		{"nul", "al\x00ice", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := revisionFor(store.RevisionForContactParams{FlowSID: f.SID, Contact: tc.contact}); got != tc.want {
				t.Errorf("revision for %q = %d, want %d", tc.contact, got, tc.want)
			}
		})
	}

	// Another flow's test users decide when asked (a subflow runs the
	// revision its parent's test users choose), and the flow's own do not.
	parent := createFlow(t, s, store.FlowStatusPublished)
	if err := s.SetFlowTestUsers(ctxOf(t), parent.SID, []string{"carol"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    store.RevisionForContactParams
		want int
	}{
		{"parent_test_user", store.RevisionForContactParams{FlowSID: f.SID, TestUsersOf: parent.SID, Contact: "carol"}, 4},
		{"own_test_user_under_parent", store.RevisionForContactParams{FlowSID: f.SID, TestUsersOf: parent.SID, Contact: "alice"}, 2},
		{"unknown_parent", store.RevisionForContactParams{FlowSID: f.SID, TestUsersOf: newSID(store.PrefixFlow), Contact: "alice"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := revisionFor(tc.p); got != tc.want {
				t.Errorf("revision for %+v = %d, want %d", tc.p, got, tc.want)
			}
		})
	}

	// A cleared list makes everyone a contact like any other.
	if err := s.SetFlowTestUsers(ctxOf(t), f.SID, nil); err != nil {
		t.Fatal(err)
	}
	if got := revisionFor(store.RevisionForContactParams{FlowSID: f.SID, Contact: "alice"}); got != 2 {
		t.Errorf("revision for a former test user = %d, want 2", got)
	}
	_, err = s.GetRevisionForContact(ctxOf(t), store.RevisionForContactParams{FlowSID: newSID(store.PrefixFlow), Contact: "alice"})
	wantErr(t, err, store.ErrNotFound)
}

package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

func testFlowCreateGet(t *testing.T, s store.Store) {
	in := newFlow(store.FlowStatusDraft)
	in.Revision = 7 // ignored: a new flow is revision 1
	got := must[store.Flow](t)(s.CreateFlow(ctxOf(t), in))
	want := in
	want.Revision = 1
	diff(t, "created flow", want, got)
	diff(t, "read flow", want, must[store.Flow](t)(s.GetFlow(ctxOf(t), in.SID)))
	diff(t, "revision 1", want, must[store.Flow](t)(s.GetFlowRevision(ctxOf(t), in.SID, 1)))

	_, err := s.GetFlow(ctxOf(t), newSID(store.PrefixFlow))
	wantErr(t, err, store.ErrNotFound)

	// Absent JSON documents read back as nil, and a zero time is stamped.
	bare := store.Flow{SID: newSID(store.PrefixFlow), FriendlyName: "bare", Status: store.FlowStatusDraft}
	got = must[store.Flow](t)(s.CreateFlow(ctxOf(t), bare))
	if got.Definition != nil || got.Errors != nil || got.Warnings != nil || got.CreateTime.IsZero() || !got.CreateTime.Equal(got.UpdateTime) {
		t.Errorf("bare flow = %+v, want nil documents and equal non-zero times", got)
	}
}

func testFlowCreateInvalid(t *testing.T, s store.Store) {
	existing := createFlow(t, s, store.FlowStatusDraft)
	for _, tc := range []struct {
		name   string
		mutate func(*store.Flow)
		want   error
	}{
		{"sid_wrong_prefix", func(f *store.Flow) { f.SID = "FN" + f.SID[2:] }, store.ErrInvalidArgument},
		{"sid_too_short", func(f *store.Flow) { f.SID = "FW123" }, store.ErrInvalidArgument},
		{"sid_not_hex", func(f *store.Flow) { f.SID = "FW" + "zz" + f.SID[4:] }, store.ErrInvalidArgument},
		{"status_unknown", func(f *store.Flow) { f.Status = "archived" }, store.ErrInvalidArgument},
		{"friendly_name_empty", func(f *store.Flow) { f.FriendlyName = "" }, store.ErrInvalidArgument},
		{"definition_not_json", func(f *store.Flow) { f.Definition = json.RawMessage(`{"states":`) }, store.ErrInvalidArgument},
		{"errors_not_json", func(f *store.Flow) { f.Errors = json.RawMessage(`[`) }, store.ErrInvalidArgument},
		{"warnings_not_json", func(f *store.Flow) { f.Warnings = json.RawMessage(`nope`) }, store.ErrInvalidArgument},
		// Text every store can hold: PostgreSQL's text refuses NUL and
		// invalid UTF-8, so every store does.
		{"friendly_name_nul", func(f *store.Flow) { f.FriendlyName = "a\x00b" }, store.ErrInvalidArgument},
		{"commit_message_not_utf8", func(f *store.Flow) { f.CommitMessage = "caf\xe9" }, store.ErrInvalidArgument},
		{"definition_not_utf8", func(f *store.Flow) { f.Definition = json.RawMessage("{\"a\":\"caf\xe9\"}") }, store.ErrInvalidArgument},
		{"sid_taken", func(f *store.Flow) { f.SID = existing.SID }, store.ErrAlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(store.FlowStatusDraft)
			tc.mutate(&f)
			_, err := s.CreateFlow(ctxOf(t), f)
			wantErr(t, err, tc.want)
		})
	}
	// The failed creations left nothing behind.
	page := must[store.FlowPage](t)(s.ListFlows(ctxOf(t), store.PageParams{}))
	if len(page.Flows) != 1 {
		t.Errorf("flows after failed creations = %d, want 1", len(page.Flows))
	}
}

func testFlowUpdateRevisions(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusDraft)
	_, err := s.GetLatestPublishedRevision(ctxOf(t), f.SID)
	wantErr(t, err, store.ErrNotFound)

	revs := []store.Flow{f}
	for i, u := range []store.FlowUpdate{
		{FriendlyName: "Support v2", Status: store.FlowStatusPublished, Definition: json.RawMessage(`{"v":2}`), CommitMessage: "publish", Valid: true},
		{FriendlyName: "Support v3", Status: store.FlowStatusPublished, Definition: json.RawMessage(`{"v":3}`), CommitMessage: "fix"},
		{FriendlyName: "Support v4", Status: store.FlowStatusDraft, Definition: json.RawMessage(`{"v":4}`), CommitMessage: "wip",
			Errors: json.RawMessage(`[{"message":"bad"}]`)},
	} {
		u.SID = f.SID
		u.UpdateTime = t0.Add(time.Duration(i+1) * time.Minute)
		got := must[store.Flow](t)(s.UpdateFlow(ctxOf(t), u))
		want := store.Flow{SID: f.SID, FriendlyName: u.FriendlyName, Status: u.Status, Revision: i + 2, Definition: u.Definition,
			CommitMessage: u.CommitMessage, Valid: u.Valid, Errors: u.Errors, Warnings: u.Warnings, CreateTime: f.CreateTime, UpdateTime: u.UpdateTime}
		diff(t, "updated flow", want, got)
		revs = append(revs, want)
	}
	for _, want := range revs {
		diff(t, "revision", want, must[store.Flow](t)(s.GetFlowRevision(ctxOf(t), f.SID, want.Revision)))
	}
	diff(t, "latest revision", revs[3], must[store.Flow](t)(s.GetLatestRevision(ctxOf(t), f.SID)))
	diff(t, "latest published", revs[2], must[store.Flow](t)(s.GetLatestPublishedRevision(ctxOf(t), f.SID)))
	diff(t, "flow", revs[3], must[store.Flow](t)(s.GetFlow(ctxOf(t), f.SID)))

	_, err = s.GetFlowRevision(ctxOf(t), f.SID, 5)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetLatestRevision(ctxOf(t), newSID(store.PrefixFlow))
	wantErr(t, err, store.ErrNotFound)

	// Revisions page newest first.
	p1 := must[store.FlowPage](t)(s.ListFlowRevisions(ctxOf(t), f.SID, store.PageParams{PageSize: 3}))
	diff(t, "revisions page 1", []store.Flow{revs[3], revs[2], revs[1]}, p1.Flows)
	if p1.NextPageToken == "" {
		t.Fatal("revisions page 1 has no next page token")
	}
	p2 := must[store.FlowPage](t)(s.ListFlowRevisions(ctxOf(t), f.SID, store.PageParams{PageSize: 3, PageToken: p1.NextPageToken}))
	diff(t, "revisions page 2", []store.Flow{revs[0]}, p2.Flows)
	if p2.NextPageToken != "" {
		t.Errorf("last revisions page has next page token %q", p2.NextPageToken)
	}
	_, err = s.ListFlowRevisions(ctxOf(t), newSID(store.PrefixFlow), store.PageParams{})
	wantErr(t, err, store.ErrNotFound)
}

func testFlowUpdateConflicts(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusDraft)
	u := store.FlowUpdate{SID: f.SID, FriendlyName: "x", Status: store.FlowStatusPublished, BaseRevision: 1}
	must[store.Flow](t)(s.UpdateFlow(ctxOf(t), u))
	// A second writer that also read revision 1 loses.
	_, err := s.UpdateFlow(ctxOf(t), u)
	wantErr(t, err, store.ErrConflict)
	u.BaseRevision = 2
	if got := must[store.Flow](t)(s.UpdateFlow(ctxOf(t), u)); got.Revision != 3 {
		t.Errorf("revision = %d, want 3", got.Revision)
	}
	u.BaseRevision = 0 // unconditional
	if got := must[store.Flow](t)(s.UpdateFlow(ctxOf(t), u)); got.Revision != 4 {
		t.Errorf("revision = %d, want 4", got.Revision)
	}

	for _, tc := range []struct {
		name   string
		update store.FlowUpdate
		want   error
	}{
		{"unknown_flow", store.FlowUpdate{SID: newSID(store.PrefixFlow), FriendlyName: "x", Status: store.FlowStatusDraft}, store.ErrNotFound},
		{"bad_status", store.FlowUpdate{SID: f.SID, FriendlyName: "x", Status: "live"}, store.ErrInvalidArgument},
		{"bad_definition", store.FlowUpdate{SID: f.SID, FriendlyName: "x", Status: store.FlowStatusDraft, Definition: json.RawMessage(`{`)}, store.ErrInvalidArgument},
		{"negative_base", store.FlowUpdate{SID: f.SID, FriendlyName: "x", Status: store.FlowStatusDraft, BaseRevision: -1}, store.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.UpdateFlow(ctxOf(t), tc.update)
			wantErr(t, err, tc.want)
		})
	}
	if got := must[store.Flow](t)(s.GetLatestRevision(ctxOf(t), f.SID)); got.Revision != 4 {
		t.Errorf("failed updates changed the revision to %d", got.Revision)
	}
}

func testFlowListPaging(t *testing.T, s store.Store) {
	empty := must[store.FlowPage](t)(s.ListFlows(ctxOf(t), store.PageParams{}))
	if len(empty.Flows) != 0 || empty.NextPageToken != "" {
		t.Fatalf("empty store lists %+v", empty)
	}
	var all []store.Flow
	for range 7 {
		all = append(all, createFlow(t, s, store.FlowStatusDraft))
	}
	// An update must not move a flow in the order.
	u := must[store.Flow](t)(s.UpdateFlow(ctxOf(t), store.FlowUpdate{SID: all[0].SID, FriendlyName: "renamed", Status: store.FlowStatusPublished, UpdateTime: t0.Add(time.Hour)}))
	all[0] = u

	var got []store.Flow
	token := ""
	for pages := 1; ; pages++ {
		page := must[store.FlowPage](t)(s.ListFlows(ctxOf(t), store.PageParams{PageSize: 3, PageToken: token}))
		if len(page.Flows) > 3 {
			t.Fatalf("page of %d flows, want at most 3", len(page.Flows))
		}
		got = append(got, page.Flows...)
		if page.NextPageToken == "" {
			if pages != 3 {
				t.Errorf("pages = %d, want 3", pages)
			}
			break
		}
		token = page.NextPageToken
	}
	diff(t, "flows in creation order", all, got)

	// Exactly a full last page: no token pointing at an empty page.
	page := must[store.FlowPage](t)(s.ListFlows(ctxOf(t), store.PageParams{PageSize: 7}))
	if len(page.Flows) != 7 || page.NextPageToken != "" {
		t.Errorf("page of 7 = %d flows, token %q; want 7 and none", len(page.Flows), page.NextPageToken)
	}
	if page := must[store.FlowPage](t)(s.ListFlows(ctxOf(t), store.PageParams{})); len(page.Flows) != 7 {
		t.Errorf("default page size lists %d flows, want 7", len(page.Flows))
	}

	otherToken := must[store.FlowPage](t)(s.ListFlowRevisions(ctxOf(t), all[0].SID, store.PageParams{PageSize: 1})).NextPageToken
	for _, tc := range []struct {
		name string
		p    store.PageParams
	}{
		{"garbage_token", store.PageParams{PageToken: "not a token"}},
		{"token_of_another_list", store.PageParams{PageToken: otherToken}},
		{"negative_page_size", store.PageParams{PageSize: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ListFlows(ctxOf(t), tc.p)
			wantErr(t, err, store.ErrInvalidArgument)
		})
	}
}

func testFlowDeleteCascades(t *testing.T, s store.Store) {
	f, e := flowWithExecution(t, s)
	keep, keepExec := flowWithExecution(t, s)
	st := must[store.Step](t)(s.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Name: "incomingConversationMessage"}))
	tm := must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e.SID, Kind: store.TimerKindLifetime, FireTime: t0}))
	must[store.Send](t)(s.RecordSend(ctxOf(t), store.Send{Key: e.SID + "/1", ExecutionSID: e.SID}))
	ev, _ := must2(t)(s.RecordEvent(ctxOf(t), store.Event{ConversationSID: e.ConversationSID, FlowSID: f.SID, MessageSID: "IM1"}))
	keepEv, _ := must2(t)(s.RecordEvent(ctxOf(t), store.Event{ConversationSID: keepExec.ConversationSID, FlowSID: keep.SID, MessageSID: "IM1"}))

	if err := s.DeleteFlow(ctxOf(t), f.SID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteFlow(ctxOf(t), f.SID), store.ErrNotFound)
	_, err := s.GetFlow(ctxOf(t), f.SID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetFlowRevision(ctxOf(t), f.SID, 1)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetExecution(ctxOf(t), e.SID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetStep(ctxOf(t), st.SID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetSend(ctxOf(t), e.SID+"/1")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetEvent(ctxOf(t), ev.ID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteTimer(ctxOf(t), tm.ID, ""), store.ErrNotFound)
	if claimed := must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: t0.Add(time.Hour), Owner: "a", LeaseDuration: time.Minute})); len(claimed) != 0 {
		t.Errorf("timers of the deleted flow still fire: %+v", claimed)
	}

	// The other flow is untouched.
	must[store.Flow](t)(s.GetFlow(ctxOf(t), keep.SID))
	must[store.Execution](t)(s.GetExecution(ctxOf(t), keepExec.SID))
	must[store.Event](t)(s.GetEvent(ctxOf(t), keepEv.ID))
}

func must2(t *testing.T) func(ev store.Event, dup bool, err error) (store.Event, bool) {
	return func(ev store.Event, dup bool, err error) (store.Event, bool) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ev, dup
	}
}

// isActiveConflict returns the conflicting execution SID of an
// *ActiveExecutionError.
func isActiveConflict(t *testing.T, err error) *store.ActiveExecutionError {
	t.Helper()
	var conflict *store.ActiveExecutionError
	if !errors.As(err, &conflict) {
		t.Fatalf("error = %v, want *store.ActiveExecutionError", err)
	}
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("errors.Is(%v, ErrAlreadyExists) = false", err)
	}
	return conflict
}

package storetest

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

func testExecutionCreateGet(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	in := newExecution(f, newConversationSID(), "+15550100")
	in.Version = 42 // ignored
	got := must[store.Execution](t)(s.CreateExecution(ctxOf(t), in))
	want := in
	want.Version = 1
	diff(t, "created execution", want, got)
	diff(t, "read execution", want, must[store.Execution](t)(s.GetExecution(ctxOf(t), in.SID)))
	_, err := s.GetExecution(ctxOf(t), newSID(store.PrefixExecution))
	wantErr(t, err, store.ErrNotFound)

	// A REST execution: no conversation.
	rest := newExecution(f, "", "+15550199")
	rest.State, rest.Context = nil, nil
	got = must[store.Execution](t)(s.CreateExecution(ctxOf(t), rest))
	if got.ConversationSID != "" || got.State != nil || got.Context != nil {
		t.Errorf("REST execution = %+v", got)
	}
	// One created ended (imported history) is fine too.
	ended := newExecution(f, in.ConversationSID, "")
	ended.Status, ended.EndedReason = store.ExecutionStatusEnded, store.EndedReasonFlowEnd
	must[store.Execution](t)(s.CreateExecution(ctxOf(t), ended))
}

func testExecutionCreateInvalid(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	existing := createExecution(t, s, f, newConversationSID(), "")
	for _, tc := range []struct {
		name   string
		mutate func(*store.Execution)
		want   error
	}{
		{"sid_wrong_prefix", func(e *store.Execution) { e.SID = "FT" + e.SID[2:] }, store.ErrInvalidArgument},
		{"flow_sid_malformed", func(e *store.Execution) { e.FlowSID = "flow" }, store.ErrInvalidArgument},
		{"status_unknown", func(e *store.Execution) { e.Status = "running" }, store.ErrInvalidArgument},
		{"state_not_json", func(e *store.Execution) { e.State = json.RawMessage(`{"a":`) }, store.ErrInvalidArgument},
		{"context_not_json", func(e *store.Execution) { e.Context = json.RawMessage(`}`) }, store.ErrInvalidArgument},
		{"contact_not_utf8", func(e *store.Execution) { e.ContactChannelAddress = "+1\xff" }, store.ErrInvalidArgument},
		{"neither_conversation_nor_contact", func(e *store.Execution) { e.ConversationSID, e.ContactChannelAddress = "", "" }, store.ErrInvalidArgument},
		{"flow_unknown", func(e *store.Execution) { e.FlowSID = newSID(store.PrefixFlow) }, store.ErrNotFound},
		{"revision_unknown", func(e *store.Execution) { e.FlowRevision = 2 }, store.ErrNotFound},
		{"sid_taken", func(e *store.Execution) { e.SID = existing.SID }, store.ErrAlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newExecution(f, newConversationSID(), "+15550100")
			tc.mutate(&e)
			_, err := s.CreateExecution(ctxOf(t), e)
			wantErr(t, err, tc.want)
			var conflict *store.ActiveExecutionError
			if errors.As(err, &conflict) {
				t.Errorf("error %v is an active-execution conflict", err)
			}
		})
	}
}

func testExecutionActivePerConversation(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	other := createFlow(t, s, store.FlowStatusPublished)
	conv := newConversationSID()
	first := createExecution(t, s, f, conv, "+15550100")

	_, err := s.CreateExecution(ctxOf(t), newExecution(f, conv, "+15550177"))
	conflict := isActiveConflict(t, err)
	diff(t, "conflict", &store.ActiveExecutionError{FlowSID: f.SID, ConversationSID: conv, ExecutionSID: first.SID}, conflict)

	// Inside a transaction the conflict is the same, and the transaction can
	// go on (the service tries, then resumes the active one).
	err = s.InTx(ctxOf(t), func(tx store.Tx) error {
		_, err := tx.CreateExecution(ctxOf(t), newExecution(f, conv, ""))
		if got := isActiveConflict(t, err); got.ExecutionSID != first.SID {
			t.Errorf("conflicting SID in tx = %s, want %s", got.ExecutionSID, first.SID)
		}
		_, err = tx.FindActiveExecutionByConversation(ctxOf(t), f.SID, conv)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Other conversations, other flows, and ended executions do not clash.
	createExecution(t, s, f, newConversationSID(), "+15550100")
	createExecution(t, s, other, conv, "+15550100")
	ended := newExecution(f, conv, "")
	ended.Status = store.ExecutionStatusEnded
	must[store.Execution](t)(s.CreateExecution(ctxOf(t), ended))

	diff(t, "active execution", first, must[store.Execution](t)(s.FindActiveExecutionByConversation(ctxOf(t), f.SID, conv)))
	// Ending the first frees the conversation for a new execution.
	must[store.Execution](t)(s.UpdateExecution(ctxOf(t), store.ExecutionUpdate{SID: first.SID, Version: 1, Status: store.ExecutionStatusEnded, EndedReason: store.EndedReasonFlowEnd}))
	_, err = s.FindActiveExecutionByConversation(ctxOf(t), f.SID, conv)
	wantErr(t, err, store.ErrNotFound)
	second := createExecution(t, s, f, conv, "+15550100")
	if got := must[store.Execution](t)(s.FindActiveExecutionByConversation(ctxOf(t), f.SID, conv)); got.SID != second.SID {
		t.Errorf("active execution = %s, want %s", got.SID, second.SID)
	}
	_, err = s.FindActiveExecutionByConversation(ctxOf(t), f.SID, "")
	wantErr(t, err, store.ErrInvalidArgument)
}

func testExecutionActivePerContact(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	const contact = "+15550123"
	first := createExecution(t, s, f, "", contact)

	_, err := s.CreateExecution(ctxOf(t), newExecution(f, "", contact))
	conflict := isActiveConflict(t, err)
	diff(t, "conflict", &store.ActiveExecutionError{FlowSID: f.SID, ContactChannelAddress: contact, ExecutionSID: first.SID}, conflict)
	if msg := conflict.Error(); msg == "" {
		t.Error("conflict has no message")
	}

	// A conversation execution with the same contact is keyed on its
	// conversation instead, and another contact is free.
	conv := createExecution(t, s, f, newConversationSID(), contact)
	createExecution(t, s, f, "", "+15550124")

	diff(t, "active by contact", first, must[store.Execution](t)(s.FindActiveExecutionByContact(ctxOf(t), f.SID, contact)))
	if got := must[store.Execution](t)(s.FindActiveExecutionByConversation(ctxOf(t), f.SID, conv.ConversationSID)); got.SID != conv.SID {
		t.Errorf("active by conversation = %s, want %s", got.SID, conv.SID)
	}
	// A message goes to its conversation's execution first, else to the
	// contact's REST execution.
	other := newConversationSID()
	for _, tc := range []struct {
		name, conversation, contact string
		want                        string
	}{
		{"conversation_first", conv.ConversationSID, contact, conv.SID},
		{"conversation_only", conv.ConversationSID, "", conv.SID},
		{"rest_for_contact", other, contact, first.SID},
		{"no_contact", other, "", ""},
		{"other_contact", other, "+15550199", ""},
	} {
		t.Run("for_message_"+tc.name, func(t *testing.T) {
			got, err := s.FindActiveExecutionForMessage(ctxOf(t), f.SID, tc.conversation, tc.contact)
			if tc.want == "" {
				wantErr(t, err, store.ErrNotFound)
				return
			}
			if err != nil || got.SID != tc.want {
				t.Errorf("execution for the message = %s, %v; want %s", got.SID, err, tc.want)
			}
		})
	}
	_, err = s.FindActiveExecutionForMessage(ctxOf(t), f.SID, "", contact)
	wantErr(t, err, store.ErrInvalidArgument)
	// Deleting the active execution frees the contact too.
	if err := s.DeleteExecution(ctxOf(t), first.SID); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindActiveExecutionByContact(ctxOf(t), f.SID, contact)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.FindActiveExecutionForMessage(ctxOf(t), f.SID, other, contact)
	wantErr(t, err, store.ErrNotFound)
	createExecution(t, s, f, "", contact)
	_, err = s.FindActiveExecutionByContact(ctxOf(t), f.SID, "")
	wantErr(t, err, store.ErrInvalidArgument)
}

func testExecutionUpdate(t *testing.T, s store.Store) {
	_, e := flowWithExecution(t, s)
	u := store.ExecutionUpdate{
		SID: e.SID, Version: 1, Status: store.ExecutionStatusActive,
		State: json.RawMessage(`{"current":"wait","waiting":true}`), Context: json.RawMessage(`{"widgets":{"a":{}}}`),
		UpdateTime: t0.Add(time.Second),
	}
	got := must[store.Execution](t)(s.UpdateExecution(ctxOf(t), u))
	want := e
	want.Version, want.State, want.Context, want.UpdateTime = 2, u.State, u.Context, u.UpdateTime
	diff(t, "updated execution", want, got)
	diff(t, "read execution", want, must[store.Execution](t)(s.GetExecution(ctxOf(t), e.SID)))

	// A writer that read version 1 lost the race.
	_, err := s.UpdateExecution(ctxOf(t), u)
	wantErr(t, err, store.ErrConflict)

	end := store.ExecutionUpdate{SID: e.SID, Version: 2, Status: store.ExecutionStatusEnded, EndedReason: store.EndedReasonAPI, State: u.State}
	got = must[store.Execution](t)(s.UpdateExecution(ctxOf(t), end))
	if got.Version != 3 || got.Status != store.ExecutionStatusEnded || got.EndedReason != store.EndedReasonAPI || got.Context != nil {
		t.Errorf("ended execution = %+v", got)
	}
	diff(t, "read ended execution", got, must[store.Execution](t)(s.GetExecution(ctxOf(t), e.SID)))

	for _, tc := range []struct {
		name   string
		update store.ExecutionUpdate
		want   error
	}{
		{"reactivate", store.ExecutionUpdate{SID: e.SID, Version: 3, Status: store.ExecutionStatusActive}, store.ErrInvalidArgument},
		{"unknown", store.ExecutionUpdate{SID: newSID(store.PrefixExecution), Version: 1, Status: store.ExecutionStatusEnded}, store.ErrNotFound},
		{"bad_status", store.ExecutionUpdate{SID: e.SID, Version: 3, Status: "paused"}, store.ErrInvalidArgument},
		{"bad_state", store.ExecutionUpdate{SID: e.SID, Version: 3, Status: store.ExecutionStatusEnded, State: json.RawMessage(`[`)}, store.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.UpdateExecution(ctxOf(t), tc.update)
			wantErr(t, err, tc.want)
		})
	}
}

func testExecutionUpdateConcurrent(t *testing.T, s store.Store) {
	_, e := flowWithExecution(t, s)
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			_, errs[i] = s.UpdateExecution(ctxOf(t), store.ExecutionUpdate{
				SID: e.SID, Version: 1, Status: store.ExecutionStatusActive, State: json.RawMessage(`{"writer":` + string(rune('0'+i)) + `}`),
			})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrConflict):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers of version 1 succeeded, want exactly 1", won)
	}
	if got := must[store.Execution](t)(s.GetExecution(ctxOf(t), e.SID)); got.Version != 2 {
		t.Errorf("version = %d, want 2", got.Version)
	}
}

func testExecutionList(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	other := createFlow(t, s, store.FlowStatusPublished)
	createExecution(t, s, other, newConversationSID(), "")
	// Ten executions one minute apart; the odd ones ended.
	var all []store.Execution
	for i := range 10 {
		e := newExecution(f, newConversationSID(), "")
		e.CreateTime, e.UpdateTime = t0.Add(time.Duration(i)*time.Minute), t0.Add(time.Duration(i)*time.Minute)
		if i%2 == 1 {
			e.Status, e.EndedReason = store.ExecutionStatusEnded, store.EndedReasonFlowEnd
		}
		all = append(all, must[store.Execution](t)(s.CreateExecution(ctxOf(t), e)))
	}
	pick := func(idx ...int) []store.Execution {
		var out []store.Execution
		for _, i := range idx {
			out = append(out, all[i])
		}
		return out
	}
	for _, tc := range []struct {
		name string
		p    store.ListExecutionsParams
		want []store.Execution
	}{
		{"all_newest_first", store.ListExecutionsParams{}, pick(9, 8, 7, 6, 5, 4, 3, 2, 1, 0)},
		{"active", store.ListExecutionsParams{Status: store.ExecutionStatusActive}, pick(8, 6, 4, 2, 0)},
		{"ended", store.ListExecutionsParams{Status: store.ExecutionStatusEnded}, pick(9, 7, 5, 3, 1)},
		{"created_from_inclusive", store.ListExecutionsParams{CreatedFrom: t0.Add(7 * time.Minute)}, pick(9, 8, 7)},
		{"created_to_inclusive", store.ListExecutionsParams{CreatedTo: t0.Add(2 * time.Minute)}, pick(2, 1, 0)},
		{"window_and_status", store.ListExecutionsParams{CreatedFrom: t0.Add(2 * time.Minute), CreatedTo: t0.Add(6 * time.Minute), Status: store.ExecutionStatusEnded}, pick(5, 3)},
		{"empty_window", store.ListExecutionsParams{CreatedFrom: t0.Add(time.Hour)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, size := range []int{0, 1, 3} {
				p := tc.p
				p.FlowSID, p.PageSize = f.SID, size
				var got []store.Execution
				for range 20 {
					page := must[store.ExecutionPage](t)(s.ListExecutions(ctxOf(t), p))
					if size > 0 && len(page.Executions) > size {
						t.Fatalf("page of %d, want at most %d", len(page.Executions), size)
					}
					got = append(got, page.Executions...)
					if page.NextPageToken == "" {
						break
					}
					p.PageToken = page.NextPageToken
				}
				diff(t, "executions", tc.want, got)
			}
		})
	}
	_, err := s.ListExecutions(ctxOf(t), store.ListExecutionsParams{FlowSID: f.SID, Status: "paused"})
	wantErr(t, err, store.ErrInvalidArgument)
	page := must[store.ExecutionPage](t)(s.ListExecutions(ctxOf(t), store.ListExecutionsParams{FlowSID: f.SID, PageParams: store.PageParams{PageSize: 1}}))
	_, err = s.ListExecutions(ctxOf(t), store.ListExecutionsParams{FlowSID: other.SID, PageParams: store.PageParams{PageToken: page.NextPageToken}})
	wantErr(t, err, store.ErrInvalidArgument)
}

func testExecutionDelete(t *testing.T, s store.Store) {
	f, e := flowWithExecution(t, s)
	keep := createExecution(t, s, f, newConversationSID(), "")
	for _, ex := range []store.Execution{e, keep} {
		must[store.Step](t)(s.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: ex.SID}))
		must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: ex.SID, Kind: store.TimerKindLifetime, FireTime: t0}))
		must[store.Send](t)(s.RecordSend(ctxOf(t), store.Send{Key: ex.SID + "/1", ExecutionSID: ex.SID}))
	}
	if err := s.DeleteExecution(ctxOf(t), e.SID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteExecution(ctxOf(t), e.SID), store.ErrNotFound)
	_, err := s.GetExecution(ctxOf(t), e.SID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.ListSteps(ctxOf(t), e.SID, store.PageParams{})
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetSend(ctxOf(t), e.SID+"/1")
	wantErr(t, err, store.ErrNotFound)
	if n := must[int](t)(s.CancelTimers(ctxOf(t), e.SID, "")); n != 0 {
		t.Errorf("%d timers of the deleted execution remain", n)
	}
	// The other execution keeps its records.
	if page := must[store.StepPage](t)(s.ListSteps(ctxOf(t), keep.SID, store.PageParams{})); len(page.Steps) != 1 {
		t.Errorf("other execution has %d steps, want 1", len(page.Steps))
	}
	must[store.Send](t)(s.GetSend(ctxOf(t), keep.SID+"/1"))
	if n := must[int](t)(s.CancelTimers(ctxOf(t), keep.SID, "")); n != 1 {
		t.Errorf("other execution had %d timers, want 1", n)
	}
}

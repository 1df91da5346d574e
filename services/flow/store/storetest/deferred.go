package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

// deferredTTL is the lease TTL of the deferred-write tests.
const deferredTTL = 30 * time.Second

// leasedEvent is the deferred-write tests' fixture: an execution in a
// conversation, a pending event of it, and the conversation's lease (its
// name returned), held by "a" until t0+deferredTTL.
func leasedEvent(t *testing.T, s store.Store) (store.Flow, store.Execution, string, store.Event) {
	t.Helper()
	f, e := flowWithExecution(t, s)
	name := "conversation:" + e.ConversationSID
	ev, _ := must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, e.ConversationSID, "IM1", "")))
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "a", t0, deferredTTL))
	return f, e, name, ev
}

// testDeferredWrites checks the deferred writes of a transaction that
// commits: they run in call order, a later statement sees them, and what
// they report is set once InTx returns.
func testDeferredWrites(t *testing.T, s store.Store) {
	f, e, name, ev := leasedEvent(t, s)
	conv := e.ConversationSID
	must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e.SID, Kind: store.TimerKindLifetime, FireTime: t0}))

	steps := []store.Step{
		{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Name: "first", CreateTime: t0},
		{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Name: "second", Context: json.RawMessage(`{"n":2}`), CreateTime: t0},
	}
	var settled store.LeaseSettlement
	err := s.InTx(ctxOf(t), func(tx store.Tx) error {
		if err := tx.AppendStepsLater(ctxOf(t), steps); err != nil {
			return err
		}
		page, err := tx.ListSteps(ctxOf(t), e.SID, store.PageParams{})
		if err != nil {
			return err
		}
		if len(page.Steps) != 2 || page.Steps[0].SID != steps[0].SID || page.Steps[1].Sequence != 2 {
			t.Errorf("steps seen by the next statement: %+v, want both deferred steps in order", page.Steps)
		}
		if err := tx.CancelTimersLater(ctxOf(t), e.SID, ""); err != nil {
			return err
		}
		if err := tx.ScheduleTimerLater(ctxOf(t), store.Timer{ExecutionSID: e.SID, Kind: store.TimerKindWaitTimeout, FireTime: t0.Add(time.Minute)}); err != nil {
			return err
		}
		if err := tx.MarkEventDoneLater(ctxOf(t), ev.ID, json.RawMessage(`{"disposition":"STARTED"}`), t0); err != nil {
			return err
		}
		// Settling sees the event marked done before it: none is left.
		return tx.SettleLeaseLater(ctxOf(t), name, "a", conv, t0, deferredTTL, &settled)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		if st.Sequence != int64(i+1) || st.FlowSID != f.SID || !st.CreateTime.Equal(t0) {
			t.Errorf("deferred step %d as reported: %+v, want sequence %d of flow %s", i, st, i+1, f.SID)
		}
	}
	diff(t, "deferred steps as stored", steps, must[store.StepPage](t)(s.ListSteps(ctxOf(t), e.SID, store.PageParams{})).Steps)
	if !settled.Released {
		t.Error("SettleLeaseLater reported the lease kept, with no event pending")
	}
	if got := must[store.Event](t)(s.GetEvent(ctxOf(t), ev.ID)); got.Status != store.EventStatusDone {
		t.Errorf("event after MarkEventDoneLater: %+v", got)
	}
	if l := must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "b", t0, deferredTTL)); l.TakenFrom != "" {
		t.Errorf("lease after release: %+v, want a free lease taken", l)
	}
	due := must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Owner: "c", Now: t0.Add(time.Hour), LeaseDuration: time.Minute}))
	if len(due) != 1 || due[0].Kind != store.TimerKindWaitTimeout {
		t.Errorf("timers after CancelTimersLater and ScheduleTimerLater: %+v, want the wait timeout alone", due)
	}

	// Outside InTx each runs at once.
	third := []store.Step{{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Name: "third", CreateTime: t0}}
	if err := s.AppendStepsLater(ctxOf(t), third); err != nil || third[0].Sequence != 3 {
		t.Errorf("AppendStepsLater outside InTx: %v, %+v", err, third[0])
	}
	wantErr(t, s.MarkEventDoneLater(ctxOf(t), ev.ID, nil, t0), store.ErrConflict)

	// AcquireLeaseLater: b holds the lease (taken above) until t0+deferredTTL.
	var mine, theirs, takenOver store.Lease
	if err := s.InTx(ctxOf(t), func(tx store.Tx) error {
		if err := tx.AcquireLeaseLater(ctxOf(t), name, "a", t0, deferredTTL, &theirs); err != nil {
			return err
		}
		return tx.AcquireLeaseLater(ctxOf(t), name, "b", t0.Add(time.Second), deferredTTL, &mine)
	}); err != nil {
		t.Fatal(err)
	}
	diff(t, "lease another owner holds", store.Lease{}, theirs)
	diff(t, "own lease extended", store.Lease{Name: name, Owner: "b", ExpireTime: t0.Add(time.Second + deferredTTL)}, mine)
	if err := s.AcquireLeaseLater(ctxOf(t), name, "a", t0.Add(time.Second+deferredTTL), deferredTTL, &takenOver); err != nil {
		t.Fatal(err)
	}
	diff(t, "expired lease taken over", store.Lease{Name: name, Owner: "a", ExpireTime: t0.Add(time.Second + 2*deferredTTL), TakenFrom: "b"}, takenOver)
}

// testDeferredExecutions checks the deferred execution writes: a step
// appended after a deferred creation finds the execution, and each reports
// the execution as the immediate write returns it.
func testDeferredExecutions(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	in := newExecution(f, newConversationSID(), "")
	steps := []store.Step{{SID: newSID(store.PrefixStep), ExecutionSID: in.SID, Name: "first", CreateTime: t0}}
	var created, updated store.Execution
	err := s.InTx(ctxOf(t), func(tx store.Tx) error {
		if err := tx.CreateExecutionLater(ctxOf(t), in, &created); err != nil {
			return err
		}
		if err := tx.AppendStepsLater(ctxOf(t), steps); err != nil {
			return err
		}
		return tx.UpdateExecutionLater(ctxOf(t), store.ExecutionUpdate{SID: in.SID, Version: 1, Status: store.ExecutionStatusEnded,
			EndedReason: store.EndedReasonFlowEnd, State: json.RawMessage(`{"done":true}`), Context: in.Context, UpdateTime: t0.Add(time.Second)}, &updated)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Version = 1
	diff(t, "created execution as reported", want, created)
	diff(t, "updated execution as reported", must[store.Execution](t)(s.GetExecution(ctxOf(t), in.SID)), updated)
	if updated.Version != 2 || updated.Status != store.ExecutionStatusEnded {
		t.Errorf("updated execution = %+v, want version 2, ended", updated)
	}
	if steps[0].Sequence != 1 {
		t.Errorf("step after the deferred creation: %+v", steps[0])
	}
}

// testDeferredFailure checks that a deferred write that fails fails its
// transaction, even when fn ignores the error and goes on, and that
// nothing of the transaction persists, neither before the write nor after.
func testDeferredFailure(t *testing.T, s store.Store) {
	f, e, name, done := leasedEvent(t, s)
	conv := e.ConversationSID
	must0(t, s.MarkEventDone(ctxOf(t), done.ID, nil, t0))
	pending, _ := must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, conv, "IM2", "")))
	taken := must[store.Step](t)(s.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID}))
	missing := newSID(store.PrefixExecution)

	ended := createExecution(t, s, f, newConversationSID(), "")
	ended = must[store.Execution](t)(s.UpdateExecution(ctxOf(t), store.ExecutionUpdate{SID: ended.SID, Version: ended.Version,
		Status: store.ExecutionStatusEnded, EndedReason: store.EndedReasonFlowEnd}))
	var (
		settled store.LeaseSettlement
		out     store.Execution
	)
	for _, tc := range []struct {
		name string
		want error
		fail func(tx store.Tx) error
		// check looks further at the error.
		check func(t *testing.T, err error)
	}{
		{"event_already_done", store.ErrConflict, func(tx store.Tx) error {
			return tx.MarkEventDoneLater(ctxOf(t), done.ID, nil, t0)
		}, nil},
		{"event_missing", store.ErrNotFound, func(tx store.Tx) error {
			return tx.MarkEventDoneLater(ctxOf(t), pending.ID+1000, nil, t0)
		}, nil},
		{"step_taken", store.ErrAlreadyExists, func(tx store.Tx) error {
			return tx.AppendStepsLater(ctxOf(t), []store.Step{{SID: taken.SID, ExecutionSID: e.SID}})
		}, nil},
		{"step_sequence_taken", store.ErrAlreadyExists, func(tx store.Tx) error {
			return tx.AppendStepsLater(ctxOf(t), []store.Step{{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Sequence: taken.Sequence}})
		}, nil},
		{"step_no_execution", store.ErrNotFound, func(tx store.Tx) error {
			return tx.AppendStepsLater(ctxOf(t), []store.Step{{SID: newSID(store.PrefixStep), ExecutionSID: missing}})
		}, nil},
		{"timer_no_execution", store.ErrNotFound, func(tx store.Tx) error {
			return tx.ScheduleTimerLater(ctxOf(t), store.Timer{ExecutionSID: missing, Kind: store.TimerKindLifetime, FireTime: t0})
		}, nil},
		{"lease_held", store.ErrLeaseLost, func(tx store.Tx) error {
			return tx.SettleLeaseLater(ctxOf(t), name, "b", conv, t0, deferredTTL, &settled)
		}, func(t *testing.T, err error) {
			var held *store.LeaseHeldError
			if !errors.As(err, &held) || held.Owner != "a" || !held.ExpireTime.Equal(t0.Add(deferredTTL)) {
				t.Errorf("error = %v, want *store.LeaseHeldError held by a until %s", err, t0.Add(deferredTTL))
			}
		}},
		{"no_lease", store.ErrLeaseLost, func(tx store.Tx) error {
			return tx.SettleLeaseLater(ctxOf(t), "conversation:"+newConversationSID(), "a", conv, t0, deferredTTL, &settled)
		}, func(t *testing.T, err error) { wantErr(t, err, store.ErrNotFound) }},
		{"execution_no_revision", store.ErrNotFound, func(tx store.Tx) error {
			x := newExecution(f, newConversationSID(), "")
			x.FlowRevision = 99
			return tx.CreateExecutionLater(ctxOf(t), x, &out)
		}, nil},
		{"execution_sid_taken", store.ErrAlreadyExists, func(tx store.Tx) error {
			x := newExecution(f, newConversationSID(), "")
			x.SID = e.SID
			return tx.CreateExecutionLater(ctxOf(t), x, &out)
		}, nil},
		{"execution_active", store.ErrAlreadyExists, func(tx store.Tx) error {
			return tx.CreateExecutionLater(ctxOf(t), newExecution(f, conv, ""), &out)
		}, func(t *testing.T, err error) {
			var active *store.ActiveExecutionError
			if !errors.As(err, &active) || active.ExecutionSID != e.SID || active.ConversationSID != conv {
				t.Errorf("error = %v, want *store.ActiveExecutionError naming %s in %s", err, e.SID, conv)
			}
		}},
		{"execution_stale_version", store.ErrConflict, func(tx store.Tx) error {
			return tx.UpdateExecutionLater(ctxOf(t), store.ExecutionUpdate{SID: e.SID, Version: 99, Status: store.ExecutionStatusActive}, &out)
		}, nil},
		{"execution_update_missing", store.ErrNotFound, func(tx store.Tx) error {
			return tx.UpdateExecutionLater(ctxOf(t), store.ExecutionUpdate{SID: missing, Version: 1, Status: store.ExecutionStatusActive}, &out)
		}, nil},
		{"execution_reactivated", store.ErrInvalidArgument, func(tx store.Tx) error {
			return tx.UpdateExecutionLater(ctxOf(t), store.ExecutionUpdate{SID: ended.SID, Version: ended.Version, Status: store.ExecutionStatusActive}, &out)
		}, nil},
		{"invalid_argument", store.ErrInvalidArgument, func(tx store.Tx) error {
			return tx.MarkEventDoneLater(ctxOf(t), pending.ID, json.RawMessage(`{`), t0)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := newExecution(f, newConversationSID(), "")
			err := s.InTx(ctxOf(t), func(tx store.Tx) error {
				if _, err := tx.CreateExecution(ctxOf(t), created); err != nil {
					return err
				}
				if err := tx.AppendStepsLater(ctxOf(t), []store.Step{{SID: newSID(store.PrefixStep), ExecutionSID: created.SID}}); err != nil {
					return err
				}
				// fn ignores the failure, and writes on: the store fails
				// the transaction all the same.
				_ = tc.fail(tx)
				_ = tx.MarkEventDoneLater(ctxOf(t), pending.ID, nil, t0)
				_, _ = tx.GetFlow(ctxOf(t), f.SID)
				return nil
			})
			wantErr(t, err, tc.want)
			if tc.check != nil {
				tc.check(t, err)
			}
			_, err = s.GetExecution(ctxOf(t), created.SID)
			wantErr(t, err, store.ErrNotFound)
			if got := must[store.Event](t)(s.GetEvent(ctxOf(t), pending.ID)); got.Status != store.EventStatusPending {
				t.Errorf("event marked done by a failed transaction: %+v", got)
			}
		})
	}
	if n := len(must[store.StepPage](t)(s.ListSteps(ctxOf(t), e.SID, store.PageParams{})).Steps); n != 1 {
		t.Errorf("%d steps after failed transactions, want 1", n)
	}
	// The store is still usable, and the lease still a's.
	if released, err := s.SettleLease(ctxOf(t), name, "a", conv, t0, deferredTTL); err != nil || released {
		t.Errorf("settling after the failures: %v, %v; want the lease kept for the pending event", released, err)
	}
}

func must0(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

func testTx(t *testing.T, s store.Store) {
	errAbort := errors.New("abort")
	f := newFlow(store.FlowStatusPublished)
	err := s.InTx(ctxOf(t), func(tx store.Tx) error {
		created := must[store.Flow](t)(tx.CreateFlow(ctxOf(t), f))
		// The transaction reads its own writes.
		diff(t, "flow inside tx", created, must[store.Flow](t)(tx.GetFlow(ctxOf(t), f.SID)))
		must[store.Execution](t)(tx.CreateExecution(ctxOf(t), newExecution(created, newConversationSID(), "")))
		return errAbort
	})
	if err != errAbort {
		t.Fatalf("InTx = %v, want fn's error unchanged", err)
	}
	_, err = s.GetFlow(ctxOf(t), f.SID)
	wantErr(t, err, store.ErrNotFound)

	// A panic rolls back, propagates, and leaves the store usable.
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the panic to propagate", p)
			}
		}()
		_ = s.InTx(ctxOf(t), func(tx store.Tx) error {
			must[store.Flow](t)(tx.CreateFlow(ctxOf(t), f))
			panic("boom")
		})
	}()
	_, err = s.GetFlow(ctxOf(t), f.SID)
	wantErr(t, err, store.ErrNotFound)

	// A store error inside fn can be handled without aborting.
	err = s.InTx(ctxOf(t), func(tx store.Tx) error {
		must[store.Flow](t)(tx.CreateFlow(ctxOf(t), f))
		if _, err := tx.CreateFlow(ctxOf(t), f); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("duplicate in tx: %v", err)
		}
		_, err := tx.UpdateFlow(ctxOf(t), store.FlowUpdate{SID: f.SID, FriendlyName: "v2", Status: store.FlowStatusPublished})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := must[store.Flow](t)(s.GetFlow(ctxOf(t), f.SID)); got.Revision != 2 || got.FriendlyName != "v2" {
		t.Errorf("committed flow = %+v", got)
	}

	// A cancelled context fails the transaction instead of committing.
	ctx, cancel := contextWithCancel(t)
	cancel()
	err = s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.CreateFlow(ctx, newFlow(store.FlowStatusDraft))
		return err
	})
	if err == nil {
		t.Error("InTx with a cancelled context succeeded")
	}
}

// testTxEngineStep commits what the service commits for one inbound message:
// the event, a new execution, three steps, a wait timer, a recorded send, and
// the event marked done, and checks the all-or-nothing behaviour.
func testTxEngineStep(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	conv := newConversationSID()
	ev, _ := must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, conv, "IM1", "tok1")))

	step := func(tx store.Tx, fail bool) error {
		head, err := tx.NextPendingEvent(ctxOf(t), conv)
		if err != nil {
			return err
		}
		e, err := tx.CreateExecution(ctxOf(t), newExecution(f, conv, "+15550100"))
		if err != nil {
			return err
		}
		var last store.Step
		for _, to := range []string{"check", "send", "ask"} {
			if last, err = tx.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Name: "incomingConversationMessage", TransitionedTo: to}); err != nil {
				return err
			}
		}
		if _, err := tx.RecordSend(ctxOf(t), store.Send{Key: last.SID, ExecutionSID: e.SID, Result: json.RawMessage(`{"sid":"IM2"}`)}); err != nil {
			return err
		}
		if _, err := tx.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e.SID, Kind: store.TimerKindWaitTimeout, FireTime: t0.Add(time.Hour)}); err != nil {
			return err
		}
		if _, err := tx.UpdateExecution(ctxOf(t), store.ExecutionUpdate{SID: e.SID, Version: e.Version, Status: store.ExecutionStatusActive, State: json.RawMessage(`{"waiting":"ask"}`)}); err != nil {
			return err
		}
		if fail {
			return tx.MarkEventDone(ctxOf(t), head.ID+1000, nil, t0)
		}
		return tx.MarkEventDone(ctxOf(t), head.ID, json.RawMessage(`{"execution_sid":"`+e.SID+`"}`), t0)
	}

	err := s.InTx(ctxOf(t), func(tx store.Tx) error { return step(tx, true) })
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.FindActiveExecutionByConversation(ctxOf(t), f.SID, conv); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed step left an execution behind: %v", err)
	}
	if head := must[store.Event](t)(s.NextPendingEvent(ctxOf(t), conv)); head.ID != ev.ID {
		t.Fatalf("failed step moved the queue head to %d", head.ID)
	}

	if err := s.InTx(ctxOf(t), func(tx store.Tx) error { return step(tx, false) }); err != nil {
		t.Fatal(err)
	}
	e := must[store.Execution](t)(s.FindActiveExecutionByConversation(ctxOf(t), f.SID, conv))
	if e.Version != 2 || string(e.State) != `{"waiting":"ask"}` {
		t.Errorf("execution after step = %+v", e)
	}
	steps := must[store.StepPage](t)(s.ListSteps(ctxOf(t), e.SID, store.PageParams{}))
	if len(steps.Steps) != 3 {
		t.Fatalf("steps = %d, want 3", len(steps.Steps))
	}
	must[store.Send](t)(s.GetSend(ctxOf(t), steps.Steps[2].SID))
	if got := must[store.Event](t)(s.GetEvent(ctxOf(t), ev.ID)); got.Status != store.EventStatusDone || string(got.Outcome) != `{"execution_sid":"`+e.SID+`"}` {
		t.Errorf("event after step = %+v", got)
	}
	_, err = s.NextPendingEvent(ctxOf(t), conv)
	wantErr(t, err, store.ErrNotFound)
	if n := must[int](t)(s.CancelTimers(ctxOf(t), e.SID, store.TimerKindWaitTimeout)); n != 1 {
		t.Errorf("wait timers = %d, want 1", n)
	}
}

func testTimes(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC-5", -5*3600)
	local := time.Date(2026, 3, 8, 1, 59, 59, 999999000, zone)
	f := newFlow(store.FlowStatusDraft)
	f.CreateTime, f.UpdateTime = local, local.Add(time.Microsecond)
	got := must[store.Flow](t)(s.CreateFlow(ctxOf(t), f))
	read := must[store.Flow](t)(s.GetFlow(ctxOf(t), f.SID))
	for _, tm := range []time.Time{got.CreateTime, got.UpdateTime, read.CreateTime, read.UpdateTime} {
		if tm.Location() != time.UTC {
			t.Errorf("time %v is not in UTC", tm)
		}
	}
	if !read.CreateTime.Equal(local) || !read.UpdateTime.Equal(local.Add(time.Microsecond)) {
		t.Errorf("times = %v, %v; want %v, %v", read.CreateTime, read.UpdateTime, local, local.Add(time.Microsecond))
	}
	// Finer than a microsecond is truncated, identically on write and read.
	e := newExecution(got, newConversationSID(), "")
	e.CreateTime = t0.Add(999 * time.Nanosecond)
	created := must[store.Execution](t)(s.CreateExecution(ctxOf(t), e))
	diff(t, "truncated time", t0, created.CreateTime)
	diff(t, "truncated time, read back", t0, must[store.Execution](t)(s.GetExecution(ctxOf(t), e.SID)).CreateTime)
	diff(t, "Normalize", t0, store.Normalize(e.CreateTime))
	// Times before 1970 and far ahead survive too.
	for _, tm := range []time.Time{time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)} {
		ex := newExecution(got, newConversationSID(), "")
		ex.Status, ex.CreateTime = store.ExecutionStatusEnded, tm
		diff(t, "extreme time", tm, must[store.Execution](t)(s.CreateExecution(ctxOf(t), ex)).CreateTime)
	}
}

// testTxConcurrent runs many transactions at once, some failing by error,
// panic or a store error half-way: exactly the successful ones must be
// visible, whatever the store does to commit them (a store may commit
// concurrent transactions together).
func testTxConcurrent(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	const callers = 48
	errFail := errors.New("caller failed")
	type result struct {
		exec store.Execution
		err  error
	}
	results := make([]result, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			e := newExecution(f, newConversationSID(), "")
			defer func() {
				if p := recover(); p != nil {
					results[i] = result{exec: e, err: fmt.Errorf("panic: %v", p)}
				}
			}()
			err := s.InTx(ctxOf(t), func(tx store.Tx) error {
				created, err := tx.CreateExecution(ctxOf(t), e)
				if err != nil {
					return err
				}
				if _, err := tx.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: created.SID}); err != nil {
					return err
				}
				switch i % 4 {
				case 1:
					return errFail
				case 2:
					panic("caller panicked")
				case 3:
					// A store error half-way, handled by failing the tx.
					_, err := tx.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: created.SID, Sequence: 1})
					return err
				}
				return nil
			})
			results[i] = result{exec: e, err: err}
		})
	}
	wg.Wait()
	for i, r := range results {
		_, getErr := s.GetExecution(ctxOf(t), r.exec.SID)
		switch i % 4 {
		case 0:
			if r.err != nil || getErr != nil {
				t.Errorf("caller %d: InTx = %v, read = %v; want committed", i, r.err, getErr)
			}
			if page := must[store.StepPage](t)(s.ListSteps(ctxOf(t), r.exec.SID, store.PageParams{})); len(page.Steps) != 1 {
				t.Errorf("caller %d: %d steps, want 1", i, len(page.Steps))
			}
		default:
			if r.err == nil || !errors.Is(getErr, store.ErrNotFound) {
				t.Errorf("caller %d: InTx = %v, read = %v; want an error and nothing committed", i, r.err, getErr)
			}
		}
		if i%4 == 1 && !errors.Is(r.err, errFail) {
			t.Errorf("caller %d: InTx = %v, want fn's error", i, r.err)
		}
		if i%4 == 3 && !errors.Is(r.err, store.ErrAlreadyExists) {
			t.Errorf("caller %d: InTx = %v, want ErrAlreadyExists", i, r.err)
		}
	}
}

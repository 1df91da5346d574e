package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// timerWorkers bounds how many timers one replica fires at once: a timeout
// runs widgets, which may call HTTP and the Conversations API.
const timerWorkers = 16

// timerLoop claims due timers every TimerInterval and fires them. Timers
// live in the store, so those armed before a restart fire after it, on
// whichever replica claims them first; a claim that is not completed (the
// replica died) expires and the timer is claimed again.
func (r *Runner) timerLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.TimerInterval)
	defer t.Stop()
	sem := make(chan struct{}, timerWorkers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		for ctx.Err() == nil {
			timers, err := r.st.ClaimDueTimers(ctx, store.ClaimTimersParams{Now: r.now(), Owner: r.cfg.Owner, LeaseDuration: timerClaimTTL, Limit: timerWorkers})
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("claiming due timers", "err", err)
				}
				break
			}
			for _, tm := range timers {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					defer func() {
						if p := recover(); p != nil {
							// The claim expires and the timer is retried.
							r.log.Error("panic firing a timer", "timer_id", tm.ID, "panic", p, "stack", string(debug.Stack()))
						}
					}()
					if err := r.fireTimer(ctx, tm); err != nil && ctx.Err() == nil {
						// The claim expires and the timer is claimed again.
						r.log.Error("firing a timer", "timer_id", tm.ID, "kind", tm.Kind, "execution_sid", tm.ExecutionSID, "err", err)
					}
				}()
			}
			if len(timers) < timerWorkers {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fireTimer runs one claimed timer: a send-and-wait timeout resumes the
// execution with its timeout transition, a LIFETIME timer ends it. A timer
// the execution no longer needs (it moved on, ended, or is gone) is deleted.
func (r *Runner) fireTimer(ctx context.Context, tm store.Timer) error {
	deleteTimer := func(tx store.Tx) error {
		err := tx.DeleteTimer(ctx, tm.ID, r.cfg.Owner)
		if errors.Is(err, store.ErrNotFound) {
			// The commit replaced it (a new wait) or cancelled it (ended).
			return nil
		}
		return err
	}
	for try := 0; ; try++ {
		err := r.fireTimerOnce(ctx, tm, deleteTimer)
		if errors.Is(err, store.ErrConflict) && try < 5 {
			// A reply or the API moved the execution meanwhile: read again.
			continue
		}
		return err
	}
}

func (r *Runner) fireTimerOnce(ctx context.Context, tm store.Timer, deleteTimer func(store.Tx) error) error {
	row, err := r.st.GetExecution(ctx, tm.ExecutionSID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted with its timers
	}
	if err != nil {
		return err
	}
	if row.Status == store.ExecutionStatusEnded {
		return r.st.InTx(ctx, deleteTimer)
	}
	switch tm.Kind {
	case store.TimerKindLifetime:
		_, err := r.endRow(ctx, row, engine.EndedLifetime, deleteTimer)
		return err
	case store.TimerKindWaitTimeout:
	default:
		r.log.Warn("dropping a timer of unknown kind", "timer_id", tm.ID, "kind", tm.Kind)
		return r.st.InTx(ctx, deleteTimer)
	}
	var p waitPayload
	if err := json.Unmarshal(tm.Payload, &p); err != nil {
		r.log.Warn("dropping a timer with an unreadable payload", "timer_id", tm.ID, "err", err)
		return r.st.InTx(ctx, deleteTimer)
	}
	if len(row.State) == 0 {
		return r.st.InTx(ctx, deleteTimer)
	}
	x, err := decodeExecution(row)
	if err != nil {
		return err
	}
	def, err := r.definition(ctx, row.FlowSID, row.FlowRevision)
	if err != nil {
		return err
	}
	at := &attempt{cause: fmt.Sprintf("tm%dv%d", tm.ID, row.Version), row: row, persisted: true, version: row.Version}
	res, err := r.resume(ctx, at, def, x, engine.Resume{Kind: engine.ResumeTimeout, Widget: p.Widget})
	switch {
	case errors.Is(err, engine.ErrTimeoutNotDue):
		// Fired a hair early (the store keeps microseconds, the engine's
		// deadline may have nanoseconds): arm it again at the deadline.
		return r.st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.ScheduleTimer(ctx, store.Timer{ExecutionSID: tm.ExecutionSID, Kind: tm.Kind, FireTime: fireTime(x.Wait.Until), Payload: tm.Payload, CreateTime: r.now()})
			return err
		})
	case errors.Is(err, engine.ErrNotWaiting), errors.Is(err, engine.ErrEnded):
		// A timer of an earlier wait.
		return r.st.InTx(ctx, deleteTimer)
	case errors.Is(err, engine.ErrInvalidDefinition):
		r.log.Error("dropping the timeout of an execution whose definition the engine refuses", "timer_id", tm.ID, "execution_sid", tm.ExecutionSID, "err", err)
		return r.st.InTx(ctx, deleteTimer)
	case err != nil:
		return err
	}
	_, err = r.commit(ctx, at, res, deleteTimer)
	return err
}

// fireTime rounds a deadline up to the store's microsecond precision, so a
// timer never fires before the engine's deadline.
func fireTime(t time.Time) time.Time {
	if tr := t.Truncate(time.Microsecond); tr.Before(t) {
		return tr.Add(time.Microsecond)
	}
	return t
}

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// timerWorkers bounds how many timers one replica fires at once: a timeout
// runs widgets, which may call HTTP and the Conversations API.
const timerWorkers = 16

// timerLoop claims due timers every TimerInterval (and when another replica
// announces it handed timers back) and fires them. Timers live in the store,
// so those armed before a restart fire after it, on whichever replica claims
// them first; the heartbeat renews the claims of the timers in progress, and
// a claim whose replica died expires after LeaseTTL, when the timer is
// claimed again. Once the runner drains, no timer is claimed, and claimed
// timers that have not started are left to the hand-back.
func (r *Runner) timerLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.TimerInterval)
	defer t.Stop()
	sem := make(chan struct{}, timerWorkers)
	for {
		for ctx.Err() == nil && !r.isDraining() {
			now := r.now()
			timers, err := r.st.ClaimDueTimers(ctx, store.ClaimTimersParams{Now: now, Owner: r.cfg.Owner, LeaseDuration: r.cfg.LeaseTTL, Limit: timerWorkers})
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("claiming due timers", "err", err)
				}
				break
			}
			// Every claim is renewed from now on, those waiting for a
			// free worker included.
			claims := make([]*held, len(timers))
			cancels := make([]context.CancelFunc, len(timers))
			fctxs := make([]context.Context, len(timers))
			for i, tm := range timers {
				claims[i] = &held{}
				fctxs[i], cancels[i] = context.WithCancel(ctx)
				r.take(claims[i], now, cancels[i])
				r.mu.Lock()
				r.firing[tm.ID] = claims[i]
				r.mu.Unlock()
			}
			for i, tm := range timers {
				h, fctx, cancel := claims[i], fctxs[i], cancels[i]
				release := func() {
					cancel()
					r.mu.Lock()
					delete(r.firing, tm.ID)
					r.mu.Unlock()
				}
				if r.isDraining() {
					release()
					continue
				}
				select {
				case sem <- struct{}{}:
				case <-r.draining:
					// Left to the hand-back.
					release()
					continue
				}
				r.timerWG.Add(1)
				go func() {
					defer r.timerWG.Done()
					defer func() { <-sem }()
					defer release()
					defer func() {
						if p := recover(); p != nil {
							// The claim expires and the timer is retried.
							r.log.Error("panic firing a timer", "timer_id", tm.ID, "panic", p, "stack", string(debug.Stack()))
						}
					}()
					g := &guard{
						// A timer claimed before may have been fired
						// half-way by a replica that died.
						suspect:    tm.Claims > 1,
						validUntil: func() time.Time { return r.until(h) },
						lost:       func() {},
					}
					if err := r.fireTimer(withGuard(fctx, g), tm); err != nil && fctx.Err() == nil {
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
		case <-r.timerWake:
		}
	}
}

// fireTimer runs one claimed timer: a send-and-wait timeout resumes the
// execution with its timeout transition, a LIFETIME timer ends it. A timer
// the execution no longer needs (it moved on, ended, or is gone) is deleted.
func (r *Runner) fireTimer(ctx context.Context, tm store.Timer) (err error) {
	ctx, span := r.tracer.Start(ctx, "flow.timer", trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
		attribute.String("convoflow.execution_sid", tm.ExecutionSID), attribute.String("convoflow.timer_kind", string(tm.Kind))))
	defer func() { endSpan(span, err) }()
	deleteTimer := func(tx store.Tx) error {
		err := tx.DeleteTimer(ctx, tm.ID, r.cfg.Owner)
		if errors.Is(err, store.ErrNotFound) {
			// The commit replaced it (a new wait) or cancelled it (ended).
			return nil
		}
		return err
	}
	for try := 0; ; try++ {
		err = r.fireTimerOnce(ctx, tm, deleteTimer)
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

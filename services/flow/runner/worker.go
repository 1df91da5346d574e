package runner

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

// worker processes one conversation's events, one at a time, in arrival
// order. At most one worker per conversation runs in a process (the workers
// map), and at most one across replicas (the conversation's store lease,
// also checked inside every commit so a replica that lost its lease cannot
// commit).
type worker struct {
	// wake is signalled when an event was recorded for the conversation;
	// the worker drains it before each look at the queue.
	wake chan struct{}
	conv string
}

// errLeaseLost fails a commit made after the conversation's lease went to
// another replica.
var errLeaseLost = errors.New("runner: the conversation's lease was lost")

// kick makes sure a worker processes the conversation's queue.
func (r *Runner) kick(conversationSid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.workers[conversationSid]; w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
		return
	}
	if r.stopped {
		return
	}
	w := &worker{wake: make(chan struct{}, 1), conv: conversationSid}
	r.workers[conversationSid] = w
	r.workerWG.Add(1)
	go func() {
		defer r.workerWG.Done()
		r.runWorker(conversationSid, w)
	}()
}

func (r *Runner) runWorker(conv string, w *worker) {
	ctx := r.ctx
	for {
		if !r.holdLease(ctx, conv, w) {
			r.mu.Lock()
			delete(r.workers, conv)
			r.mu.Unlock()
			return
		}
		// The queue is drained and the lease released. An event another
		// replica recorded while we held the lease found it taken, so its
		// replica gave up: look once more now that the lease is free.
		if _, err := r.st.NextPendingEvent(ctx, conv); err == nil {
			continue
		}
		// A kick that came in meanwhile means there is more to do.
		r.mu.Lock()
		select {
		case <-w.wake:
			r.mu.Unlock()
			continue
		default:
		}
		delete(r.workers, conv)
		r.mu.Unlock()
		return
	}
}

// holdLease takes the conversation's lease, drains its queue, and releases
// the lease. It reports false when the worker must stop without looking
// again (the lease is another replica's, or the runner stops).
func (r *Runner) holdLease(ctx context.Context, conv string, w *worker) bool {
	name := conversationLease(conv)
	owner := r.cfg.Owner
	if _, err := r.st.AcquireLease(ctx, name, owner, r.now(), r.cfg.LeaseTTL); err != nil {
		var held *store.LeaseHeldError
		if !errors.As(err, &held) && ctx.Err() == nil {
			r.log.Warn("taking a conversation's lease", "conversation_sid", conv, "err", err)
		}
		// Another replica works on it (it sees new events in the store),
		// or the store failed: the rescan loop comes back to it.
		return false
	}
	wctx, cancel := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		r.renewLease(wctx, cancel, name)
	}()
	defer func() {
		cancel()
		<-renewed
		rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer stop()
		if err := r.st.ReleaseLease(rctx, name, owner); err != nil {
			r.log.Warn("releasing a conversation's lease", "conversation_sid", conv, "err", err)
		}
	}()
	fence := func(tx store.Tx) error {
		if _, err := tx.RenewLease(wctx, name, owner, r.now(), r.cfg.LeaseTTL); err != nil {
			return fmt.Errorf("%w: %w", errLeaseLost, err)
		}
		return nil
	}
	backoff := retryMin
	conflicts := 0
	for {
		select {
		case <-w.wake:
		default:
		}
		e, err := r.st.NextPendingEvent(wctx, conv)
		if errors.Is(err, store.ErrNotFound) {
			if r.linger(wctx, w) {
				continue
			}
			return true
		}
		if err == nil {
			err = r.processEventSafely(wctx, e, fence)
			if err == nil {
				backoff, conflicts = retryMin, 0
				r.notifyDone(conv)
				continue
			}
		}
		if wctx.Err() != nil || errors.Is(err, errLeaseLost) {
			// Stopping, or the lease was lost: whoever holds it goes on,
			// and the rescan loop comes back if nobody does.
			return false
		}
		if errors.Is(err, store.ErrConflict) && conflicts < 3 {
			// A version conflict (the API ended the execution, a timer
			// fired) or an event done elsewhere: look again at once, a
			// few times, then with backoff.
			conflicts++
			continue
		}
		conflicts = 0
		r.log.Error("processing a conversation event; retrying", "conversation_sid", conv, "event_id", e.ID, "retry_in", backoff, "err", err)
		select {
		case <-wctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, retryMax)
	}
}

// linger keeps a drained conversation's lease for leaseLinger, so a
// conversation exchanging messages does not take and release its lease for
// every one (two write transactions). It reports true when there may be new
// events: a local kick, or, checked every lingerPoll, one recorded by
// another replica (which cannot take the lease meanwhile).
func (r *Runner) linger(ctx context.Context, w *worker) bool {
	deadline := time.NewTimer(leaseLinger)
	defer deadline.Stop()
	poll := time.NewTicker(lingerPoll)
	defer poll.Stop()
	for {
		select {
		case <-w.wake:
			return true
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-poll.C:
			if _, err := r.st.NextPendingEvent(ctx, w.conv); err == nil {
				return true
			}
		}
	}
}

// processEventSafely is processEvent with a panic (an engine bug on some
// input) turned into an error: the event is retried with backoff and the
// other conversations go on, instead of the whole service dying.
func (r *Runner) processEventSafely(ctx context.Context, e store.Event, fence func(store.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("runner: panic processing event %d: %v\n%s", e.ID, p, debug.Stack())
		}
	}()
	return r.processEvent(ctx, e, fence)
}

// renewLease keeps the lease while the worker runs, and cancels the worker
// when it is lost.
func (r *Runner) renewLease(ctx context.Context, cancel context.CancelFunc, name string) {
	t := time.NewTicker(r.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.st.RenewLease(ctx, name, r.cfg.Owner, r.now(), r.cfg.LeaseTTL); err != nil {
			if ctx.Err() != nil {
				return
			}
			var held *store.LeaseHeldError
			if errors.As(err, &held) || errors.Is(err, store.ErrNotFound) {
				r.log.Warn("lost a conversation's lease", "lease", name, "err", err)
				cancel()
				return
			}
			r.log.Warn("renewing a conversation's lease", "lease", name, "err", err)
		}
	}
}

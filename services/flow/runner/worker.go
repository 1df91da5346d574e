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
// renewed by the heartbeat and checked inside every commit so a replica that
// lost its lease cannot commit).
type worker struct {
	// wake is signalled when an event was recorded for the conversation;
	// the worker drains it before each look at the queue.
	wake chan struct{}
	conv string
	// leased says the worker starts with the conversation's lease already
	// taken (by the transaction that recorded the event); only the
	// worker's goroutine reads and clears it.
	leased bool
	// lease is the conversation's lease as the heartbeat sees it.
	lease held
	// head is the conversation's first pending event, when the event
	// that started the worker with the lease is known to be it; the
	// worker's first look at the queue takes it instead of reading it.
	// Only the worker's goroutine reads and clears it.
	head *store.Event
	// quiet says that the commit which gave the lease back found, in the
	// store's look after it, no event pending (see runWorker); only the
	// worker's goroutine reads and clears it.
	quiet bool
}

// errLeaseLost fails a send made when the conversation's lease might have
// gone to another replica. A commit made after it went fails with
// store.ErrLeaseLost (the fence's SettleLeaseLater).
var errLeaseLost = errors.New("runner: the conversation's lease was lost")

// kick makes sure a worker processes the conversation's queue. leased says
// the caller took the conversation's lease for this replica: a new worker
// starts with it, and a running worker holds it already (or takes it again
// before it looks at the queue once more). head, when not nil, is the
// queue's first pending event, recorded in the commit that took the lease:
// a new worker starts with it rather than read it.
func (r *Runner) kick(conversationSid string, leased bool, head *store.Event) {
	r.mu.Lock()
	if w := r.workers[conversationSid]; w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
		r.mu.Unlock()
		return
	}
	if r.stopped {
		r.mu.Unlock()
		if leased {
			// No worker will use it: give it back now rather than make
			// the next replica (or this service restarted) wait it out.
			r.releaseLease(conversationSid)
		}
		return
	}
	w := &worker{wake: make(chan struct{}, 1), conv: conversationSid, leased: leased}
	if leased {
		w.head = head
	}
	r.workers[conversationSid] = w
	r.workerWG.Add(1)
	r.mu.Unlock()
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
		// replica gave up: look once more now that the lease is free,
		// unless the store looked already, after the commit that released
		// it.
		quiet := w.quiet
		w.quiet = false
		if !quiet {
			if _, err := r.st.NextPendingEvent(ctx, conv); err == nil {
				continue
			}
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

// holdLease takes the conversation's lease (unless the worker starts with
// it), drains its queue, and gives the lease back: in the commit of the
// event that empties the queue, or after lingering. It reports false when
// the worker must stop without looking again (the lease is another
// replica's, or the runner stops).
func (r *Runner) holdLease(ctx context.Context, conv string, w *worker) bool {
	name := conversationLease(conv)
	owner := r.cfg.Owner
	leased := w.leased
	w.leased = false
	takenAt := r.now()
	if !leased {
		_, ok, err := r.takeLease(ctx, r.st, conv)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("taking a conversation's lease", "conversation_sid", conv, "err", err)
		}
		if !ok {
			// Another replica works on it (it sees new events in the
			// store), or the store failed: the rescan loop comes back to
			// it.
			return false
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	r.take(&w.lease, takenAt, cancel)
	// settled is set by a commit's fence, and read once that commit
	// succeeded: handedBack says the commit gave the lease back.
	var settled store.LeaseSettlement
	handedBack := false
	defer func() {
		cancel()
		r.drop(&w.lease)
		if !handedBack {
			r.releaseLease(conv)
		}
	}()
	// fence runs last in the commit of each event: it fails the commit if
	// the lease went to another replica, and gives the lease back when no
	// event is left, so a conversation that goes quiet costs no
	// transaction of its own. An event recorded later takes the lease
	// again in the transaction that records it.
	//
	// It is deferred, like the commit's other writes, so that it travels
	// with the COMMIT, and a lost lease fails the commit with
	// store.ErrLeaseLost.
	fence := func(tx store.Tx) error {
		return tx.SettleLeaseLater(wctx, name, owner, conv, r.now(), r.cfg.LeaseTTL, &settled)
	}
	g := &guard{
		validUntil: func() time.Time { return r.until(&w.lease) },
		lost:       func() { r.setSuspect(conv, true) },
	}
	backoff := retryMin
	conflicts := 0
	for {
		select {
		case <-w.wake:
		default:
		}
		if r.isDraining() {
			// Stopping: what is left goes to another replica (or to this
			// service restarted), announced by releaseLease.
			return false
		}
		var e store.Event
		var err error
		if w.head != nil {
			e, w.head = *w.head, nil
		} else {
			e, err = r.st.NextPendingEvent(wctx, conv)
		}
		if errors.Is(err, store.ErrNotFound) {
			if r.linger(wctx, w) {
				continue
			}
			return true
		}
		if err == nil {
			g.suspect = r.isSuspect(conv)
			settled = store.LeaseSettlement{}
			err = r.processEventSafely(withGuard(wctx, g), e, fence)
			if err == nil {
				backoff, conflicts = retryMin, 0
				r.notifyDone(conv)
				handedBack = settled.Released
				if handedBack {
					w.quiet = !settled.PendingAfter
					// Everything pending when the conversation became
					// suspect is done. runWorker looks once more for
					// events recorded since, unless the store's look
					// after the commit found none.
					r.setSuspect(conv, false)
					return true
				}
				continue
			}
			handedBack = false
			// The attempt may have sent messages it did not record.
			r.setSuspect(conv, true)
		}
		if wctx.Err() != nil || errors.Is(err, errLeaseLost) || errors.Is(err, store.ErrLeaseLost) {
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

// linger keeps the lease of a conversation whose queue the worker found
// empty without committing an event (the commit that empties a queue gives
// the lease back itself, see holdLease) for leaseLinger. It reports true
// when there may be new events: a local kick, or, checked every lingerPoll,
// one recorded by another replica (which cannot take the lease meanwhile).
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
		case <-r.draining:
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

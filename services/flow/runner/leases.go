package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

// Leases, heartbeats and takeovers.
//
// A replica holds a conversation's queue with a store lease and a timer it
// fires with a store claim, both Config.LeaseTTL long. One heartbeat
// transaction every heartbeatEvery renews all of them (store.RenewLeases,
// store.ExtendTimerClaims), so a replica that dies leaves its work to the
// others within one TTL, whatever the number of conversations it held, and a
// live replica pays one transaction per heartbeat rather than one per
// conversation.
//
// A replica works on a conversation only while its lease is certainly still
// its own: each holder keeps the time up to which it is (the last renewal
// plus the TTL, less leaseMargin for clock drift between replicas), a send
// is refused past it and bounded by it, and a renewal that finds the lease
// gone stops the holder. Commits check the lease too (the worker's fence).
//
// A conversation is suspect when this replica cannot know what was already
// sent for its pending events: it took the lease over from another owner
// whose lease expired (store.Lease.TakenFrom), or an attempt of its own
// failed half-way. Attempts on a suspect conversation look in the
// conversation for a message with their send key before sending (see
// onceMessenger), which closes the window between the Conversations API
// creating a message and the send record's commit. A replica that leaves a
// suspect conversation ends its lease without deleting it (expireLease), so
// the next holder learns of the takeover as well. A timer claimed more than
// once is suspect the same way (store.Timer.Claims).

// heartbeatDivisor sets the heartbeat period: LeaseTTL/heartbeatDivisor, so
// a renewal can fail a few times in a row before a lease runs out.
const heartbeatDivisor = 5

// leaseMargin is how long before its recorded expiry a holder stops
// trusting its lease: other replicas judge expiry by their own clocks.
func (r *Runner) leaseMargin() time.Duration { return r.cfg.LeaseTTL / heartbeatDivisor }

// guard is what an engine call may do under the lease or claim it runs in,
// carried in its context for the send guard (onceMessenger).
type guard struct {
	// suspect makes sends look for an earlier attempt's message first.
	suspect bool
	// validUntil returns the time up to which the lease or claim is
	// certainly held; nil for calls outside any (REST starts).
	validUntil func() time.Time
	// lost marks the conversation suspect when a send ran out of lease.
	lost func()
}

type guardKey struct{}

func withGuard(ctx context.Context, g *guard) context.Context {
	return context.WithValue(ctx, guardKey{}, g)
}

func guardFrom(ctx context.Context) *guard {
	g, _ := ctx.Value(guardKey{}).(*guard)
	return g
}

// held is a lease or timer claim this replica holds, as the heartbeat
// renews it. Its fields are guarded by Runner.mu.
type held struct {
	// epoch grows whenever the holder takes or gives up the lease, so a
	// heartbeat that read an older epoch leaves it alone.
	epoch uint64
	// holding says the lease is taken.
	holding bool
	// validUntil is the last renewal's time plus the TTL, less leaseMargin.
	validUntil time.Time
	// cancel stops the holder when the lease turns out to be lost.
	cancel context.CancelFunc
}

// take records a lease taken (or a timer claimed) at now.
func (r *Runner) take(h *held, now time.Time, cancel context.CancelFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.epoch++
	h.holding = true
	h.validUntil = now.Add(r.cfg.LeaseTTL - r.leaseMargin())
	h.cancel = cancel
}

// drop records that the lease was given up.
func (r *Runner) drop(h *held) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.epoch++
	h.holding = false
}

// until returns h's validity.
func (r *Runner) until(h *held) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !h.holding {
		return time.Time{}
	}
	return h.validUntil
}

// heartbeatLoop renews this replica's leases and timer claims until ctx
// ends.
func (r *Runner) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.LeaseTTL / heartbeatDivisor)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.heartbeat(ctx)
	}
}

// heartbeat renews, in one transaction, every lease and timer claim held at
// its start, extends their validity, and stops the holders of those that
// turned out to be lost.
func (r *Runner) heartbeat(ctx context.Context) {
	type snapshot struct {
		h     *held
		epoch uint64
	}
	leases := map[string]snapshot{}
	claims := map[int64]snapshot{}
	r.mu.Lock()
	for conv, w := range r.workers {
		if w.lease.holding {
			leases[conversationLease(conv)] = snapshot{&w.lease, w.lease.epoch}
		}
	}
	for id, h := range r.firing {
		if h.holding {
			claims[id] = snapshot{h, h.epoch}
		}
	}
	r.mu.Unlock()
	if len(leases) == 0 && len(claims) == 0 {
		return
	}
	names := make([]string, 0, len(leases))
	for name := range leases {
		names = append(names, name)
	}
	ids := make([]int64, 0, len(claims))
	for id := range claims {
		ids = append(ids, id)
	}
	now := r.now()
	var renewed []string
	var extended []int64
	err := r.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		if renewed, err = tx.RenewLeases(ctx, r.cfg.Owner, names, now, r.cfg.LeaseTTL); err != nil {
			return err
		}
		extended, err = tx.ExtendTimerClaims(ctx, r.cfg.Owner, ids, now, r.cfg.LeaseTTL)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("renewing leases and timer claims", "leases", len(names), "timers", len(ids), "err", err)
		}
		return
	}
	until := now.Add(r.cfg.LeaseTTL - r.leaseMargin())
	update := func(what string, s snapshot, ok bool) {
		if s.h.epoch != s.epoch || !s.h.holding {
			return // taken or given up again meanwhile
		}
		if ok {
			s.h.validUntil = until
			return
		}
		r.log.Warn("lost a lease to another replica", "lease", what)
		s.h.holding = false
		s.h.epoch++
		s.h.cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range renewed {
		if s, ok := leases[name]; ok {
			update(name, s, true)
			delete(leases, name)
		}
	}
	for name, s := range leases {
		update(name, s, false)
	}
	for _, id := range extended {
		if s, ok := claims[id]; ok {
			update(fmt.Sprintf("timer %d", id), s, true)
			delete(claims, id)
		}
	}
	for id, s := range claims {
		update(fmt.Sprintf("timer %d", id), s, false)
	}
}

// takeLease takes the conversation's lease for this replica in tx (or
// directly in the store), and reports false when another replica holds it.
// A lease taken over from a replica that let it expire makes the
// conversation suspect.
func (r *Runner) takeLease(ctx context.Context, tx store.Tx, conv string) (store.Lease, bool, error) {
	l, err := tx.AcquireLease(ctx, conversationLease(conv), r.cfg.Owner, r.now(), r.cfg.LeaseTTL)
	var heldErr *store.LeaseHeldError
	switch {
	case err == nil:
		r.tookLease(conv, l)
		return l, true, nil
	case errors.As(err, &heldErr):
		return store.Lease{}, false, nil
	default:
		return store.Lease{}, false, err
	}
}

// tookLease notes a conversation's lease taken: one taken over from
// another replica makes the conversation suspect.
func (r *Runner) tookLease(conv string, l store.Lease) {
	if l.TakenFrom != "" {
		r.setSuspect(conv, true)
		r.m.takeovers.Inc()
	}
}

// setSuspect marks or clears a conversation as suspect (see above).
func (r *Runner) setSuspect(conv string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		r.suspects[conv] = true
	} else {
		delete(r.suspects, conv)
	}
}

func (r *Runner) isSuspect(conv string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.suspects[conv]
}

// releaseLease gives the conversation's lease back when the worker stops:
// deleted when everything this replica did for the conversation is
// committed, otherwise ended but kept (expireLease), so the next holder
// knows it takes over. Events still pending are announced to the other
// replicas, which take them at once. It is bounded in time and detached
// from the runner's context (it runs while the runner stops).
func (r *Runner) releaseLease(conv string) {
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	name := conversationLease(conv)
	suspect := r.isSuspect(conv)
	err := r.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		if suspect {
			err = expireLease(ctx, tx, name, r.cfg.Owner, r.now(), r.cfg.LeaseTTL)
		} else {
			err = tx.ReleaseLease(ctx, name, r.cfg.Owner)
		}
		var heldErr *store.LeaseHeldError
		switch {
		case errors.As(err, &heldErr), errors.Is(err, store.ErrNotFound):
			// Another replica has it already, or it is gone.
			return nil
		case err != nil:
			return err
		}
		if _, err := tx.NextPendingEvent(ctx, conv); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return tx.Notify(ctx, conv)
	})
	if err != nil {
		r.log.Warn("releasing a conversation's lease", "conversation_sid", conv, "err", err)
	}
}

// expireLease ends owner's lease at now but keeps its record, so whoever
// takes it next sees whom it took it from: a renewal whose expiry is now.
func expireLease(ctx context.Context, tx store.Tx, name, owner string, now time.Time, ttl time.Duration) error {
	_, err := tx.RenewLease(ctx, name, owner, now.Add(-ttl), ttl)
	return err
}

// handBack ends whatever leases and timer claims this replica still holds
// once it has stopped, so the other replicas need not wait for them to
// expire, and tells them timers are free.
func (r *Runner) handBack() {
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	var n int
	err := r.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		if n, err = tx.ExpireLeases(ctx, r.cfg.Owner, r.now()); err != nil || n == 0 {
			return err
		}
		return tx.Notify(ctx, "")
	})
	switch {
	case err != nil:
		r.log.Warn("handing back leases and timer claims", "err", err)
	case n > 0:
		r.log.Info("handed back leases and timer claims", "count", n)
	}
}

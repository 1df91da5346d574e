package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

// The tests below cover what replicas need to take over each other's work
// quickly: heartbeats that renew all of a replica's leases and timer claims
// at once, a hand-back that ends them at once, the scan for queues nobody
// works on, and announcements of handed-back work.

func testLeaseRenewMany(t *testing.T, s store.Store) {
	const ttl = 5 * time.Second
	for _, name := range []string{"conv/a", "conv/b", "conv/c"} {
		must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "r1", t0, ttl))
	}
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), "conv/other", "r2", t0, ttl))
	// conv/c expires and r2 takes it over; conv/b expires and nobody does.
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), "conv/c", "r2", t0.Add(ttl), ttl))
	if err := s.ReleaseLease(ctxOf(t), "conv/a", "r1"); err != nil {
		t.Fatal(err)
	}
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), "conv/a", "r1", t0.Add(time.Second), ttl))

	now := t0.Add(6 * time.Second)
	got := must[[]string](t)(s.RenewLeases(ctxOf(t), "r1", []string{"conv/a", "conv/b", "conv/c", "conv/other", "conv/missing"}, now, ttl))
	slices.Sort(got)
	diff(t, "renewed leases", []string{"conv/a", "conv/b"}, got)
	// Renewed until now+ttl: another owner is kept out until then.
	for _, name := range got {
		_, err := s.AcquireLease(ctxOf(t), name, "r3", now.Add(ttl-time.Microsecond), ttl)
		wantErr(t, err, store.ErrConflict)
		must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "r3", now.Add(ttl), ttl))
	}
	// Nothing else moved.
	_, err := s.AcquireLease(ctxOf(t), "conv/c", "r3", t0.Add(2*ttl-time.Microsecond), ttl)
	wantErr(t, err, store.ErrConflict)

	if got := must[[]string](t)(s.RenewLeases(ctxOf(t), "r1", nil, now, ttl)); len(got) != 0 {
		t.Errorf("renewing no leases renewed %v", got)
	}
	for _, tc := range []struct {
		name  string
		owner string
		now   time.Time
		ttl   time.Duration
	}{
		{"no_owner", "", now, ttl},
		{"no_time", "r1", time.Time{}, ttl},
		{"zero_ttl", "r1", now, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RenewLeases(ctxOf(t), tc.owner, []string{"conv/a"}, tc.now, tc.ttl)
			wantErr(t, err, store.ErrInvalidArgument)
		})
	}
}

func testLeaseTakeoverConcurrent(t *testing.T, s store.Store) {
	const owners = 8
	for round := range 5 {
		name := fmt.Sprintf("conv/takeover-%d", round)
		must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "dead", t0, time.Second))
		var wg sync.WaitGroup
		leases := make([]store.Lease, owners)
		errs := make([]error, owners)
		for i := range owners {
			wg.Go(func() {
				leases[i], errs[i] = s.AcquireLease(ctxOf(t), name, fmt.Sprintf("replica-%d", i), t0.Add(time.Second), time.Minute)
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				if leases[i].TakenFrom != "dead" {
					t.Errorf("round %d: the winner took the lease from %q, want the dead owner", round, leases[i].TakenFrom)
				}
			case errors.Is(err, store.ErrConflict):
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d owners took over the lease, want exactly 1", round, won)
		}
	}
}

func testExpireLeases(t *testing.T, s store.Store) {
	const ttl = time.Minute
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), "conv/x", "leaving", t0, ttl))
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), "conv/y", "leaving", t0, ttl))
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), "conv/z", "staying", t0, ttl))
	_, e := flowWithExecution(t, s)
	tm := must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e.SID, Kind: store.TimerKindWaitTimeout, FireTime: t0}))
	must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: t0, Owner: "leaving", LeaseDuration: ttl}))

	now := t0.Add(time.Second)
	if n := must[int](t)(s.ExpireLeases(ctxOf(t), "leaving", now)); n != 3 {
		t.Errorf("ExpireLeases ended %d leases and claims, want 3", n)
	}
	// At once, not after the ttl, others take them, and learn from whom.
	for _, name := range []string{"conv/x", "conv/y"} {
		l := must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "next", now, ttl))
		if l.TakenFrom != "leaving" {
			t.Errorf("%s taken from %q, want the owner that left", name, l.TakenFrom)
		}
	}
	_, err := s.AcquireLease(ctxOf(t), "conv/z", "next", now, ttl)
	wantErr(t, err, store.ErrConflict)
	claimed := must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: now, Owner: "next", LeaseDuration: ttl}))
	if len(claimed) != 1 || claimed[0].ID != tm.ID || claimed[0].Claims != 2 {
		t.Errorf("timer after its claimer left: %+v, want timer %d claimed a second time", claimed, tm.ID)
	}
	if n := must[int](t)(s.ExpireLeases(ctxOf(t), "leaving", now)); n != 0 {
		t.Errorf("expiring again ended %d, want 0", n)
	}
	_, err = s.ExpireLeases(ctxOf(t), "", now)
	wantErr(t, err, store.ErrInvalidArgument)
	_, err = s.ExpireLeases(ctxOf(t), "leaving", time.Time{})
	wantErr(t, err, store.ErrInvalidArgument)
}

func testOrphanedConversations(t *testing.T, s store.Store) {
	const prefix = "conversation/"
	f := createFlow(t, s, store.FlowStatusPublished)
	free, live, expired, otherName, drained := newConversationSID(), newConversationSID(), newConversationSID(), newConversationSID(), newConversationSID()
	for i, conv := range []string{free, live, expired, otherName, drained, free} {
		must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, conv, fmt.Sprintf("IM%d", i), "")))
	}
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), prefix+live, "r1", t0, time.Minute))
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), prefix+expired, "r1", t0, time.Second))
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), "elsewhere/"+otherName, "r1", t0, time.Minute))
	head := must[store.Event](t)(s.NextPendingEvent(ctxOf(t), drained))
	if err := s.MarkEventDone(ctxOf(t), head.ID, nil, t0); err != nil {
		t.Fatal(err)
	}

	now := t0.Add(time.Second)
	diff(t, "orphaned conversations, oldest first", []string{free, expired, otherName},
		must[[]string](t)(s.OrphanedConversations(ctxOf(t), prefix, now, 0)))
	diff(t, "orphaned conversations, limit 2", []string{free, expired},
		must[[]string](t)(s.OrphanedConversations(ctxOf(t), prefix, now, 2)))
	diff(t, "before the lease expired", []string{free, otherName},
		must[[]string](t)(s.OrphanedConversations(ctxOf(t), prefix, now.Add(-time.Microsecond), 0)))
	_, err := s.OrphanedConversations(ctxOf(t), prefix, now, -1)
	wantErr(t, err, store.ErrInvalidArgument)
	_, err = s.OrphanedConversations(ctxOf(t), prefix, time.Time{}, 0)
	wantErr(t, err, store.ErrInvalidArgument)
}

func testTimerExtendClaims(t *testing.T, s store.Store) {
	const ttl = 5 * time.Second
	var timers []store.Timer
	for range 3 {
		_, e := flowWithExecution(t, s)
		timers = append(timers, must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e.SID, Kind: store.TimerKindLifetime, FireTime: t0})))
	}
	claimed := must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: t0, Owner: "r1", LeaseDuration: ttl, Limit: 2}))
	if len(claimed) != 2 {
		t.Fatalf("claimed %d timers, want 2", len(claimed))
	}
	// The third goes to r2; the first one's claim expires and r2 takes it.
	must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: t0, Owner: "r2", LeaseDuration: ttl}))
	now := t0.Add(ttl)
	must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: now, Owner: "r2", LeaseDuration: ttl, Limit: 1}))
	// claimed[0] is now r2's; claimed[1] expired too but nobody took it.
	got := must[[]int64](t)(s.ExtendTimerClaims(ctxOf(t), "r1", []int64{claimed[0].ID, claimed[1].ID, timers[2].ID, 1 << 40}, now, ttl))
	diff(t, "extended claims", []int64{claimed[1].ID}, got)
	for _, tm := range must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: now.Add(ttl - time.Microsecond), Owner: "r3", LeaseDuration: ttl})) {
		if tm.ID == claimed[1].ID {
			t.Errorf("timer %d claimed while its extended claim lasts", tm.ID)
		}
	}
	// The extended claim is still r1's to complete.
	if err := s.DeleteTimer(ctxOf(t), claimed[1].ID, "r1"); err != nil {
		t.Fatal(err)
	}
	if got := must[[]int64](t)(s.ExtendTimerClaims(ctxOf(t), "r1", nil, now, ttl)); len(got) != 0 {
		t.Errorf("extending no claims extended %v", got)
	}
	_, err := s.ExtendTimerClaims(ctxOf(t), "", []int64{1}, now, ttl)
	wantErr(t, err, store.ErrInvalidArgument)
	_, err = s.ExtendTimerClaims(ctxOf(t), "r1", []int64{1}, now, 0)
	wantErr(t, err, store.ErrInvalidArgument)
}

// testNotify checks Notify inside transactions on every store, and, for
// stores that push (store.Listener), that listeners receive what committed
// transactions announced and nothing of rolled-back ones.
func testNotify(t *testing.T, s store.Store) {
	errAbort := errors.New("abort")
	rolledBack, committed := newConversationSID(), newConversationSID()
	notify := func(conv string, fail bool) error {
		return s.InTx(ctxOf(t), func(tx store.Tx) error {
			if err := tx.Notify(ctxOf(t), conv); err != nil {
				return err
			}
			if fail {
				return errAbort
			}
			return nil
		})
	}
	l, ok := s.(store.Listener)
	if !ok {
		// Nothing to observe: the announcement must merely not fail.
		if err := notify(committed, false); err != nil {
			t.Fatal(err)
		}
		return
	}
	ctx, cancel := context.WithCancel(ctxOf(t))
	got := make(chan string, 1024)
	done := make(chan error, 1)
	go func() { done <- l.Listen(ctx, func(conv string) { got <- conv }) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen returned %v, want context.Canceled", err)
		}
	}()
	// Listening starts asynchronously: announce until both kinds arrive.
	deadline := time.After(20 * time.Second)
	seen := map[string]bool{}
	for len(seen) < 2 {
		if err := notify(rolledBack, true); !errors.Is(err, errAbort) {
			t.Fatalf("rolled-back notify: %v", err)
		}
		if err := notify(committed, false); err != nil {
			t.Fatal(err)
		}
		if err := notify("", false); err != nil {
			t.Fatal(err)
		}
		wait := time.After(200 * time.Millisecond)
	drain:
		for len(seen) < 2 {
			select {
			case conv := <-got:
				if conv != committed && conv != "" {
					t.Fatalf("received %q, which no committed transaction announced", conv)
				}
				seen[conv] = true
			case <-wait:
				break drain
			case <-deadline:
				t.Fatalf("announcements received in 20 s: %v, want the conversation's and the timers'", seen)
			}
		}
	}
}

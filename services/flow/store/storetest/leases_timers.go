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

// testSettleLease: a commit that leaves events pending keeps the lease
// (extended), one that leaves none gives it back, inside the transaction
// that marked the last event done; an owner who lost the lease fails.
func testSettleLease(t *testing.T, s store.Store) {
	const ttl = 30 * time.Second
	f := createFlow(t, s, store.FlowStatusPublished)
	conv := newConversationSID()
	name := "conversation:" + conv
	first, _ := must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, conv, "IM1", "")))
	second, _ := must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, conv, "IM2", "")))

	_, err := s.SettleLease(ctxOf(t), name, "a", conv, t0, ttl)
	wantErr(t, err, store.ErrNotFound)
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "a", t0, ttl))
	_, err = s.SettleLease(ctxOf(t), name, "b", conv, t0, ttl)
	var held *store.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != "a" {
		t.Fatalf("settling another owner's lease: %v, want *store.LeaseHeldError held by a", err)
	}

	settle := func(id int64, at time.Time) bool {
		t.Helper()
		var released bool
		if err := s.InTx(ctxOf(t), func(tx store.Tx) error {
			if err := tx.MarkEventDone(ctxOf(t), id, nil, at); err != nil {
				return err
			}
			var err error
			released, err = tx.SettleLease(ctxOf(t), name, "a", conv, at, ttl)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return released
	}
	if settle(first.ID, t0.Add(time.Second)) {
		t.Fatal("released with an event pending")
	}
	// Past the first expiry, the lease is still a's: settling extended it.
	_, err = s.AcquireLease(ctxOf(t), name, "b", t0.Add(ttl), ttl)
	if !errors.As(err, &held) || held.Owner != "a" {
		t.Fatalf("taking a settled lease: %v, want *store.LeaseHeldError held by a", err)
	}
	diff(t, "expiry of the settled lease", t0.Add(time.Second+ttl), held.ExpireTime)
	if !settle(second.ID, t0.Add(2*time.Second)) {
		t.Fatal("kept the lease with no event pending")
	}
	l := must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "b", t0.Add(2*time.Second), ttl))
	diff(t, "lease after settling the last event", store.Lease{Name: name, Owner: "b", ExpireTime: t0.Add(2*time.Second + ttl)}, l)

	// A failed settle rolls the commit back: the event stays pending.
	third, _ := must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, conv, "IM3", "")))
	err = s.InTx(ctxOf(t), func(tx store.Tx) error {
		if err := tx.MarkEventDone(ctxOf(t), third.ID, nil, t0); err != nil {
			return err
		}
		_, err := tx.SettleLease(ctxOf(t), name, "a", conv, t0.Add(3*time.Second), ttl)
		return err
	})
	if !errors.As(err, &held) {
		t.Fatalf("settling a lost lease: %v, want *store.LeaseHeldError", err)
	}
	diff(t, "event of the failed commit", store.EventStatusPending, must[store.Event](t)(s.GetEvent(ctxOf(t), third.ID)).Status)
}

func testLeaseLifecycle(t *testing.T, s store.Store) {
	const name, ttl = "conversation:CH1", 30 * time.Second
	held := func(t *testing.T, err error, owner string) {
		t.Helper()
		var h *store.LeaseHeldError
		if !errors.As(err, &h) || !errors.Is(err, store.ErrConflict) {
			t.Fatalf("error = %v, want *store.LeaseHeldError", err)
		}
		if h.Owner != owner || h.Name != name {
			t.Errorf("held by %q (%q), want %q (%q)", h.Owner, h.Name, owner, name)
		}
	}
	_, err := s.RenewLease(ctxOf(t), name, "a", t0, ttl)
	wantErr(t, err, store.ErrNotFound)
	if err := s.ReleaseLease(ctxOf(t), name, "a"); err != nil {
		t.Errorf("releasing a missing lease: %v", err)
	}

	l := must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "a", t0, ttl))
	diff(t, "lease", store.Lease{Name: name, Owner: "a", ExpireTime: t0.Add(ttl)}, l)
	// Another owner is kept out until expiry, even a microsecond before it.
	_, err = s.AcquireLease(ctxOf(t), name, "b", t0.Add(ttl-time.Microsecond), ttl)
	held(t, err, "a")
	_, err = s.RenewLease(ctxOf(t), name, "b", t0, ttl)
	held(t, err, "a")
	held(t, s.ReleaseLease(ctxOf(t), name, "b"), "a")
	// The owner re-acquires (extends) and renews.
	l = must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "a", t0.Add(10*time.Second), ttl))
	diff(t, "re-acquired lease", t0.Add(40*time.Second), l.ExpireTime)
	l = must[store.Lease](t)(s.RenewLease(ctxOf(t), name, "a", t0.Add(20*time.Second), ttl))
	diff(t, "renewed lease", t0.Add(50*time.Second), l.ExpireTime)
	// Expired: b takes over, a can neither renew nor release it.
	l = must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "b", t0.Add(50*time.Second), ttl))
	diff(t, "taken-over lease", store.Lease{Name: name, Owner: "b", ExpireTime: t0.Add(80 * time.Second), TakenFrom: "a"}, l)
	_, err = s.RenewLease(ctxOf(t), name, "a", t0.Add(51*time.Second), ttl)
	held(t, err, "b")
	held(t, s.ReleaseLease(ctxOf(t), name, "a"), "b")
	// The new owner extending it took nothing over.
	l = must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "b", t0.Add(51*time.Second), ttl))
	diff(t, "extended taken-over lease", store.Lease{Name: name, Owner: "b", ExpireTime: t0.Add(81 * time.Second)}, l)
	// Released: free at once for anyone, and nothing is taken over.
	if err := s.ReleaseLease(ctxOf(t), name, "b"); err != nil {
		t.Fatal(err)
	}
	l = must[store.Lease](t)(s.AcquireLease(ctxOf(t), name, "c", t0.Add(52*time.Second), ttl))
	diff(t, "lease after release", store.Lease{Name: name, Owner: "c", ExpireTime: t0.Add(82 * time.Second)}, l)
	// Leases are independent by name.
	must[store.Lease](t)(s.AcquireLease(ctxOf(t), "conversation:CH2", "a", t0, ttl))

	for _, tc := range []struct {
		name, lease, owner string
		ttl                time.Duration
	}{
		{"empty_name", "", "a", ttl},
		{"empty_owner", name, "", ttl},
		{"zero_ttl", name, "c", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.AcquireLease(ctxOf(t), tc.lease, tc.owner, t0, tc.ttl)
			wantErr(t, err, store.ErrInvalidArgument)
			_, err = s.RenewLease(ctxOf(t), tc.lease, tc.owner, t0, tc.ttl)
			wantErr(t, err, store.ErrInvalidArgument)
		})
	}
	_, err = s.AcquireLease(ctxOf(t), name, "c", time.Time{}, ttl)
	wantErr(t, err, store.ErrInvalidArgument)
	wantErr(t, s.ReleaseLease(ctxOf(t), name, ""), store.ErrInvalidArgument)
}

func testLeaseConcurrent(t *testing.T, s store.Store) {
	const owners = 8
	for round := range 5 {
		name := fmt.Sprintf("conversation:round-%d", round)
		var wg sync.WaitGroup
		errs := make([]error, owners)
		for i := range owners {
			wg.Go(func() {
				_, errs[i] = s.AcquireLease(ctxOf(t), name, fmt.Sprintf("replica-%d", i), t0, time.Minute)
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
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d owners acquired the lease, want exactly 1", round, won)
		}
	}
}

func testTimers(t *testing.T, s store.Store) {
	_, e1 := flowWithExecution(t, s)
	_, e2 := flowWithExecution(t, s)
	claim := func(owner string, now time.Time, limit int) []store.Timer {
		t.Helper()
		return must[[]store.Timer](t)(s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: now, Owner: owner, LeaseDuration: time.Minute, Limit: limit}))
	}
	ids := func(ts []store.Timer) []int64 {
		var out []int64
		for _, tm := range ts {
			out = append(out, tm.ID)
		}
		return out
	}
	wait := must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e1.SID, Kind: store.TimerKindWaitTimeout,
		FireTime: t0.Add(2 * time.Second), Payload: json.RawMessage(`{"widget":"ask"}`), CreateTime: t0}))
	diff(t, "scheduled timer", store.Timer{ID: wait.ID, ExecutionSID: e1.SID, Kind: store.TimerKindWaitTimeout,
		FireTime: t0.Add(2 * time.Second), Payload: json.RawMessage(`{"widget":"ask"}`), CreateTime: t0}, wait)
	life := must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e1.SID, Kind: store.TimerKindLifetime, FireTime: t0.Add(time.Second)}))
	late := must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e2.SID, Kind: store.TimerKindWaitTimeout, FireTime: t0.Add(3 * time.Second)}))

	if got := claim("a", t0, 0); len(got) != 0 {
		t.Fatalf("claimed timers before they were due: %+v", got)
	}
	got := claim("a", t0.Add(2*time.Second), 0) // due: life (1s), wait (2s, inclusive)
	diff(t, "claimed, earliest first", []int64{life.ID, wait.ID}, ids(got))
	if got[1].ClaimOwner != "a" || !got[1].ClaimExpireTime.Equal(t0.Add(2*time.Second+time.Minute)) || string(got[1].Payload) != `{"widget":"ask"}` || got[1].Claims != 1 {
		t.Errorf("claimed timer = %+v", got[1])
	}
	// Claimed timers are not handed to anyone else while the claim lasts.
	diff(t, "claim by b", []int64{late.ID}, ids(claim("b", t0.Add(3*time.Second), 0)))
	if got := claim("b", t0.Add(30*time.Second), 0); len(got) != 0 {
		t.Errorf("claimed timers held by others: %+v", got)
	}
	// a fires wait and deletes it; it crashes before firing life, whose
	// claim expires and b takes it over.
	if err := s.DeleteTimer(ctxOf(t), wait.ID, "a"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteTimer(ctxOf(t), wait.ID, "a"), store.ErrNotFound)
	reclaimed := claim("b", t0.Add(2*time.Second+time.Minute), 0)
	diff(t, "re-claim after expiry", []int64{life.ID}, ids(reclaimed))
	if reclaimed[0].Claims != 2 {
		t.Errorf("re-claimed timer has %d claims, want 2 (b takes over a's)", reclaimed[0].Claims)
	}
	wantErr(t, s.DeleteTimer(ctxOf(t), life.ID, "a"), store.ErrConflict)
	if err := s.DeleteTimer(ctxOf(t), life.ID, "b"); err != nil {
		t.Fatal(err)
	}

	// Scheduling the same kind again replaces the timer (new ID, claim
	// dropped): whoever fires the old one finds it gone.
	re := must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e2.SID, Kind: store.TimerKindWaitTimeout, FireTime: t0.Add(time.Hour)}))
	if re.ID == late.ID || re.Claims != 0 || re.ClaimOwner != "" {
		t.Errorf("replacement %+v kept the old ID or claim", re)
	}
	wantErr(t, s.DeleteTimer(ctxOf(t), late.ID, "b"), store.ErrNotFound)
	diff(t, "replacement fires on its own time", []int64{re.ID}, ids(claim("c", t0.Add(time.Hour), 0)))

	// Limits and cancellation.
	var many []int64
	for i := range 5 {
		_, e := flowWithExecution(t, s)
		tm := must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e.SID, Kind: store.TimerKindLifetime, FireTime: t0.Add(time.Duration(i) * time.Millisecond)}))
		many = append(many, tm.ID)
	}
	diff(t, "limited claim", many[:2], ids(claim("d", t0.Add(time.Second), 2)))
	diff(t, "next batch", many[2:], ids(claim("d", t0.Add(time.Second), 10)))

	must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e1.SID, Kind: store.TimerKindWaitTimeout, FireTime: t0}))
	must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e1.SID, Kind: store.TimerKindLifetime, FireTime: t0}))
	if n := must[int](t)(s.CancelTimers(ctxOf(t), e1.SID, store.TimerKindWaitTimeout)); n != 1 {
		t.Errorf("cancelled %d wait timers, want 1", n)
	}
	if n := must[int](t)(s.CancelTimers(ctxOf(t), e1.SID, "")); n != 1 {
		t.Errorf("cancelled %d remaining timers, want 1", n)
	}

	for _, tc := range []struct {
		name  string
		timer store.Timer
		want  error
	}{
		{"execution_unknown", store.Timer{ExecutionSID: newSID(store.PrefixExecution), Kind: "k", FireTime: t0}, store.ErrNotFound},
		{"execution_malformed", store.Timer{ExecutionSID: "FN", Kind: "k", FireTime: t0}, store.ErrInvalidArgument},
		{"kind_empty", store.Timer{ExecutionSID: e1.SID, FireTime: t0}, store.ErrInvalidArgument},
		{"fire_time_zero", store.Timer{ExecutionSID: e1.SID, Kind: "k"}, store.ErrInvalidArgument},
		{"payload_not_json", store.Timer{ExecutionSID: e1.SID, Kind: "k", FireTime: t0, Payload: json.RawMessage(`[`)}, store.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ScheduleTimer(ctxOf(t), tc.timer)
			wantErr(t, err, tc.want)
		})
	}
	for _, tc := range []struct {
		name string
		p    store.ClaimTimersParams
	}{
		{"no_owner", store.ClaimTimersParams{Now: t0, LeaseDuration: time.Minute}},
		{"no_lease", store.ClaimTimersParams{Now: t0, Owner: "a"}},
		{"no_time", store.ClaimTimersParams{Owner: "a", LeaseDuration: time.Minute}},
		{"negative_limit", store.ClaimTimersParams{Now: t0, Owner: "a", LeaseDuration: time.Minute, Limit: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ClaimDueTimers(ctxOf(t), tc.p)
			wantErr(t, err, store.ErrInvalidArgument)
		})
	}
}

func testTimerClaimConcurrent(t *testing.T, s store.Store) {
	const timers = 60
	want := map[int64]bool{}
	for i := range timers {
		_, e := flowWithExecution(t, s)
		tm := must[store.Timer](t)(s.ScheduleTimer(ctxOf(t), store.Timer{ExecutionSID: e.SID, Kind: store.TimerKindWaitTimeout, FireTime: t0.Add(time.Duration(i) * time.Millisecond)}))
		want[tm.ID] = true
	}
	var mu sync.Mutex
	firedBy := map[int64]string{}
	var wg sync.WaitGroup
	for _, owner := range []string{"replica-a", "replica-b"} {
		wg.Go(func() {
			for {
				batch, err := s.ClaimDueTimers(ctxOf(t), store.ClaimTimersParams{Now: t0.Add(time.Second), Owner: owner, LeaseDuration: time.Hour, Limit: 4})
				if err != nil {
					t.Error(err)
					return
				}
				if len(batch) == 0 {
					return
				}
				for _, tm := range batch {
					mu.Lock()
					if prev, ok := firedBy[tm.ID]; ok {
						t.Errorf("timer %d claimed by %s and %s", tm.ID, prev, owner)
					}
					firedBy[tm.ID] = owner
					mu.Unlock()
					if err := s.DeleteTimer(ctxOf(t), tm.ID, owner); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(firedBy) != timers {
		t.Errorf("%d of %d timers fired", len(firedBy), timers)
	}
	for id := range firedBy {
		if !want[id] {
			t.Errorf("fired unknown timer %d", id)
		}
	}
}

package runner_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
)

// errDead is what a dead replica's store answers: once killed, the replica
// can no longer reach the database, exactly as if the process had died
// (SIGKILL) at that moment.
var errDead = errors.New("simulated death of the replica")

// killableStore fails every call once killed.
type killableStore struct {
	store.Store
	dead atomic.Bool
}

func (s *killableStore) kill() { s.dead.Store(true) }

func (s *killableStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if s.dead.Load() {
		return errDead
	}
	return s.Store.InTx(ctx, func(tx store.Tx) error {
		if s.dead.Load() {
			return errDead
		}
		return fn(tx)
	})
}

func (s *killableStore) GetSend(ctx context.Context, key string) (store.Send, error) {
	if s.dead.Load() {
		return store.Send{}, errDead
	}
	return s.Store.GetSend(ctx, key)
}

func (s *killableStore) NextPendingEvent(ctx context.Context, conv string) (store.Event, error) {
	if s.dead.Load() {
		return store.Event{}, errDead
	}
	return s.Store.NextPendingEvent(ctx, conv)
}

func (s *killableStore) ReleaseLease(ctx context.Context, name, owner string) error {
	if s.dead.Load() {
		return errDead
	}
	return s.Store.ReleaseLease(ctx, name, owner)
}

// killAfterSend kills its replica right after the Conversations API created
// a message: the window between the message existing and its send record
// committing.
type killAfterSend struct {
	*runner.TwilioMessenger
	kill  func()
	sends atomic.Int32
}

func (k *killAfterSend) Send(ctx context.Context, m engine.OutboundMessage) (engine.SentMessage, error) {
	sent, err := k.TwilioMessenger.Send(ctx, m)
	if err == nil && k.sends.Add(1) == 1 {
		k.kill()
	}
	return sent, err
}

// startReplica starts a second runner (replica) on the harness's database.
func startReplica(t *testing.T, h *harness, cfg runner.Config) *runner.Runner {
	t.Helper()
	st := h.openStore()
	cfg.Store = st
	cfg.AccountSid, cfg.AuthToken, cfg.ConversationsURL = h.fake.AccountSid(), h.fake.AuthToken(), h.fake.URL()
	cfg.FunctionMap = []string{functionsHost + "=" + h.fn.URL + "/functions"}
	if cfg.TimerInterval == 0 {
		cfg.TimerInterval = 20 * time.Millisecond
	}
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return r
}

// TestTakeoverAfterDeathMidSendSendsOnce is the regression test of the
// duplicate reply seen with replicas under SIGKILL: a replica dies after
// the Conversations API created the reply and before the send was
// recorded; the replica that takes the conversation over replays the event
// and must find that reply instead of sending it again.
func TestTakeoverAfterDeathMidSendSendsOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, pg bool) {
		var dying *killableStore
		var messenger *killAfterSend
		h := newHarness(t, harnessOptions{
			postgres: pg, leaseTTL: time.Second, rescan: 50 * time.Millisecond,
			wrapStore: func(s store.Store) store.Store {
				dying = &killableStore{Store: s}
				return dying
			},
			wrap: func(m engine.Messenger) engine.Messenger {
				messenger = &killAfterSend{TwilioMessenger: m.(*runner.TwilioMessenger), kill: func() { dying.kill() }}
				return messenger
			},
		})
		flow := h.createFlow(readFile(t, "testdata/send-once.json"))
		ch := h.conversation(flow, "")
		successor := startReplica(t, h, runner.Config{LeaseTTL: time.Second, RescanInterval: 50 * time.Millisecond, Owner: "successor"})

		if _, err := h.fake.Inbound(context.Background(), conversationsInbound("hello")); err != nil {
			t.Fatal(err)
		}
		died := time.Now()
		eventually(t, "the first replica's death", func() bool { return dying.dead.Load() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.fake.WaitWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		if err := successor.WaitIdle(ctx, ch); err != nil {
			t.Fatal(err)
		}
		tookOver := time.Since(died)

		want := []string{customer + ": hello", "system: Got hello"}
		if got := h.bodies(ch); !equal(got, want) {
			t.Errorf("messages %q, want %q: the reply was sent twice or not at all", got, want)
		}
		if n := messenger.sends.Load(); n != 1 {
			t.Errorf("the dead replica sent %d messages, want 1", n)
		}
		x := h.only(flow)
		if x.Status != store.ExecutionStatusEnded {
			t.Errorf("execution after the takeover: %+v", x)
		}
		if diff := h.path(x.SID); !equal(diff, []string{"Trigger>reply", "reply>Ended"}) {
			t.Errorf("steps %v", diff)
		}
		// One TTL for the lease to expire, plus a rescan and the replay.
		if tookOver > 5*time.Second {
			t.Errorf("the successor finished %v after the death, want within a few seconds of the 1 s lease", tookOver)
		}
	})
}

// TestLostLeaseStopsTheHolder takes a conversation's lease away from the
// replica working on it (as a replica that lost touch with the database
// would lose it): the heartbeat notices, the worker stops before sending,
// and the new holder processes the event.
func TestLostLeaseStopsTheHolder(t *testing.T) {
	eachStore(t, func(t *testing.T, pg bool) {
		release := make(chan struct{})
		var calls atomic.Int32
		h := newHarness(t, harnessOptions{postgres: pg, leaseTTL: 500 * time.Millisecond, rescan: 50 * time.Millisecond, onFunction: func() {
			if calls.Add(1) == 1 {
				// Or the test's end: a test that fails before releasing
				// the call must not hang in closing the Function server.
				select {
				case <-release:
				case <-t.Context().Done():
				}
			}
		}})
		flow := h.createFlow(readFile(t, "testdata/function-then-reply.json"))
		ch := h.conversation(flow, "")
		if _, err := h.fake.Inbound(context.Background(), conversationsInbound("hello")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the function call", func() bool { return calls.Load() == 1 })
		// Steal the lease: expire it and take it over as another owner.
		// The holder's heartbeat may renew it between the two (it did on a
		// loaded machine), so they are tried again until the theft holds.
		ctx := context.Background()
		name := "conversation/" + ch
		eventually(t, "the thief taking the lease", func() bool {
			if _, err := h.st.RenewLease(ctx, name, h.runner().Owner(), time.Now().Add(-time.Hour), time.Second); err != nil {
				t.Fatal(err)
			}
			_, err := h.st.AcquireLease(ctx, name, "thief", time.Now(), time.Hour)
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Fatal(err)
			}
			return err == nil
		})
		// The holder's heartbeat finds the lease gone and stops the worker,
		// whose call then fails without a reply being sent.
		time.Sleep(300 * time.Millisecond)
		close(release)
		time.Sleep(300 * time.Millisecond)
		for _, b := range h.bodies(ch) {
			if strings.HasPrefix(b, "system: ") {
				t.Fatalf("the replica that lost the lease sent %q", b)
			}
		}
		// The thief goes away; the lease expires into a takeover by the
		// original replica's rescan, which replays the event and replies once.
		if _, err := h.st.RenewLease(ctx, name, "thief", time.Now().Add(-time.Hour), time.Second); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := h.runner().WaitIdle(wctx, ch); err != nil {
			t.Fatal(err)
		}
		want := []string{customer + ": hello", "system: Done"}
		if got := h.bodies(ch); !equal(got, want) {
			t.Errorf("messages %q, want %q", got, want)
		}
	})
}

// TestStopHandsBackAtOnce stops a replica while it works on a conversation
// with another event waiting: it finishes the event in hand, and the other
// replica takes the waiting one at once, not after the lease's TTL: on
// SQLite by its next rescan, on PostgreSQL by the announcement.
func TestStopHandsBackAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, pg bool) {
		const ttl = time.Minute // far longer than the test may take
		entered := make(chan struct{}, 8)
		release := make(chan struct{})
		var calls atomic.Int32
		h := newHarness(t, harnessOptions{postgres: pg, leaseTTL: ttl, rescan: 50 * time.Millisecond, onFunction: func() {
			if calls.Add(1) == 1 {
				entered <- struct{}{}
				select { // or the test's end, as in TestLostLeaseStopsTheHolder
				case <-release:
				case <-t.Context().Done():
				}
			}
		}})
		flow := h.createFlow(readFile(t, "testdata/function-then-reply.json"))
		ch := h.conversation(flow, "")
		// On PostgreSQL the hand-back is announced (LISTEN/NOTIFY): the
		// other replica must not need its rescan to find it.
		rescan := 50 * time.Millisecond
		if pg {
			rescan = time.Hour
		}
		other := startReplica(t, h, runner.Config{LeaseTTL: ttl, RescanInterval: rescan, Owner: "other"})
		if _, err := h.fake.Inbound(context.Background(), conversationsInbound("one")); err != nil {
			t.Fatal(err)
		}
		<-entered
		// A second message while the first is in its function call.
		if _, err := h.fake.Inbound(context.Background(), conversationsInbound("two")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.fake.WaitWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		stopped := make(chan struct{})
		go func() {
			h.shutdown()
			close(stopped)
		}()
		// The stopping replica waits for the event in hand.
		time.Sleep(100 * time.Millisecond)
		close(release)
		<-stopped
		start := time.Now()
		if err := other.WaitIdle(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the other replica took %v to take over, want far less than the %v lease", took, ttl)
		}
		want := []string{customer + ": one", customer + ": two", "system: Done", "system: Done"}
		if got := h.bodies(ch); !equal(got, want) {
			t.Errorf("messages %q, want %q", got, want)
		}
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// conversationsInbound is a text from the harness's customer.
func conversationsInbound(body string) conversations.InboundMessage {
	return conversations.InboundMessage{From: customer, To: proxy, Body: body}
}

package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
)

// TestTwoReplicasShareConversations runs two runners on one SQLite file,
// as two replicas of FlowService would, and delivers one conversation's
// messages to both at once: the conversation's lease keeps one writer at a
// time, and the messages are still processed in arrival order.
func TestTwoReplicasShareConversations(t *testing.T) {
	eachStore(t, func(t *testing.T, pg bool) {
		h := newHarness(t, harnessOptions{postgres: pg})
		flow := h.createFlow(waitFlow(t, "3600"))
		ch := h.conversation(flow, "")

		r2 := startReplica(t, h, runner.Config{Owner: "replica-two"})
		replicas := []*runner.Runner{h.runner(), r2}

		const n = 16
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := runner.ConversationEvent{FlowSid: flow, ConversationSid: ch, MessageSid: newSID("IM"), Author: customer, Body: fmt.Sprintf("m%d", i), Source: "SMS"}
				if _, err := replicas[i%2].HandleConversationEvent(context.Background(), ev); err != nil {
					t.Errorf("event %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		for _, r := range replicas {
			if err := r.WaitIdle(wctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		var last string
		for id := int64(1); id <= n; id++ {
			e, err := h.st.GetEvent(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			var out runner.Outcome
			if err := json.Unmarshal(e.Outcome, &out); err != nil {
				t.Fatal(err)
			}
			switch {
			case id%2 == 1 && out.Disposition == runner.DispositionStarted:
				last = out.ExecutionSid
			case id%2 == 0 && out.Disposition == runner.DispositionResumed && out.ExecutionSid == last:
			default:
				t.Errorf("event %d (sequence %d): %+v", id, e.Sequence, out)
			}
		}
		xs := h.executions(flow)
		if len(xs) != n/2 {
			t.Errorf("%d executions, want %d", len(xs), n/2)
		}
		for _, x := range xs {
			if x.Status != store.ExecutionStatusEnded {
				t.Errorf("execution %s is %s", x.SID, x.Status)
			}
		}
		if got := len(h.fake.Messages(ch)); got != n {
			t.Errorf("%d messages posted, want %d (a question and a greeting per pair)", got, n)
		}
	})
}

// TestDeadReplicaLeaseTakenOver leaves a conversation's lease with a
// replica that died: the queue waits until the lease expires, then a live
// replica's rescan takes it over and processes the event.
func TestDeadReplicaLeaseTakenOver(t *testing.T) {
	eachStore(t, func(t *testing.T, pg bool) {
		h := newHarness(t, harnessOptions{postgres: pg, leaseTTL: time.Second, rescan: 200 * time.Millisecond})
		flow := h.createFlow(waitFlow(t, "3600"))
		ch := h.conversation(flow, "")
		ctx := context.Background()
		const deadFor = 1500 * time.Millisecond
		if _, err := h.st.AcquireLease(ctx, "conversation/"+ch, "dead-replica", time.Now(), deadFor); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ev := runner.ConversationEvent{FlowSid: flow, ConversationSid: ch, MessageSid: newSID("IM"), Author: customer, Body: "hi", Source: "SMS"}
		out, err := h.runner().ProcessConversationEvent(ctx, ev)
		if err != nil || out.Disposition != runner.DispositionStarted {
			t.Fatalf("outcome %+v, %v", out, err)
		}
		if waited := time.Since(start); waited < deadFor-100*time.Millisecond {
			t.Errorf("processed after %v, while the dead replica's lease still held", waited)
		}
		if x := h.only(flow); x.Status != store.ExecutionStatusActive {
			t.Errorf("execution: %+v", x)
		}
	})
}

// TestLeaseHandedBackWithTheLastEvent checks the lease's round trip: the
// transaction that records an event takes the conversation's lease, and
// the commit of the event that empties the queue gives it back, so another
// replica can take the conversation at once instead of after a linger.
func TestLeaseHandedBackWithTheLastEvent(t *testing.T) {
	eachStore(t, func(t *testing.T, pg bool) {
		h := newHarness(t, harnessOptions{postgres: pg})
		flow := h.createFlow(waitFlow(t, "3600"))
		ch := h.conversation(flow, "")
		ctx := context.Background()
		for i, want := range []runner.Disposition{runner.DispositionStarted, runner.DispositionResumed} {
			ev := runner.ConversationEvent{FlowSid: flow, ConversationSid: ch, MessageSid: newSID("IM"), Author: customer, Body: fmt.Sprintf("m%d", i), Source: "SMS"}
			out, err := h.runner().ProcessConversationEvent(ctx, ev)
			if err != nil || out.Disposition != want {
				t.Fatalf("event %d: outcome %+v, %v; want %s", i, out, err, want)
			}
			// Free for anyone the moment the event is done.
			if _, err := h.st.AcquireLease(ctx, "conversation/"+ch, "other-replica", time.Now(), time.Minute); err != nil {
				t.Fatalf("after event %d the lease is still held: %v", i, err)
			}
			if err := h.st.ReleaseLease(ctx, "conversation/"+ch, "other-replica"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

func newEvent(f store.Flow, conversation, message, token string) store.Event {
	return store.Event{
		ConversationSID: conversation, FlowSID: f.SID, MessageSID: message, IdempotencyToken: token,
		Payload:     json.RawMessage(`{"EventType":"onMessageAdded","MessageSid":"` + message + `","Body":"support"}`),
		ReceiveTime: t0,
	}
}

func testEventDedupe(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	other := createFlow(t, s, store.FlowStatusPublished)
	conv := newConversationSID()
	in := newEvent(f, conv, "IM001", "tok-1")
	orig, dup := must2(t)(s.RecordEvent(ctxOf(t), in))
	if dup {
		t.Fatal("first delivery reported as duplicate")
	}
	want := in
	want.ID, want.Sequence, want.Status = orig.ID, 1, store.EventStatusPending
	diff(t, "recorded event", want, orig)
	diff(t, "read event", want, must[store.Event](t)(s.GetEvent(ctxOf(t), orig.ID)))

	for _, tc := range []struct {
		name    string
		event   store.Event
		wantDup bool
	}{
		{"same_message_same_token", newEvent(f, conv, "IM001", "tok-1"), true},
		{"same_message_new_token", newEvent(f, conv, "IM001", "tok-2"), true},
		{"same_token_new_message", newEvent(f, conv, "IM999", "tok-1"), true},
		{"same_message_only", newEvent(f, conv, "IM001", ""), true},
		{"same_token_only", newEvent(f, conv, "", "tok-1"), true},
		{"same_message_other_flow", newEvent(other, conv, "IM001", "tok-1"), false},
		{"new_message_new_token", newEvent(f, conv, "IM002", "tok-3"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, dup := must2(t)(s.RecordEvent(ctxOf(t), tc.event))
			if dup != tc.wantDup {
				t.Fatalf("duplicate = %v, want %v", dup, tc.wantDup)
			}
			if dup && got.ID != orig.ID {
				t.Errorf("duplicate points at event %d, want the original %d", got.ID, orig.ID)
			}
		})
	}

	// Once processed, a redelivery reports the original outcome.
	outcome := json.RawMessage(`{"execution_sid":"FN1","action":"started"}`)
	if err := s.MarkEventDone(ctxOf(t), orig.ID, outcome, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, dup := must2(t)(s.RecordEvent(ctxOf(t), in))
	// A done event keeps its outcome, not its payload.
	want.Status, want.Outcome, want.DoneTime, want.Payload = store.EventStatusDone, outcome, t0.Add(time.Second), nil
	if !dup {
		t.Fatal("redelivery after processing not reported as duplicate")
	}
	diff(t, "original event", want, got)

	for _, tc := range []struct {
		name  string
		event store.Event
		want  error
	}{
		{"no_conversation", newEvent(f, "", "IM5", ""), store.ErrInvalidArgument},
		{"no_keys", newEvent(f, conv, "", ""), store.ErrInvalidArgument},
		{"flow_malformed", store.Event{ConversationSID: conv, FlowSID: "FW", MessageSID: "IM5"}, store.ErrInvalidArgument},
		{"payload_not_json", store.Event{ConversationSID: conv, FlowSID: f.SID, MessageSID: "IM5", Payload: json.RawMessage(`{`)}, store.ErrInvalidArgument},
		{"message_sid_nul", store.Event{ConversationSID: conv, FlowSID: f.SID, MessageSID: "IM\x005"}, store.ErrInvalidArgument},
		{"flow_unknown", store.Event{ConversationSID: conv, FlowSID: newSID(store.PrefixFlow), MessageSID: "IM5"}, store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.RecordEvent(ctxOf(t), tc.event)
			wantErr(t, err, tc.want)
		})
	}
}

func testEventOrder(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	a, b := newConversationSID(), newConversationSID()
	_, err := s.NextPendingEvent(ctxOf(t), a)
	wantErr(t, err, store.ErrNotFound)
	if got := must[[]string](t)(s.PendingConversations(ctxOf(t), 0)); len(got) != 0 {
		t.Fatalf("pending conversations of an empty store: %v", got)
	}

	// Interleaved arrivals: a1 b1 a2 a3 b2 a4.
	seqs := map[string][]int64{}
	ids := map[string][]int64{}
	for i, conv := range []string{a, b, a, a, b, a} {
		ev, _ := must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, conv, fmt.Sprintf("IM%d", i), "")))
		seqs[conv] = append(seqs[conv], ev.Sequence)
		ids[conv] = append(ids[conv], ev.ID)
	}
	diff(t, "sequences of a", []int64{1, 2, 3, 4}, seqs[a])
	diff(t, "sequences of b", []int64{1, 2}, seqs[b])
	diff(t, "pending conversations, oldest first", []string{a, b}, must[[]string](t)(s.PendingConversations(ctxOf(t), 0)))
	diff(t, "pending conversations, limit 1", []string{a}, must[[]string](t)(s.PendingConversations(ctxOf(t), 1)))
	_, err = s.PendingConversations(ctxOf(t), -1)
	wantErr(t, err, store.ErrInvalidArgument)

	// The head stays until it is marked done (a crash retries it).
	for _, conv := range []string{a, b} {
		var order []int64
		for {
			head, err := s.NextPendingEvent(ctxOf(t), conv)
			if err != nil {
				wantErr(t, err, store.ErrNotFound)
				break
			}
			again := must[store.Event](t)(s.NextPendingEvent(ctxOf(t), conv))
			if again.ID != head.ID {
				t.Fatalf("head moved from %d to %d without MarkEventDone", head.ID, again.ID)
			}
			order = append(order, head.ID)
			if err := s.MarkEventDone(ctxOf(t), head.ID, nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		diff(t, "processing order of "+conv, ids[conv], order)
		if conv == a {
			diff(t, "pending conversations after draining a", []string{b}, must[[]string](t)(s.PendingConversations(ctxOf(t), 0)))
		}
	}
	if got := must[[]string](t)(s.PendingConversations(ctxOf(t), 0)); len(got) != 0 {
		t.Errorf("pending conversations after draining: %v", got)
	}
	done := must[store.Event](t)(s.GetEvent(ctxOf(t), ids[a][0]))
	if done.Status != store.EventStatusDone || done.DoneTime.IsZero() || done.Outcome != nil || done.Payload != nil {
		t.Errorf("done event = %+v", done)
	}
	wantErr(t, s.MarkEventDone(ctxOf(t), ids[a][0], nil, t0), store.ErrConflict)
	wantErr(t, s.MarkEventDone(ctxOf(t), 1<<40, nil, t0), store.ErrNotFound)
	wantErr(t, s.MarkEventDone(ctxOf(t), ids[a][0], json.RawMessage(`{`), t0), store.ErrInvalidArgument)
	_, err = s.GetEvent(ctxOf(t), 1<<40)
	wantErr(t, err, store.ErrNotFound)

	// Numbering continues after the queue drained.
	ev, _ := must2(t)(s.RecordEvent(ctxOf(t), newEvent(f, a, "IM-late", "")))
	if ev.Sequence != 5 {
		t.Errorf("sequence after drain = %d, want 5", ev.Sequence)
	}
}

func testEventConcurrent(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	conv := newConversationSID()
	const n = 16
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	dups := make([]bool, n)
	errs := make([]error, 2*n)
	for i := range n {
		wg.Go(func() {
			ev, _, err := s.RecordEvent(ctxOf(t), newEvent(f, conv, fmt.Sprintf("IM%d", i), ""))
			seqs[i], errs[i] = ev.Sequence, err
		})
		// Every goroutine also redelivers one shared message.
		wg.Go(func() {
			_, dups[i], errs[n+i] = s.RecordEvent(ctxOf(t), newEvent(f, conv, "IM-shared", fmt.Sprintf("tok-%d", i)))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fresh := 0
	for _, d := range dups {
		if !d {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d concurrent deliveries of one message were recorded, want 1", fresh)
	}
	// n distinct events plus the shared one, numbered without gaps or repeats.
	var all []int64
	for {
		head, err := s.NextPendingEvent(ctxOf(t), conv)
		if err != nil {
			wantErr(t, err, store.ErrNotFound)
			break
		}
		all = append(all, head.Sequence)
		if err := s.MarkEventDone(ctxOf(t), head.ID, nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	if len(all) != n+1 || !slices.IsSorted(all) || all[0] != 1 || all[n] != n+1 {
		t.Errorf("sequences = %v, want 1..%d", all, n+1)
	}
	for _, sq := range seqs {
		if !slices.Contains(all, sq) {
			t.Errorf("sequence %d handed out but not queued", sq)
		}
	}
}

func testEventDeleteDone(t *testing.T, s store.Store) {
	f := createFlow(t, s, store.FlowStatusPublished)
	conv := newConversationSID()
	old := newEvent(f, conv, "IM-old", "")
	oldEv, _ := must2(t)(s.RecordEvent(ctxOf(t), old))
	pendingOld := newEvent(f, conv, "IM-pending", "")
	pendingEv, _ := must2(t)(s.RecordEvent(ctxOf(t), pendingOld))
	recent := newEvent(f, conv, "IM-recent", "")
	recent.ReceiveTime = t0.Add(2 * time.Hour)
	recentEv, _ := must2(t)(s.RecordEvent(ctxOf(t), recent))
	for _, id := range []int64{oldEv.ID, recentEv.ID} {
		if err := s.MarkEventDone(ctxOf(t), id, nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := must[int](t)(s.DeleteDoneEvents(ctxOf(t), t0.Add(time.Hour))); n != 1 {
		t.Errorf("deleted %d events, want 1 (the old done one)", n)
	}
	_, err := s.GetEvent(ctxOf(t), oldEv.ID)
	wantErr(t, err, store.ErrNotFound)
	must[store.Event](t)(s.GetEvent(ctxOf(t), pendingEv.ID))
	must[store.Event](t)(s.GetEvent(ctxOf(t), recentEv.ID))
	// A redelivery of a pruned event is recorded anew, behind the others.
	again, dup := must2(t)(s.RecordEvent(ctxOf(t), old))
	if dup || again.Sequence != 4 {
		t.Errorf("redelivery of a pruned event: duplicate %v, sequence %d; want a new event at 4", dup, again.Sequence)
	}
}

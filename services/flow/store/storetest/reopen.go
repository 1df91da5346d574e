package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convoflow/convoflow/services/flow/store"
)

// Reopener opens a store on the same location (file, schema) every time it
// is called: empty the first time, and holding what the previous one
// wrote after that. The store it returns is closed by the caller.
type Reopener func(tb testing.TB) (store.Store, error)

// RunReopen writes one of each record, closes the store (as a restart
// would), reopens the same location with open and reads everything back.
func RunReopen(t *testing.T, open Reopener) {
	const (
		flowSID = "FW00000000000000000000000000000001"
		execSID = "FN00000000000000000000000000000001"
		stepSID = "FT00000000000000000000000000000001"
	)
	ctx := t.Context()
	s, err := open(t)
	if err != nil {
		t.Fatal(err)
	}
	var (
		flow   store.Flow
		exec   store.Execution
		step   store.Step
		ev     store.Event
		timer  store.Timer
		send   store.Send
		pendEv store.Event
	)
	err = s.InTx(ctx, func(tx store.Tx) error {
		var err error
		if flow, err = tx.CreateFlow(ctx, store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusPublished,
			Definition: json.RawMessage(`{"states":[]}`), CreateTime: t0}); err != nil {
			return err
		}
		if exec, err = tx.CreateExecution(ctx, store.Execution{SID: execSID, FlowSID: flowSID, FlowRevision: 1,
			ConversationSID: "CH1", Status: store.ExecutionStatusActive, State: json.RawMessage(`{"w":1}`), CreateTime: t0}); err != nil {
			return err
		}
		if step, err = tx.AppendStep(ctx, store.Step{SID: stepSID, ExecutionSID: execSID, Name: "incomingConversationMessage",
			Context: json.RawMessage(`{}`), CreateTime: t0}); err != nil {
			return err
		}
		if ev, _, err = tx.RecordEvent(ctx, store.Event{ConversationSID: "CH1", FlowSID: flowSID, MessageSID: "IM1", ReceiveTime: t0}); err != nil {
			return err
		}
		if err := tx.MarkEventDone(ctx, ev.ID, json.RawMessage(`{"ok":true}`), t0); err != nil {
			return err
		}
		if pendEv, _, err = tx.RecordEvent(ctx, store.Event{ConversationSID: "CH1", FlowSID: flowSID, MessageSID: "IM2", ReceiveTime: t0}); err != nil {
			return err
		}
		if timer, err = tx.ScheduleTimer(ctx, store.Timer{ExecutionSID: execSID, Kind: store.TimerKindWaitTimeout, FireTime: t0.Add(time.Hour), CreateTime: t0}); err != nil {
			return err
		}
		if send, err = tx.RecordSend(ctx, store.Send{Key: stepSID, ExecutionSID: execSID, Result: json.RawMessage(`{"sid":"IM3"}`), CreateTime: t0}); err != nil {
			return err
		}
		_, err = tx.AcquireLease(ctx, "conversation:CH1", "replica-1", t0, time.Hour)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = open(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	check := func(what string, want, got any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s after reopen (-want +got):\n%s", what, d)
		}
	}
	gotFlow, err := s.GetFlow(ctx, flowSID)
	check("flow", flow, gotFlow, err)
	gotExec, err := s.FindActiveExecutionByConversation(ctx, flowSID, "CH1")
	check("execution", exec, gotExec, err)
	gotStep, err := s.GetStep(ctx, stepSID)
	check("step", step, gotStep, err)
	gotSend, err := s.GetSend(ctx, stepSID)
	check("send", send, gotSend, err)
	gotEv, dup, err := s.RecordEvent(ctx, store.Event{ConversationSID: "CH1", FlowSID: flowSID, MessageSID: "IM1"})
	if !dup {
		t.Error("redelivery after restart not detected")
	}
	ev.Status, ev.Outcome, ev.DoneTime = store.EventStatusDone, json.RawMessage(`{"ok":true}`), t0
	check("done event", ev, gotEv, err)
	gotPend, err := s.NextPendingEvent(ctx, "CH1")
	check("pending event", pendEv, gotPend, err)
	pending, err := s.PendingConversations(ctx, 0)
	check("pending conversations", []string{"CH1"}, pending, err)
	claimed, err := s.ClaimDueTimers(ctx, store.ClaimTimersParams{Now: t0.Add(time.Hour), Owner: "replica-2", LeaseDuration: time.Minute})
	timer.ClaimOwner, timer.ClaimExpireTime, timer.Claims = "replica-2", t0.Add(time.Hour+time.Minute), 1
	check("timer", []store.Timer{timer}, claimed, err)
	_, err = s.AcquireLease(ctx, "conversation:CH1", "replica-2", t0.Add(time.Minute), time.Hour)
	var held *store.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != "replica-1" {
		t.Errorf("lease after restart: %v, want held by replica-1", err)
	}
}

package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
	"github.com/convoflow/convoflow/services/flow/store/sqlite"
)

// Example shows the shape of FlowService's ingestion: record an inbound
// event durably (then acknowledge the webhook), and later process the
// conversation's next event in one transaction with the engine's results.
func Example() {
	dir, err := os.MkdirTemp("", "convoflow")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "flow.db"), sqlite.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	flow, err := s.CreateFlow(ctx, store.Flow{SID: "FW00000000000000000000000000000001", FriendlyName: "Support",
		Status: store.FlowStatusPublished, Definition: json.RawMessage(`{"states":[]}`)})
	if err != nil {
		panic(err)
	}

	// The webhook: record, then answer 200. A redelivery is reported as such.
	event := store.Event{ConversationSID: "CH1", FlowSID: flow.SID, MessageSID: "IM1", IdempotencyToken: "tok-1",
		Payload: json.RawMessage(`{"Body":"support"}`)}
	for range 2 {
		ev, dup, err := s.RecordEvent(ctx, event)
		if err != nil {
			panic(err)
		}
		fmt.Printf("event %d of CH1: duplicate=%v\n", ev.Sequence, dup)
	}

	// The worker: take the conversation's lease, then commit one engine
	// step atomically.
	if _, err := s.AcquireLease(ctx, "conversation:CH1", "replica-1", time.Now(), 30*time.Second); err != nil {
		panic(err)
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		ev, err := tx.NextPendingEvent(ctx, "CH1")
		if err != nil {
			return err
		}
		exec, err := tx.FindActiveExecutionByConversation(ctx, flow.SID, "CH1")
		if errors.Is(err, store.ErrNotFound) {
			exec, err = tx.CreateExecution(ctx, store.Execution{SID: "FN00000000000000000000000000000001", FlowSID: flow.SID,
				FlowRevision: flow.Revision, ConversationSID: "CH1", Status: store.ExecutionStatusActive})
		}
		if err != nil {
			return err
		}
		for i, to := range []string{"check-support", "add-support-agent", "support-confirmation-message"} {
			if _, err := tx.AppendStep(ctx, store.Step{SID: fmt.Sprintf("FT%032x", i+1), ExecutionSID: exec.SID,
				Name: "incomingConversationMessage", TransitionedTo: to}); err != nil {
				return err
			}
		}
		if _, err := tx.UpdateExecution(ctx, store.ExecutionUpdate{SID: exec.SID, Version: exec.Version,
			Status: store.ExecutionStatusEnded, EndedReason: store.EndedReasonFlowEnd, State: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		return tx.MarkEventDone(ctx, ev.ID, json.RawMessage(`{"execution_sid":"`+exec.SID+`"}`), time.Time{})
	})
	if err != nil {
		panic(err)
	}
	if err := s.ReleaseLease(ctx, "conversation:CH1", "replica-1"); err != nil {
		panic(err)
	}

	steps, err := s.ListSteps(ctx, "FN00000000000000000000000000000001", store.PageParams{})
	if err != nil {
		panic(err)
	}
	for _, st := range steps.Steps {
		fmt.Println(st.Sequence, st.TransitionedTo)
	}
	_, err = s.NextPendingEvent(ctx, "CH1")
	fmt.Println("queue drained:", errors.Is(err, store.ErrNotFound))
	// Output:
	// event 1 of CH1: duplicate=false
	// event 1 of CH1: duplicate=true
	// 1 check-support
	// 2 add-support-agent
	// 3 support-confirmation-message
	// queue drained: true
}

package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/convoflow/convoflow/services/flow/store"
)

// BenchmarkHotPath measures FlowService's hot path, one transaction per
// inbound message: record the event, update the execution's state (about 2
// kB of JSON), append three steps, mark the event done. Executions are spread
// over 64 conversations. The "serial" case is one caller; "parallel" runs
// 16×GOMAXPROCS concurrent callers, as a loaded service would, which lets a
// store commit concurrent transactions together.
func BenchmarkHotPath(b *testing.B, newStore Factory) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			f, err := s.CreateFlow(ctx, newFlow(store.FlowStatusPublished))
			if err != nil {
				b.Fatal(err)
			}
			const conversations = 64
			type slot struct {
				conv string
				exec store.Execution
				busy atomic.Bool
			}
			slots := make([]*slot, conversations)
			for i := range slots {
				conv := newConversationSID()
				e, err := s.CreateExecution(ctx, newExecution(f, conv, "+15550100"))
				if err != nil {
					b.Fatal(err)
				}
				slots[i] = &slot{conv: conv, exec: e}
			}
			state := json.RawMessage(`{"blob":"` + strings.Repeat("x", 2000) + `"}`)
			stepCtx := json.RawMessage(`{"widgets":{"send":{"status":"sent","body":"` + strings.Repeat("y", 200) + `"}}}`)
			var msg atomic.Int64

			one := func() error {
				n := msg.Add(1)
				// Take a conversation no other caller is in (one writer per
				// conversation, as the service's leases guarantee).
				var sl *slot
				for i := n; ; i++ {
					if c := slots[i%conversations]; c.busy.CompareAndSwap(false, true) {
						sl = c
						break
					}
				}
				defer sl.busy.Store(false)
				return s.InTx(ctx, func(tx store.Tx) error {
					ev, _, err := tx.RecordEvent(ctx, store.Event{ConversationSID: sl.conv, FlowSID: f.SID,
						MessageSID: fmt.Sprintf("IM%032x", n), Payload: json.RawMessage(`{"Body":"yes"}`)})
					if err != nil {
						return err
					}
					e, err := tx.UpdateExecution(ctx, store.ExecutionUpdate{SID: sl.exec.SID, Version: sl.exec.Version,
						Status: store.ExecutionStatusActive, State: state, Context: sl.exec.Context})
					if err != nil {
						return err
					}
					for range 3 {
						if _, err := tx.AppendStep(ctx, store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID,
							Name: "incomingMessage", TransitionedFrom: "ask", TransitionedTo: "send", Type: "send-message", Context: stepCtx}); err != nil {
							return err
						}
					}
					if err := tx.MarkEventDone(ctx, ev.ID, json.RawMessage(`{"resumed":true}`), t0); err != nil {
						return err
					}
					sl.exec = e
					return nil
				})
			}
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				// Many requests in flight, as under webhook load.
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := one(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := one(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

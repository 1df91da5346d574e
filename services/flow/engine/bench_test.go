package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/convoflow/convoflow/internal/cputime"
)

// nopMessenger answers every send without keeping it.
type nopMessenger struct{}

func (nopMessenger) Send(ctx context.Context, o OutboundMessage) (SentMessage, error) {
	return SentMessage{Sid: "SM00000000000000000000000000000001", Status: "queued", From: o.From, To: o.To, Body: o.Body}, nil
}

// BenchmarkSteps measures steps per second through the split →
// set-variables → send-message loop of testdata/flows/split-set-send.json,
// raised to 300 rounds (901 steps per execution, under the 1000-step
// budget), with a messenger that answers at once. Every step renders its
// Liquid, snapshots the context as JSON and gets a SID, as in production.
func BenchmarkSteps(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "flows", "split-set-send.json"))
	if err != nil {
		b.Fatal(err)
	}
	data = bytes.Replace(data, []byte(`"value": "3"`), []byte(`"value": "300"`), 1)
	e, err := New(Options{Clock: SystemClock{}, IDs: RandomIDs{}, Messenger: nopMessenger{}, Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	def, err := e.Read(context.Background(), data)
	if err != nil {
		b.Fatal(err)
	}
	tr := (&triggerSpec{}).trigger()
	tr.Conversation.Body = "go"
	steps := 0
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		res, err := e.Start(context.Background(), def, tr)
		if err != nil {
			b.Fatal(err)
		}
		if res.Execution.EndedReason != EndedFlowEnd {
			b.Fatalf("ended with %s: %s", res.Execution.EndedReason, res.Execution.EndedError)
		}
		steps += len(res.Steps)
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
	if cpu := cputime.Process() - cpu0; cpu > 0 {
		b.ReportMetric(float64(steps)/cpu.Seconds(), "steps/cpu-s")
	}
}

// BenchmarkValidate measures reading and validating the largest shared-size
// local definition (Liquid checks included).
func BenchmarkValidate(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "flows", "split-set-send.json"))
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(Options{Clock: SystemClock{}, IDs: RandomIDs{}, Messenger: nopMessenger{}, Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Read(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
}

package runner_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/internal/cputime"
	"github.com/convoflow/convoflow/services/flow/runner"
)

// BenchmarkConversationEvent measures event → execution → send-message:
// ProcessConversationEvent records the event durably (SQLite, WAL, synced
// commits), the conversation's worker starts an execution of
// testdata/send-once.json, which posts one message into the conversation
// through twilio-go to the Conversations fake over loopback, and the result
// is committed. Each operation is one execution; latency is measured from
// the call to the committed outcome. executions/cpu-s divides by the CPU
// time of the whole process, fake included.
//
//   - saturated: 64 callers, each on its own conversations, as fast as
//     they can (executions/s).
//   - paced_500_per_s: one event every 2 ms, the latency at a steady
//     500 executions/s.
func BenchmarkConversationEvent(b *testing.B) {
	b.Run("saturated", func(b *testing.B) { benchEvents(b, 64, 0) })
	b.Run("paced_500_per_s", func(b *testing.B) { benchEvents(b, 64, 2*time.Millisecond) })
}

func benchEvents(b *testing.B, callers int, every time.Duration) {
	h := newHarness(b, harnessOptions{timerInterval: time.Second})
	flow := h.createFlow(readFile(b, "testdata/send-once.json"))
	convs := make([]string, callers*4)
	for i := range convs {
		convs[i] = h.conversationWith("", "", fmt.Sprintf("+1555%07d", i))
	}
	r := h.runner()
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	var (
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := 0
			for i := range next {
				// Each caller owns every callers-th conversation, so a
				// conversation never has two events in flight.
				ch := convs[c+callers*(k%4)]
				k++
				start := time.Now()
				out, err := r.ProcessConversationEvent(ctx, runner.ConversationEvent{
					FlowSid: flow, ConversationSid: ch, MessageSid: fmt.Sprintf("IM%032x", i+1),
					Author: "+15550000000", Body: "hi", Source: "SMS",
				})
				lat[i] = time.Since(start)
				if err != nil || out.Disposition != runner.DispositionStarted {
					b.Errorf("event %d: %+v, %v", i, out, err)
				}
			}
		}()
	}
	b.ResetTimer()
	cpu0 := cputime.Process()
	start := time.Now()
	var tick *time.Ticker
	if every > 0 {
		tick = time.NewTicker(every)
		defer tick.Stop()
	}
	for i := range b.N {
		if tick != nil {
			<-tick.C
		}
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := cputime.Process()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "executions/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	if cpu1 > cpu0 {
		// CPU seconds of the whole process (runner, SQLite, twilio-go and
		// the fake): a figure the neighbours' load disturbs less than
		// wall-clock throughput.
		b.ReportMetric(float64(b.N)/(cpu1-cpu0).Seconds(), "executions/cpu-s")
	}
	b.ReportMetric(0, "ns/op")
}

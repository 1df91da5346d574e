package participant_test

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	twconv "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/services/participant"
)

// BenchmarkAddParticipant measures AddParticipant end to end over loopback:
// a client → participantservice (h2c, request log at Info) → twilio-go →
// the Conversations fake, two API calls per RPC (the participant list that
// makes the call idempotent, then the create). 100 callers run at once,
// each on a different conversation; every call adds a new SMS participant,
// and conversations are rotated so none grows past ten participants.
// It reports RPC/s, the p50/p99 latency of single calls, and the CPU the
// whole pipeline spends per RPC with the throughput that allows on two
// otherwise idle cores.
func BenchmarkAddParticipant(b *testing.B) {
	for _, stack := range []string{"connect", "grpc_go"} {
		b.Run(stack, func(b *testing.B) {
			fake, err := conversations.NewServer(conversations.Options{Seed: 11})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = fake.Close() })
			ts := startService(b, fake, func(c *participant.Config) { c.LogLevel = slog.LevelInfo })
			// The request log is part of the cost, but not the buffer tests
			// keep it in.
			ts.logs.discard()
			c := clients(b, ts)[stack]

			const callers = 100
			const perConversation = 10
			n := max(callers, b.N/perConversation+callers)
			rc := sdk(b, fake)
			convs := make([]string, n)
			for i := range convs {
				cv, err := rc.ConversationsV1.CreateConversation(&twconv.CreateConversationParams{})
				if err != nil {
					b.Fatal(err)
				}
				convs[i] = *cv.Sid
			}

			var next atomic.Int64
			var mu sync.Mutex
			var latencies []time.Duration
			b.SetParallelism((callers + 1) / 2) // × GOMAXPROCS (2) goroutines
			b.ReportAllocs()
			b.ResetTimer()
			start, cpuStart := time.Now(), processCPU()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					i := next.Add(1)
					conv := convs[int(i)%len(convs)]
					req := smsRequest(conv, fmt.Sprintf("+1444%07d", i), twilioNumber)
					t0 := time.Now()
					res, err := c.AddParticipant(b.Context(), req)
					local = append(local, time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
					if res.GetAlreadyPresent() {
						b.Error("already_present for a new binding")
						return
					}
				}
				mu.Lock()
				latencies = append(latencies, local...)
				mu.Unlock()
			})
			elapsed, cpu := time.Since(start), processCPU()-cpuStart
			b.StopTimer()
			if len(latencies) == 0 {
				return
			}
			slices.Sort(latencies)
			pct := func(p float64) float64 {
				return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "rpc/s")
			b.ReportMetric(pct(0.50), "p50_ms")
			b.ReportMetric(pct(0.99), "p99_ms")
			if cpu > 0 {
				// CPU of the whole pipeline (client, service, fake) per
				// RPC: what bounds RPC/s on dedicated cores, whatever the
				// neighbours do.
				perRPC := cpu / time.Duration(len(latencies))
				b.ReportMetric(float64(perRPC.Microseconds()), "cpu_µs/rpc")
				b.ReportMetric(2*float64(time.Second)/float64(perRPC), "rpc/s_on_2_free_cores")
			}
		})
	}
}

// discard stops keeping logs (benchmarks would otherwise hold every
// request line in memory).
func (b *syncBuffer) discard() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sink = io.Discard
}

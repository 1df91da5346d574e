package load

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/convoflow/convoflow/internal/cputime"
)

// Report is what a run measured.
type Report struct {
	// Mode is "closed" (Concurrency customers, each waiting for its reply)
	// or "open" (Rate messages a second, whatever the replies do).
	Mode        string  `json:"mode"`
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	FlowSid     string  `json:"flow_sid"`
	// Sent counts messages the fake accepted, Replied those whose reply
	// was delivered; Seconds runs from the first message to the last
	// reply, and Throughput is Replied over it. SendRate is what the
	// open loop achieved against Rate.
	Sent       int     `json:"sent"`
	Replied    int     `json:"replied"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"`
	SendRate   float64 `json:"send_rate"`
	// LatencyMS is from sending a message to its reply's delivery webhook,
	// in milliseconds.
	LatencyMS Latency        `json:"latency_ms"`
	Errors    map[string]int `json:"errors"`
	// CPU is each --pid's CPU time over the run, and per reply.
	CPU map[string]CPU `json:"cpu,omitempty"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// CPU is one process's share.
type CPU struct {
	Seconds         float64 `json:"seconds"`
	MicrosPerReply  float64 `json:"us_per_reply"`
	CoresAverageUse float64 `json:"cores"`
}

func newReport(cfg Config, flowSid string, t *tracker, start time.Time, cpu0, cpu1 map[string]time.Duration) *Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &Report{Mode: "closed", Concurrency: cfg.Concurrency, FlowSid: flowSid, Sent: t.sent, Replied: t.replied,
		Errors: maps.Clone(t.errs)}
	if cfg.Rate > 0 {
		r.Mode, r.Rate, r.Concurrency = "open", cfg.Rate, 0
	}
	end := t.lastRply
	if end.IsZero() || t.first.IsZero() {
		end = t.now()
	}
	first := t.first
	if first.IsZero() {
		first = start
	}
	r.Seconds = end.Sub(first).Seconds()
	if r.Seconds > 0 {
		r.Throughput = float64(r.Replied) / r.Seconds
	}
	if sendSpan := cfg.Duration.Seconds(); cfg.Count == 0 && sendSpan > 0 {
		r.SendRate = float64(r.Sent) / sendSpan
	} else if r.Seconds > 0 {
		r.SendRate = float64(r.Sent) / r.Seconds
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	h := t.hist
	r.LatencyMS = Latency{P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: h.Mean() / 1000}
	if len(cpu0) > 0 {
		r.CPU = map[string]CPU{}
		for name, c0 := range cpu0 {
			c1, ok := cpu1[name]
			if !ok || c0 < 0 || c1 < 0 {
				continue
			}
			d := (c1 - c0).Seconds()
			c := CPU{Seconds: d}
			if r.Replied > 0 {
				c.MicrosPerReply = d * 1e6 / float64(r.Replied)
			}
			if r.Seconds > 0 {
				c.CoresAverageUse = d / r.Seconds
			}
			r.CPU[name] = c
		}
	}
	return r
}

// cpuOf reads each process's CPU time so far (-1 when it cannot be read).
func cpuOf(pids map[string]int) map[string]time.Duration {
	out := make(map[string]time.Duration, len(pids))
	for name, pid := range pids {
		d, err := cputime.OfProcess(pid)
		if err != nil {
			d = -1
		}
		out[name] = d
	}
	return out
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if r.Mode == "open" {
		fmt.Fprintf(tw, "mode\topen loop at %g messages/s (sent %.1f/s)\n", r.Rate, r.SendRate)
	} else {
		fmt.Fprintf(tw, "mode\tclosed loop, %d customers\n", r.Concurrency)
	}
	fmt.Fprintf(tw, "flow\t%s\n", r.FlowSid)
	fmt.Fprintf(tw, "messages\t%d sent, %d replied in %.2f s\n", r.Sent, r.Replied, r.Seconds)
	fmt.Fprintf(tw, "throughput\t%.1f replies/s\n", r.Throughput)
	l := r.LatencyMS
	fmt.Fprintf(tw, "latency (ms)\tp50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	if len(r.Errors) == 0 {
		fmt.Fprintf(tw, "errors\tnone\n")
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(tw, "errors\t%d %s\n", r.Errors[k], k)
	}
	for _, name := range slices.Sorted(maps.Keys(r.CPU)) {
		c := r.CPU[name]
		fmt.Fprintf(tw, "cpu %s\t%.2f s, %.0f µs per reply, %.2f cores\n", name, c.Seconds, c.MicrosPerReply, c.CoresAverageUse)
	}
	return tw.Flush()
}

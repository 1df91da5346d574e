package runner

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/outbound"
)

// metrics are the runner's Prometheus series. Without Config.Metrics they
// are still counted, on collectors nobody registers, so the hot path has
// no branch for them.
type metrics struct {
	started   prometheus.Counter
	ended     *prometheus.CounterVec
	steps     *prometheus.CounterVec
	outbound  *prometheus.CounterVec
	takeovers prometheus.Counter
	commit    prometheus.Histogram
}

func newMetrics(r *Runner, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		started: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "convoflow_executions_started_total",
			Help: "Executions started (by a conversation message, a REST trigger or a subflow's parent).",
		}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convoflow_executions_ended_total",
			Help: "Executions ended, by reason (flow end, ended by the API, timeout, error).",
		}, []string{"reason"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convoflow_steps_total",
			Help: "Steps recorded, by the type of the widget they leave.",
		}, []string{"widget_type"}),
		outbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convoflow_outbound_requests_total",
			Help: "HTTP requests of run-function and make-http-request, by widget kind and result: answered, refused (by the outbound policy) or failed (no answer).",
		}, []string{"kind", "result"}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "convoflow_lease_takeovers_total",
			Help: "Conversations taken over from a replica that let its lease expire.",
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "convoflow_store_commit_seconds",
			Help: "Duration of the store transaction that commits an execution's steps.",
			// A synced SQLite commit takes ~0.2 ms here; a PostgreSQL one
			// over a network several ms; a stalled disk seconds.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
		}),
	}
	if reg == nil {
		return m, nil
	}
	inProgress := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "convoflow_conversations_in_progress",
		Help: "Conversations this replica is working on now (events queued or running): the runner's queue depth.",
	}, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(len(r.workers))
	})
	timers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "convoflow_timers_in_progress",
		Help: "Due timers (wait timeouts, lifetimes) this replica is firing now.",
	}, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(len(r.firing))
	})
	for _, c := range []prometheus.Collector{m.started, m.ended, m.steps, m.outbound, m.takeovers, m.commit, inProgress, timers} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// committed counts what one successful commit recorded.
func (m *metrics) committed(start bool, res *engine.Result, took time.Duration) {
	m.commit.Observe(took.Seconds())
	if start {
		m.started.Inc()
	}
	for _, s := range res.Steps {
		m.steps.WithLabelValues(s.Type).Inc()
	}
	if res.Ended() {
		reason := res.Execution.EndedReason
		if reason == "" {
			reason = "unknown"
		}
		m.ended.WithLabelValues(reason).Inc()
	}
}

// request counts one outbound request (a doer built without metrics, in
// tests, counts nothing).
func (m *metrics) request(kind string, err error) {
	if m == nil {
		return
	}
	result := "answered"
	switch {
	case err == nil:
	case outbound.IsRefused(err):
		result = "refused"
	default:
		result = "failed"
	}
	m.outbound.WithLabelValues(kind, result).Inc()
}

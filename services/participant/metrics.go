package participant

import "github.com/prometheus/client_golang/prometheus"

// metrics are the service's own Prometheus series. Without Deps.Metrics
// they are counted on collectors nobody registers.
type metrics struct {
	added, removed prometheus.Counter
	agentsAdded    *prometheus.CounterVec
	agentLoad      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		added: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "convoflow_participants_added_total",
			Help: "Participants added to conversations (support agents included; an add that found the participant already present is not counted).",
		}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "convoflow_participants_removed_total",
			Help: "Participants removed from conversations (a remove that found nobody is not counted).",
		}),
		agentsAdded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convoflow_support_agents_added_total",
			Help: "Support agents added to a conversation by AddSupportAgent, by agent.",
		}, []string{"agent"}),
		agentLoad: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "convoflow_support_agent_open_conversations",
			Help: "Open conversations each roster agent is in, as last read from Conversations (by AddSupportAgent or ListAgents).",
		}, []string{"agent"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.added, m.removed, m.agentsAdded, m.agentLoad} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

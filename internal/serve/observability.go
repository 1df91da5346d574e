package serve

import (
	"flag"
	"net"
)

// Observability is how a server is watched, as both programs' flags give
// it.
type Observability struct {
	// MetricsListen, when set, serves /metrics on its own address instead
	// of the main port.
	MetricsListen string
}

// Register defines the flags on fs.
func (o *Observability) Register(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsListen, "metrics-listen", o.MetricsListen, "serve Prometheus /metrics on this address (plain HTTP) instead of the main port, e.g. an internal interface; empty: on the main port, open like health")
}

// Validate checks the flags.
func (o Observability) Validate() error {
	if o.MetricsListen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(o.MetricsListen); err != nil {
		return &net.AddrError{Err: "--metrics-listen: " + err.Error(), Addr: o.MetricsListen}
	}
	return nil
}

// Apply gives cfg a metrics registry served as the flags say, and returns
// it for the service's own series.
func (o Observability) Apply(cfg *Config) *Metrics {
	cfg.Metrics = NewMetrics()
	cfg.MetricsAddr = o.MetricsListen
	return cfg.Metrics
}

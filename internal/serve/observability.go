package serve

import (
	"errors"
	"flag"
	"net"
)

// Observability is how a server is watched, as both programs' flags give
// it.
type Observability struct {
	// MetricsListen, when set, serves /metrics on its own address instead
	// of the main port.
	MetricsListen string
	// Pprof serves net/http/pprof's /debug/pprof/ beside /metrics on
	// MetricsListen, which it requires: profiles stay off the public port.
	Pprof bool
}

// Register defines the flags on fs.
func (o *Observability) Register(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsListen, "metrics-listen", o.MetricsListen, "serve Prometheus /metrics on this address (plain HTTP) instead of the main port, e.g. an internal interface; empty: on the main port, open like health")
	fs.BoolVar(&o.Pprof, "pprof", o.Pprof, "serve Go's profiles (/debug/pprof/) on the --metrics-listen address, which it needs")
}

// Validate checks the flags.
func (o Observability) Validate() error {
	if o.MetricsListen == "" {
		if o.Pprof {
			return errors.New("--pprof needs --metrics-listen: profiles are never served on the main port")
		}
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
	cfg.Pprof = o.Pprof
	return cfg.Metrics
}

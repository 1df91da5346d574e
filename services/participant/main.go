package participant

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/internal/telemetry"
	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/participant/roster"
)

// Main is one participantservice process: the server with its roster. The
// binary and the tests start it the same way.
type Main struct {
	cfg    Config
	log    *slog.Logger
	srv    *serve.Server
	roster *roster.File // nil without --agents
}

// NewMain builds the service from cfg: the Twilio client, the roster (whose
// first load must succeed) and the server. It does not listen; Run does.
func NewMain(cfg Config, log *slog.Logger) (*Main, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Main{cfg: cfg, log: log}
	rc, err := twilioclient.New(twilioclient.Options{
		AccountSID: cfg.AccountSID,
		AuthToken:  cfg.AuthToken,
		BaseURL:    cfg.ConversationsURL,
		Timeout:    cfg.TwilioTimeout,
	})
	if err != nil {
		return nil, err
	}
	scfg := serve.Config{Name: "participantservice", Addr: cfg.Listen, Logger: log}
	if cfg.Tracing != nil {
		scfg.Tracing = cfg.Tracing.Provider
	}
	metrics := cfg.Observability.Apply(&scfg)
	deps := Deps{Twilio: rc, DefaultProxyAddress: cfg.DefaultProxyAddress, Logger: log.With("comp", "service"), Metrics: metrics.Registry}
	if cfg.Agents != "" {
		m.roster, err = roster.OpenFile(cfg.Agents, log.With("comp", "roster"))
		if err != nil {
			return nil, err
		}
		deps.Roster = m.roster
	}
	h, err := New(deps)
	if err != nil {
		return nil, err
	}
	path, handler := participantv1connect.NewParticipantServiceHandler(h, append(serve.HandlerOptions(0), metrics.HandlerOption())...)
	fo := FunctionOptions{
		AuthToken: cfg.AuthToken,
		// m.srv is set before the server serves, so the closure sees it.
		PublicURL: func() string {
			if cfg.PublicURL != "" {
				return cfg.PublicURL
			}
			return m.srv.URL()
		},
		Logger: log.With("comp", "functions"),
	}
	if cfg.FunctionsPublic {
		fo.AuthToken = ""
		log.Warn("--functions-public: /functions/ endpoints accept unsigned calls; anyone reaching the port can add participants")
	}
	scfg.Services = []serve.Service{{Name: participantv1connect.ParticipantServiceName, Path: path, Handler: handler}}
	scfg.Routes = FunctionRoutes(h, fo)
	if err := cfg.Security.Apply(&scfg); err != nil {
		return nil, err
	}
	m.srv, err = serve.New(scfg)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Run serves until ctx is cancelled, watching the roster file for changes,
// then shuts down gracefully.
func (m *Main) Run(ctx context.Context) error {
	if m.roster != nil {
		watchCtx, stop := context.WithCancel(ctx)
		defer stop()
		go m.roster.Watch(watchCtx, m.cfg.RosterPoll)
	}
	return m.srv.Run(ctx)
}

// ReloadRoster reads the roster file again (what SIGHUP does). On error the
// previous roster stays in use.
func (m *Main) ReloadRoster() error {
	if m.roster == nil {
		return errors.New("no roster file configured")
	}
	return m.roster.Reload()
}

// Reload is what SIGHUP does: read the roster, the API keys file and the
// TLS certificate again. Failures are logged, and what failed to load
// stays as it was.
func (m *Main) Reload() error {
	var errs []error
	if m.roster != nil {
		errs = append(errs, m.roster.Reload())
	}
	errs = append(errs, m.srv.Reload())
	return errors.Join(errs...)
}

// Ready is closed once Run listens.
func (m *Main) Ready() <-chan struct{} { return m.srv.Ready() }

// Addr is the bound address once Ready is closed.
func (m *Main) Addr() net.Addr { return m.srv.Addr() }

// URL is "http://" + Addr once Ready is closed.
func (m *Main) URL() string { return m.srv.URL() }

// Run is the participantservice program: it reads the flags from args
// (each also settable by its PARTICIPANTSERVICE_… variable, looked up with
// getenv), logs to stderr, reloads the roster on SIGHUP, and serves until
// ctx ends. --help prints to stdout and returns nil.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := ParseFlags(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("participantservice: %w", err)
	}
	if cfg.Tracing, err = telemetry.Setup(ctx, "participantservice", getenv); err != nil {
		return fmt.Errorf("participantservice: %w", err)
	}
	defer func() { _ = cfg.Tracing.Close(ctx) }() // flushes the last spans
	// Each part adds its own comp attribute; the server adds
	// svc=participantservice.
	log := slog.New(telemetry.LogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})))
	m, err := NewMain(cfg, log)
	if err != nil {
		return fmt.Errorf("participantservice: %w", err)
	}
	mlog := log.With("comp", "main")
	serve.OnHangup(ctx, func() {
		mlog.Info("SIGHUP: reloading the roster, API keys and TLS certificate")
		_ = m.Reload() // failures are logged; what failed stays as it was
	})
	return m.Run(ctx)
}

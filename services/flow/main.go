package flow

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/internal/telemetry"
	"github.com/convoflow/convoflow/services/flow/console"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/studioapi"
)

// Run is the flowservice program: it parses args (each flag also settable
// by a FLOWSERVICE_ environment variable, looked up with getenv), opens the
// store --db selects (SQLite or PostgreSQL, applying migrations), starts the runner's background work
// and serves FlowService and the webhook until ctx ends. It logs "listening
// on ADDR" to stderr when ready, then shuts down in order: the server first
// (in-flight requests finish), then the runner, then the store.
func Run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := ParseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.Tracing, err = telemetry.Setup(ctx, "flowservice", getenv); err != nil {
		return err
	}
	defer func() { _ = cfg.Tracing.Close(ctx) }() // flushes the last spans
	return run(ctx, cfg, slog.New(telemetry.LogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))))
}

// run serves with cfg. base is the root logger: serve adds svc itself, the
// other components get svc and comp. On SIGHUP the server reads its API
// keys file and TLS certificate again.
func run(ctx context.Context, cfg Config, base *slog.Logger) (err error) {
	log := base.With("svc", "flowservice")
	st, err := openStore(ctx, cfg, log.With("comp", "store"))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing %s: %w", redactDB(cfg.DB), cerr))
		}
	}()
	// The registry is made before the runner and the server, which both
	// register on it; serve serves it.
	scfg := serve.Config{Name: "flowservice", Addr: cfg.Listen, Logger: base}
	metrics := cfg.Observability.Apply(&scfg)
	var tp trace.TracerProvider
	if cfg.Tracing != nil {
		tp = cfg.Tracing.Provider
		scfg.Tracing = tp
	}
	rn, err := runner.New(runner.Config{
		Metrics:          metrics.Registry,
		TracerProvider:   tp,
		Store:            st,
		AccountSid:       cfg.AccountSid,
		AuthToken:        cfg.AuthToken,
		ConversationsURL: cfg.ConversationsURL,
		FunctionMap:      cfg.FunctionMap,
		AllowOutbound:    cfg.AllowOutbound,
		MessageAuthor:    cfg.MessageAuthor,
		Logger:           log.With("comp", "runner"),
		LeaseTTL:         cfg.LeaseTTL,
		DrainTimeout:     cfg.DrainTimeout,
	})
	if err != nil {
		return err
	}
	// srv is assigned before it serves, so the closure sees it set.
	var srv *serve.Server
	publicURL := func() string {
		if cfg.PublicURL != "" {
			return strings.TrimSuffix(cfg.PublicURL, "/")
		}
		return srv.URL()
	}
	svc, err := newService(Deps{Store: st, Runner: rn, AccountSid: cfg.AccountSid, PublicURL: publicURL, Logger: log.With("comp", "api")})
	if err != nil {
		return err
	}
	path, h := flowv1connect.NewFlowServiceHandler(svc, append(serve.HandlerOptions(0), metrics.HandlerOption())...)
	hook, err := newWebhook(svc, cfg.AuthToken, metrics.Registry)
	if err != nil {
		return err
	}
	scfg.Services = []serve.Service{{Name: flowv1connect.FlowServiceName, Path: path, Handler: h}}
	if err := cfg.Security.Apply(&scfg); err != nil {
		return err
	}
	// Studio's REST API calls the same handler the RPCs reach; it checks
	// its callers itself (Twilio's basic auth, or an API key).
	studio, err := studioapi.New(studioapi.Config{Service: svc, AccountSid: cfg.AccountSid, AuthToken: cfg.AuthToken,
		APIKeys: scfg.APIKeys, PublicURL: publicURL, Logger: log.With("comp", "studioapi")})
	if err != nil {
		return err
	}
	// The console reads through the same handler and checks the same keys.
	con, err := console.New(console.Config{Flows: svc, APIKeys: scfg.APIKeys, Logger: log.With("comp", "console")})
	if err != nil {
		return err
	}
	scfg.Routes = append([]serve.Route{{Pattern: webhookPattern, Handler: hook}}, studio.Routes()...)
	scfg.Routes = append(scfg.Routes, con.Routes()...)
	srv, err = serve.New(scfg)
	if err != nil {
		return err
	}
	serve.OnHangup(ctx, func() { _ = srv.Reload() }) // failures are logged; the old keys stay
	// The runner outlives the server by a little: it stops only once no
	// request can reach it any more.
	runnerCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- rn.Start(runnerCtx) }()
	serveErr := srv.Run(ctx)
	stopRunner()
	runErr := <-runnerDone
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	if runErr != nil {
		runErr = fmt.Errorf("runner: %w", runErr)
	}
	log.Info("runner stopped")
	return errors.Join(serveErr, runErr)
}

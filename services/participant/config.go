package participant

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/convoflow/convoflow/internal/flagenv"
	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/internal/telemetry"
	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/participant/address"
)

// EnvPrefix prefixes the environment variables that set the flags
// (--auth-token → PARTICIPANTSERVICE_AUTH_TOKEN).
const EnvPrefix = "PARTICIPANTSERVICE_"

// Config is participantservice's configuration.
type Config struct {
	// Listen is the address the RPCs and function endpoints are served on.
	Listen string
	// ConversationsURL is the base URL of the Conversations API: Twilio's in
	// production, the fake in tests.
	ConversationsURL string
	// AccountSID and AuthToken authenticate to the Conversations API.
	AccountSID string
	AuthToken  string
	// Agents is the path of the support-agent roster (YAML or JSON); empty
	// runs without one.
	Agents string
	// RosterPoll is how often the roster file is checked for changes.
	RosterPoll time.Duration
	// DefaultProxyAddress is the Twilio number used as proxy when a request
	// or a roster entry gives none.
	DefaultProxyAddress string
	// PublicURL is the base URL callers of the function endpoints use,
	// which their X-Twilio-Signature covers; empty means http://{the
	// address the server listens on}.
	PublicURL string
	// FunctionsPublic serves the function endpoints without checking
	// X-Twilio-Signature.
	FunctionsPublic bool
	// TwilioTimeout bounds each Conversations API request.
	TwilioTimeout time.Duration
	// LogLevel is the lowest level logged.
	LogLevel slog.Level
	// Security holds the API keys, --insecure-no-auth and TLS.
	Security serve.Security
	// Observability holds --metrics-listen.
	Observability serve.Observability
	// Tracing is set by Run from the OTEL_* environment (see
	// internal/telemetry); nil means no tracing.
	Tracing *telemetry.Tracing
}

// DefaultConfig returns the defaults: a local listener, Twilio's API, and
// the credentials left for the operator to give.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:8082",
		ConversationsURL: twilioclient.DefaultBaseURL,
		RosterPoll:       5 * time.Second,
		TwilioTimeout:    twilioclient.DefaultTimeout,
		LogLevel:         slog.LevelInfo,
	}
}

// ParseFlags reads the configuration from args, each flag falling back to
// its environment variable (EnvPrefix + name, looked up with getenv). Help
// goes to out; the error is flag.ErrHelp when help was asked for.
func ParseFlags(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("participantservice", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve gRPC, Connect, gRPC-Web and the function endpoints on")
	fs.StringVar(&cfg.ConversationsURL, "conversations-url", cfg.ConversationsURL, "base URL of the Conversations API (the fake's URL in tests)")
	fs.StringVar(&cfg.AccountSID, "account-sid", "", "Twilio account SID (AC…); required")
	fs.StringVar(&cfg.AuthToken, "auth-token", "", "Twilio auth token; required")
	fs.StringVar(&cfg.Agents, "agents", "", "support-agent roster file (YAML or JSON), reloaded on change and on SIGHUP; empty: no roster")
	fs.DurationVar(&cfg.RosterPoll, "roster-poll", cfg.RosterPoll, "how often the roster file is checked for changes")
	fs.StringVar(&cfg.DefaultProxyAddress, "default-proxy-address", "", "Twilio number used as proxy address when a request or roster entry gives none, e.g. +15017122661")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "base URL callers of /functions/ use (as FlowService's --function-map target names it), which X-Twilio-Signature covers (default http://LISTEN-ADDRESS)")
	fs.BoolVar(&cfg.FunctionsPublic, "functions-public", false, "serve /functions/ without checking X-Twilio-Signature, as Twilio's public Functions (anyone reaching the port can add participants)")
	fs.DurationVar(&cfg.TwilioTimeout, "twilio-timeout", cfg.TwilioTimeout, "timeout of each Conversations API request")
	fs.TextVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	cfg.Security.Register(fs)
	cfg.Observability.Register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: participantservice [flags]\n\nParticipantService: adds and removes Twilio Conversations participants over gRPC/Connect,\nroutes conversations to support agents, and serves Studio Run Function endpoints.\n\nFlags (each also settable by the environment variable named):\n")
		fs.PrintDefaults()
	}
	if err := flagenv.Parse(fs, EnvPrefix, args, getenv); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return cfg, cfg.Validate()
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("--listen is required"))
	}
	if c.AccountSID == "" {
		errs = append(errs, fmt.Errorf("--account-sid (or %sACCOUNT_SID) is required", EnvPrefix))
	}
	if c.AuthToken == "" {
		errs = append(errs, fmt.Errorf("--auth-token (or %sAUTH_TOKEN) is required", EnvPrefix))
	}
	if err := serve.CheckBaseURL(c.ConversationsURL); err != nil {
		errs = append(errs, fmt.Errorf("--conversations-url: %w", err))
	}
	if c.PublicURL != "" {
		if err := serve.CheckBaseURL(c.PublicURL); err != nil {
			errs = append(errs, fmt.Errorf("--public-url: %w", err))
		}
	}
	if c.DefaultProxyAddress != "" {
		if _, err := address.Parse(c.DefaultProxyAddress); err != nil {
			errs = append(errs, fmt.Errorf("--default-proxy-address: %w", err))
		}
	}
	if c.RosterPoll <= 0 {
		errs = append(errs, errors.New("--roster-poll must be positive"))
	}
	if c.TwilioTimeout <= 0 {
		errs = append(errs, errors.New("--twilio-timeout must be positive"))
	}
	if err := c.Security.Validate(c.Listen); err != nil {
		errs = append(errs, err)
	}
	if err := c.Observability.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

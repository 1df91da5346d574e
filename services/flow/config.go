package flow

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/convoflow/convoflow/internal/flagenv"
	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/internal/telemetry"
	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/flow/outbound"
	"github.com/convoflow/convoflow/services/flow/runner"
)

// EnvPrefix prefixes the environment variables that set flowservice's
// flags: --listen is also FLOWSERVICE_LISTEN.
const EnvPrefix = "FLOWSERVICE_"

// Config is flowservice's configuration, read from flags and environment
// variables by ParseConfig.
type Config struct {
	// Listen is the TCP address to serve on.
	Listen string
	// DB selects the store: a postgres:// or postgresql:// URL for
	// PostgreSQL (the store replicas share), otherwise the path of an
	// SQLite file, whose directory is created if needed.
	DB string
	// DBMaxConns is the PostgreSQL connection pool's size; 0 means the
	// store's default (or the URL's pool_max_conns).
	DBMaxConns int
	// DBStatementTimeout bounds every PostgreSQL statement; 0 means the
	// URL's statement_timeout, or the store's default (30 s).
	DBStatementTimeout time.Duration
	// LeaseTTL is how long a replica holds a conversation or a timer
	// without renewing: a dead replica's work waits this long.
	LeaseTTL time.Duration
	// DrainTimeout bounds how long a stopping service lets events and
	// timers in progress finish before it hands them back.
	DrainTimeout time.Duration
	// ConversationsURL is the base URL of the Conversations API.
	ConversationsURL string
	// AccountSid and AuthToken authenticate calls to the Conversations API
	// and verify X-Twilio-Signature on webhooks.
	AccountSid string
	AuthToken  string
	// PublicURL is the externally visible base URL: webhook_url is built
	// from it and webhook signatures are checked against it. Empty means
	// http://{the address the server listens on}.
	PublicURL string
	// FunctionMap holds FROM=TO URL-prefix rewrites for run-function and
	// make-http-request.
	FunctionMap []string
	// AllowOutbound are exceptions to the outbound policy of
	// make-http-request and run-function: CIDRs, addresses or
	// HOST[:PORT].
	AllowOutbound []string
	// MessageAuthor is the author of the messages flows post.
	MessageAuthor string
	// LogLevel filters the logs.
	LogLevel slog.Level
	// Security holds the API keys, --insecure-no-auth and TLS.
	Security serve.Security
	// Observability holds --metrics-listen.
	Observability serve.Observability
	// Tracing is set by Run from the OTEL_* environment (see
	// internal/telemetry); nil means no tracing.
	Tracing *telemetry.Tracing
}

// DefaultConfig returns the defaults of every flag.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:8081",
		DB:               "./.data/flowservice.db",
		ConversationsURL: twilioclient.DefaultBaseURL,
		MessageAuthor:    "system",
		LogLevel:         slog.LevelInfo,

		LeaseTTL:     runner.DefaultLeaseTTL,
		DrainTimeout: runner.DefaultDrainTimeout,
	}
}

var accountSidRE = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)

// ParseConfig reads args (and, for each flag args leave alone, the
// FLOWSERVICE_ environment variable getenv returns) into a Config and
// checks it. --help prints the usage to stderr and returns flag.ErrHelp.
func ParseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("flowservice", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "TCP address to serve gRPC, Connect, gRPC-Web, the webhook and Studio's REST API (/v2/) on")
	fs.StringVar(&cfg.DB, "db", cfg.DB, "store: a postgres:// or postgresql:// URL (PostgreSQL, for replicas), or an SQLite file path (created with its directory when missing)")
	fs.IntVar(&cfg.DBMaxConns, "db-max-conns", cfg.DBMaxConns, "PostgreSQL connection pool size (0: max(8, 4×CPUs), or the URL's pool_max_conns)")
	fs.DurationVar(&cfg.DBStatementTimeout, "db-statement-timeout", cfg.DBStatementTimeout, "PostgreSQL statement_timeout of every connection (0: the URL's statement_timeout, or 30s)")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "how long a replica holds a conversation or timer without renewing it (renewed every fifth of it); a dead replica's work is taken over after this long")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "on SIGTERM, how long events and timers in progress may take to finish before they are handed back")
	fs.StringVar(&cfg.ConversationsURL, "conversations-url", cfg.ConversationsURL, "base URL of the Twilio Conversations API")
	fs.StringVar(&cfg.AccountSid, "account-sid", "", "Twilio account SID (AC…): Conversations API credentials and the account webhooks are accepted for (required)")
	fs.StringVar(&cfg.AuthToken, "auth-token", "", "Twilio auth token: Conversations API credentials and the key of X-Twilio-Signature (required)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "externally visible base URL, used for webhook_url and to check webhook signatures (default http://LISTEN-ADDRESS)")
	var fm flagenv.StringList
	fs.Var(&fm, "function-map", "FROM=TO URL-prefix rewrite for run-function and make-http-request, e.g. https://support-1234-dev.twil.io=http://127.0.0.1:8082/functions (repeatable; comma-separated in the environment)")
	var allow flagenv.StringList
	fs.Var(&allow, "allow-outbound", "CIDR, address or HOST[:PORT] that make-http-request and run-function may reach although the outbound policy refuses it (loopback, private, link-local, CGNAT, multicast…); --function-map targets are always allowed (repeatable; comma-separated in the environment)")
	fs.StringVar(&cfg.MessageAuthor, "message-author", cfg.MessageAuthor, "author of the messages flows post into conversations")
	fs.TextVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	cfg.Security.Register(fs)
	cfg.Observability.Register(fs)
	if err := flagenv.Parse(fs, EnvPrefix, args, getenv); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg.FunctionMap = []string(fm)
	cfg.AllowOutbound = []string(allow)
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the configuration and reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("--listen is required"))
	}
	if _, err := storeKindOf(c.DB); err != nil {
		errs = append(errs, err)
	}
	if c.DBMaxConns < 0 {
		errs = append(errs, fmt.Errorf("--db-max-conns %d must not be negative", c.DBMaxConns))
	}
	if c.DBStatementTimeout < 0 {
		errs = append(errs, fmt.Errorf("--db-statement-timeout %s must not be negative", c.DBStatementTimeout))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("--lease-ttl %s must be at least 1s", c.LeaseTTL))
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--drain-timeout %s must be positive", c.DrainTimeout))
	}
	if !accountSidRE.MatchString(c.AccountSid) {
		errs = append(errs, fmt.Errorf("--account-sid must be AC followed by 32 hex digits, got %q", c.AccountSid))
	}
	if c.AuthToken == "" {
		errs = append(errs, errors.New("--auth-token is required"))
	}
	if err := serve.CheckBaseURL(c.ConversationsURL); err != nil {
		errs = append(errs, fmt.Errorf("--conversations-url: %w", err))
	}
	if c.PublicURL != "" {
		if err := serve.CheckBaseURL(c.PublicURL); err != nil {
			errs = append(errs, fmt.Errorf("--public-url: %w", err))
		}
	}
	for _, m := range c.FunctionMap {
		from, to, ok := strings.Cut(m, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("--function-map %q: want FROM=TO", m))
			continue
		}
		for _, u := range []string{from, to} {
			if err := serve.CheckBaseURL(u); err != nil {
				errs = append(errs, fmt.Errorf("--function-map %q: %w", m, err))
			}
		}
	}
	if _, err := outbound.Parse(c.AllowOutbound); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(c.MessageAuthor) == "" {
		errs = append(errs, errors.New("--message-author must not be empty"))
	}
	if err := c.Security.Validate(c.Listen); err != nil {
		errs = append(errs, err)
	}
	if err := c.Observability.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

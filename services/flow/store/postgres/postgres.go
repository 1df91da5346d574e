package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convoflow/convoflow/services/flow/store"
)

// Defaults of the Options fields.
const (
	DefaultStatementTimeout = 30 * time.Second
	DefaultConnectTimeout   = 10 * time.Second
)

// Options tune Open. The zero value is what production wants. Each field
// that is zero leaves a setting given in the DSN in force, and only without
// one applies the default; a non-zero field overrides the DSN.
type Options struct {
	// MaxConns caps the connection pool; 0 means the DSN's pool_max_conns,
	// or without one max(8, 4×GOMAXPROCS). Listen uses connections of its
	// own, outside the pool.
	MaxConns int
	// StatementTimeout is the statement_timeout of every session, which
	// bounds each statement on the server; 0 means the DSN's
	// statement_timeout, or without one DefaultStatementTimeout.
	StatementTimeout time.Duration
	// ConnectTimeout bounds each connection attempt, and Open's first
	// connection, which it makes to fail early when the server is
	// unreachable; 0 means the DSN's connect_timeout, or without one
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Now is the clock that stamps records whose times the caller left
	// zero; nil means time.Now.
	Now func() time.Time
	// Logger receives the few things the store reports on its own (Listen
	// reconnecting, a server that does not commit synchronously); nil means
	// slog.Default(). Nothing logged contains the DSN's password.
	Logger *slog.Logger
}

// Store is a [store.Store] on a PostgreSQL database (in the schema that the
// DSN's search_path selects). It is safe for concurrent use, and any number
// of Stores (replicas) may share a database.
type Store struct {
	pool *pgxpool.Pool
	// connConfig configures the dedicated connections of Listen.
	connConfig *pgx.ConnConfig
	now        func() time.Time
	log        *slog.Logger
	// channel is the LISTEN/NOTIFY channel of the store's schema.
	channel string
	// secrets are the passwords of the DSN, scrubbed from everything the
	// store reports (see redact.go).
	secrets []string
	// dsn is the DSN without secrets, for messages.
	dsn string
	// direct runs the Tx methods on the pool, outside InTx.
	direct *queries

	closeOnce sync.Once
	// closed ends running Listen calls when the Store is closed.
	closed chan struct{}

	// LaterOutsideTx runs the deferred writes outside InTx.
	store.LaterOutsideTx
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Listener = (*Store)(nil)
)

// Open connects to the database the DSN names, a postgres:// URL or a
// key=value connection string as libpq and pgx accept them, and applies the
// pending schema migrations (see migrate.go). Open fails within the
// connect timeout when the server is unreachable. Errors never contain the
// DSN's password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	secrets := dsnSecrets(dsn)
	if opts.MaxConns < 0 || opts.StatementTimeout < 0 || opts.ConnectTimeout < 0 {
		return nil, newSafeError(fmt.Sprintf("postgres: MaxConns %d, StatementTimeout %s and ConnectTimeout %s must not be negative",
			opts.MaxConns, opts.StatementTimeout, opts.ConnectTimeout), secrets, store.ErrInvalidArgument)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts what it recognises as a password, but a malformed DSN
		// can defeat that; describeDSN and the scrubbing do not rely on it,
		// and the error does not wrap pgx's (which keeps the whole DSN).
		return nil, newSafeError(fmt.Sprintf("postgres: invalid DSN %s: %v", describeDSN(dsn, nil), err), secrets, store.ErrInvalidArgument)
	}
	secrets = append(secrets, configSecrets(&cfg.ConnConfig.Config)...)
	desc := describeDSN(dsn, &cfg.ConnConfig.Config)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	applyOptions(cfg, dsn, opts)

	connectCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(connectCtx, cfg)
	if err != nil {
		return nil, newSafeError(fmt.Sprintf("postgres: open %s: %v", desc, err), secrets, err)
	}
	fail := func(what string, err error) (*Store, error) {
		pool.Close()
		return nil, newSafeError(fmt.Sprintf("postgres: %s %s: %v", what, desc, err), secrets, err)
	}
	// The pool connects lazily; ping so that an unreachable server or bad
	// credentials fail Open, within the connect timeout.
	if err := pool.Ping(connectCtx); err != nil {
		if connectCtx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no connection within %s: %w", cfg.ConnConfig.ConnectTimeout, err)
		}
		return fail("connect to", err)
	}
	var schema *string
	var syncCommit string
	if err := pool.QueryRow(connectCtx, `SELECT current_schema(), current_setting('synchronous_commit')`).Scan(&schema, &syncCommit); err != nil {
		return fail("connect to", err)
	}
	if schema == nil {
		return fail("open", errors.New("no schema of the search_path exists"))
	}
	if syncCommit == "off" {
		// Acknowledged webhooks could then be lost in a server crash; see the
		// package documentation.
		opts.Logger.Warn("postgres store: the server does not wait for WAL flushes at commit (synchronous_commit is off); a crash can lose committed transactions",
			"dsn", desc)
	}
	if err := migrate(ctx, cfg.ConnConfig, opts.Now); err != nil {
		return fail("migrate", err)
	}
	s := &Store{
		pool: pool, connConfig: cfg.ConnConfig, now: opts.Now, log: opts.Logger,
		channel: channelName(*schema), secrets: secrets, dsn: desc, closed: make(chan struct{}),
	}
	s.direct = &queries{db: pool, now: s.now, channel: s.channel}
	s.LaterOutsideTx.InTx = s.InTx
	return s, nil
}

// applyOptions applies opts to cfg over the DSN's own settings, as Options
// documents.
func applyOptions(cfg *pgxpool.Config, dsn string, opts Options) {
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = int32(min(opts.MaxConns, 1<<31-1))
	case !dsnHasParam(dsn, "pool_max_conns"):
		// pgx's default is max(4, NumCPU); transactions here are short
		// and mostly wait on the network and the WAL flush, so four per
		// processor keep them flowing (BenchmarkWebhookToMessage on 2
		// cores: 593–661 executions/s with 4, 751–773 with 8, 704–731
		// with 16; PERFORMANCE.md).
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	// statement_timeout travels in the startup message, so every session,
	// pooled or not, has it from its first statement at no extra cost.
	params := cfg.ConnConfig.RuntimeParams
	_, inDSN := params["statement_timeout"]
	// The DSN may also set it among the options ("-c statement_timeout=…"),
	// which a startup parameter of the same name would override.
	inDSN = inDSN || strings.Contains(params["options"], "statement_timeout")
	switch {
	case opts.StatementTimeout > 0:
		params["statement_timeout"] = millis(opts.StatementTimeout)
	case !inDSN:
		params["statement_timeout"] = millis(DefaultStatementTimeout)
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout == 0:
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
}

// millis renders d in milliseconds, as statement_timeout counts, rounding
// up: a positive timeout must not become 0, which disables it.
func millis(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// Close closes the connection pool and ends running Listen calls. Callers
// should finish their transactions first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.pool.Close()
	})
	return nil
}

// rollbackTimeout bounds the rollback of a failed transaction, which runs
// detached from the caller's (possibly cancelled) context.
const rollbackTimeout = 5 * time.Second

// InTx implements [store.Store]: one READ COMMITTED transaction per call.
//
// PostgreSQL aborts a transaction at the first failing statement, while the
// contract lets fn handle a store error (ErrAlreadyExists, ErrNotFound, …)
// and go on. So no method issues a statement that fails for an expected
// condition: duplicates are INSERT … ON CONFLICT DO NOTHING, missing parents
// are INSERT … SELECT … WHERE EXISTS, preconditions are conditions of the
// UPDATE, and a statement that affected nothing is followed by a read that
// tells why. No method needs a savepoint. The deferred writes alone fail
// their statement, because their failure must fail the transaction (see
// deferred.go).
func (s *Store) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.wrap("begin", err)
	}
	defer conn.Release()
	t := &tx{conn: conn}
	done := false
	defer func() {
		if !done {
			// fn failed, panicked or called runtime.Goexit.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			t.rollback(rctx)
		}
	}()
	if err := fn(&queries{db: t, now: s.now, channel: s.channel}); err != nil {
		return err
	}
	// If a statement failed anyway (a lost connection, a statement
	// timeout) and fn went on, the transaction is aborted: COMMIT then
	// rolls back and reports pgx.ErrTxCommitRollback, rather than part of
	// fn's work being committed. A connection that a failed COMMIT leaves
	// in a transaction is closed (tx.commit), so nothing is left to roll
	// back either way.
	done = true
	if err := t.commit(ctx); err != nil {
		if err == t.failed {
			// A deferred write's own error, as its method would have
			// returned it.
			return err
		}
		return s.wrap("commit", err)
	}
	return nil
}

// wrap reports a failure of the store's own machinery (not of a query).
func (s *Store) wrap(what string, err error) error {
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// inTx runs one write method of several statements in its own transaction.
func inTx[T any](ctx context.Context, s *Store, fn func(q *queries) (T, error)) (T, error) {
	var out T
	err := s.InTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = fn(tx.(*queries))
		return err
	})
	return out, err
}

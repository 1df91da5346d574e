package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"

	sqlitedrv "modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options tune Open. The zero value is what production wants.
type Options struct {
	// Now is the clock that stamps records whose times the caller left
	// zero; nil means time.Now.
	Now func() time.Time
	// BusyTimeout is how long a connection waits for another process's
	// write lock before failing with SQLITE_BUSY; 0 means 10s.
	BusyTimeout time.Duration
	// Readers is the size of the read-only connection pool; 0 means
	// max(4, GOMAXPROCS).
	Readers int
	// MaxBatch caps how many concurrent InTx calls share one commit (group
	// commit); 0 means 64, 1 turns group commit off.
	MaxBatch int
}

// Store is a [store.Store] on one SQLite file. It is safe for concurrent
// use; several Stores (processes) may share a file, their writes then
// serialise on SQLite's file lock.
type Store struct {
	w, r *sql.DB
	// wc is the writer pool's one connection, held for the Store's life so
	// its prepared statements stay valid; transactions on it are plain
	// BEGIN IMMEDIATE / COMMIT statements (see group_commit.go).
	wc       *sql.Conn
	writer   *stmtCache
	now      func() time.Time
	reader   *queries
	maxBatch int

	// Group commit state (see InTx in group_commit.go). token is the right
	// to run a transaction function on the writer; cur, the open shared
	// transaction, is only touched by the token's holder.
	token   chan struct{}
	waiting atomic.Int64
	cur     *batch
	// commits counts committed batches, for tests.
	commits atomic.Int64

	// LaterOutsideTx runs the deferred writes outside InTx.
	store.LaterOutsideTx
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it and its parent directory when missing) the
// database at path and applies the pending schema migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		// A read pool and a write pool must see the same database, which an
		// in-memory database per connection is not.
		return nil, fmt.Errorf("sqlite: path %q: want a file path: %w", path, store.ErrInvalidArgument)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.Readers == 0 {
		opts.Readers = max(4, runtime.GOMAXPROCS(0))
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 64
	}
	if opts.Readers < 0 || opts.MaxBatch < 0 || opts.BusyTimeout < 0 {
		return nil, fmt.Errorf("sqlite: Readers %d, MaxBatch %d and BusyTimeout %s must not be negative: %w",
			opts.Readers, opts.MaxBatch, opts.BusyTimeout, store.ErrInvalidArgument)
	}

	// One writer connection. SQLite admits one writer per database anyway;
	// funnelling writes through one connection makes them queue in Go
	// (cheap, fair, and batched into shared commits, see group_commit.go)
	// instead of spinning on SQLITE_BUSY, and write transactions start with
	// BEGIN IMMEDIATE, so one never fails half-way when upgrading a read
	// lock (which busy_timeout cannot retry); busy_timeout only matters when
	// another process shares the file. Readers get their own pool: in WAL mode they never block
	// the writer nor each other, and _query_only guards against a write
	// slipping onto a reader.
	//
	// synchronous=FULL: in WAL mode, NORMAL skips the fsync at commit and a
	// power loss can roll back transactions that were already reported
	// committed. FlowService acknowledges a webhook only after its event is
	// committed and Twilio will not redeliver an acknowledged event, so a
	// commit must reach the disk before InTx returns. FULL costs one WAL
	// fsync per commit (see the benchmark in the package documentation).
	w, err := sql.Open("sqlite", dsn(path, opts, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w, opts.Now); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, opts, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wc, err := w.Conn(ctx)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	readers := newStmtCache(r.PrepareContext, r)
	s := &Store{
		w: w, r: r, wc: wc, writer: newStmtCache(wc.PrepareContext, wc),
		now: opts.Now, reader: &queries{db: cachedDB{cache: readers}, now: opts.Now},
		maxBatch: opts.MaxBatch, token: make(chan struct{}, 1),
	}
	s.LaterOutsideTx.InTx = s.InTx
	return s, nil
}

func dsn(path string, opts Options, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "1")
	// A batch member's savepoint (group_commit.go) journals every page it
	// changes in the statement journal, which SQLite spills to a temporary
	// file past 64 kB: a batch of executions did, and writing that file
	// was a tenth of the service's CPU. In memory it is bounded by
	// MaxBatch times the pages a member changes, and never fsynced.
	q.Add("_pragma", "temp_store(MEMORY)")
	// For the migrations, which use database/sql transactions; InTx issues
	// BEGIN IMMEDIATE itself.
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	if !filepath.IsAbs(path) {
		// file: URIs take relative paths in the opaque form.
		u = url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	}
	return u.String()
}

// Close closes both connection pools. A clean close checkpoints the WAL into
// the database file.
func (s *Store) Close() error {
	return errors.Join(s.reader.db.(cachedDB).cache.close(), s.writer.close(), s.wc.Close(), s.r.Close(), s.w.Close())
}

// write runs one write method in its own transaction.
func write[T any](ctx context.Context, s *Store, fn func(q *queries) (T, error)) (T, error) {
	var out T
	err := s.InTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = fn(tx.(*queries))
		return err
	})
	return out, err
}

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, in version order, each in its own transaction together
// with its record, so a crash leaves the schema at a known version. The
// immediate transaction takes the write lock first, so two processes opening
// the same new file do not both apply a migration.
func migrate(ctx context.Context, db *sql.DB, now func() time.Time) error {
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		apply_time INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	// A database migrated by a newer binary has tables and constraints this
	// one does not know; writing to it could break them.
	var newest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return err
	}
	if known := ms[len(ms)-1].Version; newest.Int64 > int64(known) {
		return &store.SchemaVersionError{Database: int(newest.Int64), Binary: known}
	}
	for _, m := range ms {
		if err := applyMigration(ctx, db, m, now); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m store.Migration, now func() time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, apply_time) VALUES (?, ?, ?)`,
		m.Version, m.Name, store.TimeToMicros(now())); err != nil {
		return err
	}
	return tx.Commit()
}

// sqliteCode returns the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var e *sqlitedrv.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

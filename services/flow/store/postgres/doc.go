// Package postgres implements [store.Store] and [store.Listener] on
// PostgreSQL with github.com/jackc/pgx/v5 and its pgxpool. Any number of
// replicas may share one database; a DSN's search_path selects the schema
// a Store keeps its tables in, so stores can share a database too.
//
// # Durability
//
// A commit is as durable as the server's synchronous_commit makes it; the
// store does not override the setting, which belongs to whoever runs the
// server. With the default, on, COMMIT returns only after the transaction's
// WAL is flushed on the primary (and, with synchronous standbys configured,
// on them as synchronous_standby_names demands), so FlowService can
// acknowledge a webhook as soon as InTx has recorded its event. With off,
// a server crash can lose transactions committed in the last few hundred
// milliseconds (three times wal_writer_delay): acknowledged webhooks that
// Twilio will not redeliver. Open logs a warning when the server runs so.
// local, remote_write and remote_apply flush the primary's WAL before COMMIT
// returns, as on does.
//
// # Concurrency
//
//   - InTx runs one READ COMMITTED transaction per call (commit on nil,
//     rollback on an error or a panic). Unlike the SQLite store's single
//     writer, transactions run concurrently on the pool and serialise only
//     where they touch the same rows.
//   - PostgreSQL aborts a transaction at its first failing statement, but
//     a store error inside InTx must not doom it. So no statement fails
//     for an expected condition: duplicates are INSERT … ON CONFLICT DO
//     NOTHING, foreign keys INSERT … SELECT … WHERE EXISTS (the parent
//     locked FOR KEY SHARE, as the foreign key check would), preconditions
//     (versions, revisions, lease owners, claims) conditions of the UPDATE,
//     and a statement that changed nothing is followed by a read that says
//     why. No method needs a savepoint. Text PostgreSQL cannot hold (invalid
//     UTF-8, NUL) is refused with ErrInvalidArgument before any statement.
//   - The deferred writes (the Later methods, deferred.go) are the
//     exception, on purpose: their failure must fail the transaction, so
//     their statements raise it (convoflow_fail, migration 0003). InTx
//     holds them back and sends them in the batch of the transaction's
//     next statement or of its COMMIT (tx.go), one round trip for all.
//   - Outside InTx every method but RecordEvent is one writing statement
//     (perhaps followed by reads that explain it), so it runs on the pool
//     as a transaction of its own. RecordEvent runs in its own InTx: for a
//     redelivery, a second statement must undo the first's counter in the
//     same transaction.
//   - RecordEvent is one statement: an upsert advances the conversation's
//     counter (locking its queue row, so one conversation's deliveries take
//     turns), and the event is inserted with that number ON CONFLICT DO
//     NOTHING. The redelivery keys are partial unique indexes, whose checks
//     see committed rows and wait for rows in flight whatever the snapshot,
//     so of concurrent deliveries of one message exactly one is recorded; a
//     redelivery puts the counter back. Numbers have no gaps or repeats
//     (see events.go).
//   - UpdateExecution and UpdateFlow check the version (base revision) in
//     the UPDATE's WHERE: a concurrent writer makes the statement wait,
//     and READ COMMITTED re-evaluates the condition on the row it
//     committed, so one of two writers of a version wins.
//   - CreateExecution leaves the one-active-execution rule to partial
//     unique indexes, which also settle races between replicas, and tells
//     *store.ActiveExecutionError from a taken SID as the SQLite store does.
//   - AcquireLease is one upsert whose DO UPDATE applies only when the
//     lease is the owner's or expired (PostgreSQL locks the conflicting row
//     either way, so concurrent takeovers serialise and one wins);
//     taken_from records the owner a lease was taken from. RenewLeases and
//     ExtendTimerClaims are one UPDATE each over an array parameter.
//   - ClaimDueTimers locks due timers FOR UPDATE SKIP LOCKED in the
//     UPDATE's CTE, so concurrent claimers take disjoint batches without
//     waiting for each other.
//   - Statements are prepared once per connection (pgx's statement cache),
//     and methods build their results from what they wrote and what
//     RETURNING gives rather than reading rows back: every method on the
//     runner's hot path is one round trip.
//
// # Schema and migrations
//
// Migrations are embedded from migrations/NNNN_name.sql and applied by Open
// in version order, each in its own transaction together with its row in
// schema_migrations (version, name, apply_time). The migrator holds the
// session-level advisory lock [MigrationLockKey] on a connection of its own
// for the whole run, so replicas opening a fresh database at once take
// turns and each migration is applied once; a database whose newest
// migration is newer than the binary's is refused ([store.SchemaVersionError]),
// checked under the lock. The migrator is our own, mirroring the SQLite
// store's: pressly/goose (and golang-migrate) would do the same with a lock
// and a version table, but go get github.com/pressly/goose/v3 raised about
// fifteen modules shared with the rest of the module (x/net, x/sys, otel,
// modernc's libc, …) because of the drivers its go.mod requires.
//
// Migration 0001 creates the final equivalent of the SQLite store's three
// migrations: the same tables, constraints, cascades and indexes. Times are
// timestamptz (microseconds, read back in UTC); a time that is not set (an
// event's done_time while pending, an unclaimed timer's claim_expire_time)
// is NULL and reads back as the zero time. JSON documents are text, not
// jsonb, which would normalise them, so they come back byte for byte. Lists
// page by keyset on bigint identity columns.
//
// # Announcements
//
// Notify is SELECT pg_notify(channel, conversationSID) inside the
// transaction: PostgreSQL delivers it on commit and drops it on rollback.
// The channel is "convoflow_work:" followed by the store's schema
// (current_schema() at Open), so stores in different schemas of a database
// do not hear each other. Listen holds one connection of its own, outside
// the pool, runs LISTEN on it and reconnects with a backoff of up to 5 s
// after failures, logging them without secrets.
//
// # Pool, timeouts and secrets
//
// [Options] sets the pool size, the sessions' statement_timeout (sent in
// the startup message, so it costs no round trip) and the connect timeout,
// which bounds Open's first connection too; a zero option leaves the DSN's
// pool_max_conns, statement_timeout or connect_timeout in force, and only
// without one applies the default (max(8, 4×GOMAXPROCS), 30 s, 10 s). The
// migrator's connection runs without statement_timeout, bounded by Open's
// context instead. No error or log line contains the DSN's password: the
// store describes a database by URL.Redacted, or by host, port, database
// and user, scrubs every message, and does not wrap pgx's connection
// errors, which keep the configuration.
//
// # Performance
//
// BenchmarkHotPath (storetest.BenchmarkHotPath: record an event, update a
// 2 kB execution state, append three steps, mark the event done, in one
// transaction) on the project's 2-core AMD EPYC VM with 24 GiB (nproc 2),
// 2026-12-06, load average about 0.8, go test -run '^$' -bench HotPath
// -benchtime 2s -count 2, run twice. The server was internal/pgtest's:
// PostgreSQL 15.18 on the same VM in its default configuration
// (synchronous_commit on, fsync by fdatasync, shared_buffers 128 MB),
// reached over TCP on 127.0.0.1; the disk syncs a 4 kB write in about
// 0.19 ms (dd oflag=dsync):
//
//	serial, 1 caller                  740–825 tx/s
//	parallel, 32 concurrent callers   1,039–1,270 tx/s (pool of 4)
//
// Each transaction allocates about 14 kB in 116 allocations. The WAL flush
// at commit is a small part of it: with synchronous_commit off the serial
// case ran at 890–920 tx/s. A transaction is eight round trips (BEGIN, one
// per call, COMMIT), about 60 µs each on this VM for a bare SELECT, and
// about 370 µs of statement execution on the server (pg_stat_statements:
// 58 µs per step, 83 µs for RecordEvent); in the parallel case the
// benchmark and the server's backends share the two cores. Pools of 2, 8
// and 16 connections gave 970, 1,300 and 1,080 tx/s in single runs (before
// RecordEvent became one statement, which gained about 10%).
package postgres

package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convoflow/convoflow/services/flow/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// MigrationLockKey is the key of the session-level advisory lock
// (pg_advisory_lock) the migrator holds while it checks and applies
// migrations, so that replicas opening a database at once take turns. It
// is the ASCII bytes of "convoflo" read as a big-endian int64. Advisory
// locks are per database: stores in different schemas of one database
// migrate one after another.
const MigrationLockKey int64 = 0x636f6e766f666c6f

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, in version order, each in its own transaction together
// with its record, so a crash leaves the schema at a known version.
//
// It runs on a connection of its own, outside the pool, holding the
// advisory lock MigrationLockKey for the whole run: the check of the
// recorded versions and every migration happen under it, so N replicas
// opening a fresh database at once apply each migration exactly once (the
// others wait, then find it recorded). A session-level lock rather than a
// transaction-level one, because the run spans several transactions; it
// ends with the connection even if the process dies half-way.
//
// The connection runs without statement_timeout: waiting for the lock
// while another replica migrates, or a migration that rewrites a large
// table, may take longer than any statement should. ctx bounds both.
func migrate(ctx context.Context, cfg *pgx.ConnConfig, now func() time.Time) error {
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	cfg = cfg.Copy()
	// In the startup message, so that not even a first SET runs under the
	// pool's statement_timeout.
	cfg.RuntimeParams["statement_timeout"] = "0"
	connectCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// Closing the session releases the lock too, should the unlock
		// below not have run.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, MigrationLockKey); err != nil {
		return fmt.Errorf("take the migration lock %d: %w", MigrationLockKey, err)
	}
	if err := migrateLocked(ctx, conn, ms, now); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, MigrationLockKey); err != nil {
		return fmt.Errorf("release the migration lock: %w", err)
	}
	return nil
}

func migrateLocked(ctx context.Context, conn *pgx.Conn, ms []store.Migration, now func() time.Time) error {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		apply_time timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	done := map[int]bool{}
	newest := 0
	for _, v := range applied {
		done[v] = true
		newest = max(newest, v)
	}
	// Checked under the lock, so a newer binary migrating at the same time
	// cannot slip past.
	if known := ms[len(ms)-1].Version; newest > known {
		return &store.SchemaVersionError{Database: newest, Binary: known}
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		if err := applyMigration(ctx, conn, m, now); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, m store.Migration, now func() time.Time) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Without arguments pgx sends the file as one simple query, which may
	// hold several statements.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, apply_time) VALUES ($1, $2, $3)`,
		m.Version, m.Name, store.Normalize(now())); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

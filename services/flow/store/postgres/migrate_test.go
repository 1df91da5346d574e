package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convoflow/convoflow/internal/pgtest"
	"github.com/convoflow/convoflow/services/flow/store"
)

func TestMigrationFilesWellFormed(t *testing.T) {
	t.Parallel()
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d (no gaps)", m.Name, m.Version, i+1)
		}
	}
}

type appliedMigration struct {
	version int
	name    string
	at      time.Time
}

func readMigrations(t *testing.T, s *Store) []appliedMigration {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT version, name, apply_time FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (appliedMigration, error) {
		var m appliedMigration
		return m, r.Scan(&m.version, &m.name, timeCol{&m.at})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrateConcurrentOpen opens a fresh database from 8 goroutines at
// once, as replicas starting together would: every Open succeeds and each
// migration is applied exactly once. Opening again applies nothing.
func TestMigrateConcurrentOpen(t *testing.T) {
	t.Parallel()
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.NewDatabase(t)
	const replicas = 8
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			stores[i], errs[i] = Open(t.Context(), dsn, Options{Now: func() time.Time { return t0.Add(time.Duration(i) * time.Hour) }})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	applied := readMigrations(t, stores[0])
	if len(applied) != len(ms) {
		t.Fatalf("%d migrations recorded, want %d: %+v", len(applied), len(ms), applied)
	}
	for i, m := range ms {
		if applied[i].version != m.Version || applied[i].name != m.Name {
			t.Errorf("migration %d recorded as %d %s, want %d %s", i, applied[i].version, applied[i].name, m.Version, m.Name)
		}
	}

	again := openTest(t, dsn, Options{Now: func() time.Time { return t0.Add(100 * time.Hour) }})
	for i, m := range readMigrations(t, again) {
		if !m.at.Equal(applied[i].at) {
			t.Errorf("re-open re-applied %s: at %v, first at %v", m.name, m.at, applied[i].at)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewSchema(t)
	s := openTest(t, dsn, Options{})
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name, apply_time) VALUES (9999, '9999_future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn, Options{})
	ms, _ := store.LoadMigrations(migrationFS, "migrations")
	want := "database schema version 9999 is newer than this binary's " + strconv.Itoa(ms[len(ms)-1].Version)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a newer schema = %v, want %q", err, want)
	}
	var versionErr *store.SchemaVersionError
	if !errors.As(err, &versionErr) || versionErr.Database != 9999 {
		t.Errorf("errors.As(%v, *store.SchemaVersionError) = %+v", err, versionErr)
	}
}

// TestMigrateTakesAdvisoryLock holds the migration lock on another
// connection: Open waits for it (bounded by its context) and goes on once
// it is released.
func TestMigrateTakesAdvisoryLock(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	holder, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close(context.Background()) })
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, MigrationLockKey); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Open(ctx, dsn, Options{})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open while the lock is held = %v, want the context's deadline", err)
	}
	if elapsed := time.Since(start); elapsed < 400*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("Open gave up after %s, want about the context's 500ms", elapsed)
	}
	var tables int
	if err := holder.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Error("Open touched the schema without the lock")
	}

	opened := make(chan error, 1)
	go func() {
		s, err := Open(t.Context(), dsn, Options{})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned (%v) while the lock was held", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_unlock($1)`, MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open did not finish after the lock was released")
	}
}

// TestMigrationGivesOldFlowsNoTestUsers opens a schema an older binary left
// at version 1, with a flow in it: migration 0002 gives the flow no test
// users, and it runs its published revision for everyone.
func TestMigrationGivesOldFlowsNoTestUsers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewSchema(t)
	ctx := t.Context()
	old := openTest(t, dsn, Options{})
	if _, err := old.CreateFlow(ctx, store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusPublished, CreateTime: t0}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE flows DROP COLUMN test_users`, `DELETE FROM schema_migrations WHERE version >= 2`} {
		if _, err := old.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := openTest(t, dsn, Options{})
	if users, err := s.GetFlowTestUsers(ctx, flowSID); err != nil || users != nil {
		t.Errorf("old flow's test users = %q, %v; want none", users, err)
	}
	if f, err := s.GetRevisionForContact(ctx, store.RevisionForContactParams{FlowSID: flowSID, Contact: "+15550100"}); err != nil || f.Revision != 1 {
		t.Errorf("old flow's revision for a contact = %d, %v; want 1", f.Revision, err)
	}
	if err := s.SetFlowTestUsers(ctx, flowSID, []string{"+15550100"}); err != nil {
		t.Fatal(err)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
	"github.com/convoflow/convoflow/services/flow/store/storetest"
)

func openTest(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

func newTestStore(tb testing.TB) store.Store {
	return openTest(tb, filepath.Join(tb.TempDir(), "flow.db"))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newTestStore)
}

func BenchmarkHotPath(b *testing.B) {
	storetest.BenchmarkHotPath(b, newTestStore)
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const (
	flowSID = "FW00000000000000000000000000000001"
	execSID = "FN00000000000000000000000000000001"
	stepSID = "FT00000000000000000000000000000001"
)

func TestOpenCreatesParentDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "flow.db")
	openTest(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	s := openTest(t, filepath.Join(".data", "flow db?.sqlite"))
	if _, err := s.CreateFlow(t.Context(), store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusDraft}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(".data", "flow db?.sqlite")); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		t.Run(path, func(t *testing.T) {
			_, err := Open(t.Context(), path, Options{})
			if !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("Open(%q) = %v, want ErrInvalidArgument", path, err)
			}
		})
	}
}

func TestPragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "flow.db"))
	type querier interface {
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	for _, tc := range []struct {
		db     querier
		pragma string
		want   string
	}{
		{s.wc, "journal_mode", "wal"},
		{s.wc, "synchronous", "2"}, // FULL
		{s.wc, "foreign_keys", "1"},
		{s.wc, "busy_timeout", "10000"},
		{s.wc, "query_only", "0"},
		{s.wc, "temp_store", "2"}, // MEMORY
		{s.r, "journal_mode", "wal"},
		{s.r, "foreign_keys", "1"},
		{s.r, "query_only", "1"},
	} {
		var got string
		if err := tc.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	// The read pool refuses writes.
	if _, err := s.r.ExecContext(t.Context(), `DELETE FROM flows`); err == nil {
		t.Error("write through the read pool succeeded")
	}
}

func TestMigrationsAppliedOnce(t *testing.T) {
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flow.db")
	var first []int64
	for i := range 3 {
		s, err := Open(t.Context(), path, Options{Now: func() time.Time { return t0.Add(time.Duration(i) * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.QueryContext(t.Context(), `SELECT version, apply_time FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		var versions, applied []int64
		for rows.Next() {
			var v, at int64
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatal(err)
			}
			versions, applied = append(versions, v), append(applied, at)
		}
		rows.Close()
		if len(versions) != len(ms) {
			t.Fatalf("open %d: %d migrations recorded, want %d", i, len(versions), len(ms))
		}
		for j, m := range ms {
			if versions[j] != int64(m.Version) {
				t.Errorf("migration %d has version %d, want %d", j, versions[j], m.Version)
			}
		}
		if i == 0 {
			first = applied
		} else if !slices.Equal(first, applied) {
			t.Errorf("open %d re-applied migrations: apply times %v, first %v", i, applied, first)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMigrationFilesWellFormed(t *testing.T) {
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

// TestReopenKeepsEverything reopens the same file, as a restart would.
func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.db")
	storetest.RunReopen(t, func(tb testing.TB) (store.Store, error) { return Open(tb.Context(), path, Options{}) })
}

// TestMigrationGivesOldStepsTheirFlow opens a database written before steps
// had flow_sid and parent_step_sid (schema version 1): its steps are given
// their execution's flow and no parent step, new steps keep theirs, and its
// flows have no test users.
func TestMigrationGivesOldStepsTheirFlow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.db")
	ctx := t.Context()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.CreateFlow(ctx, store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusPublished,
			Definition: json.RawMessage(`{"states":[]}`), CreateTime: t0}); err != nil {
			return err
		}
		if _, err := tx.CreateExecution(ctx, store.Execution{SID: execSID, FlowSID: flowSID, FlowRevision: 1,
			ConversationSID: "CH1", Status: store.ExecutionStatusActive, CreateTime: t0}); err != nil {
			return err
		}
		_, err := tx.AppendStep(ctx, store.Step{SID: stepSID, ExecutionSID: execSID, Name: "incomingConversationMessage", CreateTime: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Take the database back to version 1, as an older binary left it.
	for _, q := range []string{
		`DROP INDEX leases_owner`,
		`DROP INDEX timers_claim_owner`,
		`ALTER TABLE leases DROP COLUMN taken_from`,
		`ALTER TABLE timers DROP COLUMN claims`,
		`ALTER TABLE steps DROP COLUMN flow_sid`,
		`ALTER TABLE steps DROP COLUMN parent_step_sid`,
		`ALTER TABLE flows DROP COLUMN test_users`,
		`DELETE FROM schema_migrations WHERE version >= 2`,
	} {
		if _, err := s.wc.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path)
	got, err := s.GetStep(ctx, stepSID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FlowSID != flowSID || got.ParentStepSID != "" {
		t.Errorf("old step after migration: flow %q, parent step %q; want %q, none", got.FlowSID, got.ParentStepSID, flowSID)
	}
	// Flows written before migration 0004 have no test users and run
	// their published revision for everyone.
	if users, err := s.GetFlowTestUsers(ctx, flowSID); err != nil || users != nil {
		t.Errorf("old flow's test users = %q, %v; want none", users, err)
	}
	if f, err := s.GetRevisionForContact(ctx, store.RevisionForContactParams{FlowSID: flowSID, Contact: "+15550100"}); err != nil || f.Revision != 1 {
		t.Errorf("old flow's revision for a contact = %d, %v; want 1", f.Revision, err)
	}
	const (
		subflowSID = "FW000000000000000000000000000000b2"
		subStepSID = "FT000000000000000000000000000000b2"
	)
	in := store.Step{SID: subStepSID, ExecutionSID: execSID, FlowSID: subflowSID, ParentStepSID: stepSID, CreateTime: t0}
	if _, err := s.AppendStep(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetStep(ctx, subStepSID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FlowSID != subflowSID || got.ParentStepSID != stepSID {
		t.Errorf("new step: flow %q, parent step %q; want %q, %q", got.FlowSID, got.ParentStepSID, subflowSID, stepSID)
	}
}

// TestTwoProcessesShareAFile opens the same file twice, as two replicas
// would, and lets both claim timers concurrently: SQLite's file lock
// serialises their writes and no timer is claimed twice.
func TestTwoProcessesShareAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.db")
	a, b := openTest(t, path), openTest(t, path)
	ctx := t.Context()
	if _, err := a.CreateFlow(ctx, store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusPublished}); err != nil {
		t.Fatal(err)
	}
	const timers = 40
	for i := range timers {
		sid := fmt.Sprintf("FN%032x", i+1)
		if _, err := b.CreateExecution(ctx, store.Execution{SID: sid, FlowSID: flowSID, FlowRevision: 1,
			ConversationSID: fmt.Sprintf("CH%d", i), Status: store.ExecutionStatusActive}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ScheduleTimer(ctx, store.Timer{ExecutionSID: sid, Kind: store.TimerKindWaitTimeout, FireTime: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for owner, s := range map[string]*Store{"a": a, "b": b} {
		wg.Go(func() {
			for {
				batch, err := s.ClaimDueTimers(ctx, store.ClaimTimersParams{Now: t0, Owner: owner, LeaseDuration: time.Hour, Limit: 3})
				if err != nil {
					t.Error(err)
					return
				}
				if len(batch) == 0 {
					return
				}
				mu.Lock()
				for _, tm := range batch {
					if prev, ok := seen[tm.ID]; ok {
						t.Errorf("timer %d claimed by %s and %s", tm.ID, prev, owner)
					}
					seen[tm.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != timers {
		t.Errorf("claimed %d timers, want %d", len(seen), timers)
	}
}

// TestGroupCommit checks that concurrent transactions do share commits, and
// that MaxBatch 1 turns sharing off.
func TestGroupCommit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxBatch int
		shared   bool
	}{
		{"default", 0, true},
		{"off", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), filepath.Join(t.TempDir(), "flow.db"), Options{MaxBatch: tc.maxBatch})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const callers, each = 32, 10
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					for j := range each {
						if _, err := s.AcquireLease(t.Context(), fmt.Sprintf("lease-%d-%d", i, j), "o", t0, time.Minute); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			var n int
			if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM leases`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != callers*each {
				t.Fatalf("%d leases committed, want %d", n, callers*each)
			}
			commits := s.commits.Load()
			if shared := commits < callers*each; shared != tc.shared {
				t.Errorf("%d commits for %d transactions; want shared commits = %v", commits, callers*each, tc.shared)
			}
		})
	}
}

// TestGroupCommitMembers puts members that write, write and fail, and
// write nothing into one shared transaction: only the failed member's work
// is rolled back, and the member without statements (which opens no
// savepoint) commits with the others.
func TestGroupCommitMembers(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "flow.db"))
	ctx := t.Context()
	acquire := func(name string) func(tx store.Tx) error {
		return func(tx store.Tx) error {
			_, err := tx.AcquireLease(ctx, name, "o", t0, time.Minute)
			return err
		}
	}
	errFail := errors.New("member fails")
	members := []struct {
		name string
		fn   func(tx store.Tx) error
		want error
	}{
		{"writes", acquire("kept-1"), nil},
		{"fails", func(tx store.Tx) error {
			if err := acquire("rolled-back")(tx); err != nil {
				return err
			}
			return errFail
		}, errFail},
		{"nothing", func(store.Tx) error { return nil }, nil},
		{"fails_without_statements", func(store.Tx) error { return errFail }, errFail},
		{"writes_after", acquire("kept-2"), nil},
	}
	before := s.commits.Load()
	first, started := make(chan error, 1), make(chan struct{})
	go func() {
		first <- s.InTx(ctx, func(tx store.Tx) error {
			close(started)
			// Hold the writer until every member waits for it, so they
			// all join this transaction.
			for s.waiting.Load() < int64(len(members)) {
				time.Sleep(time.Millisecond)
			}
			return acquire("first")(tx)
		})
	}()
	<-started
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { errs[i] = s.InTx(ctx, m.fn) })
	}
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, m := range members {
		if !errors.Is(errs[i], m.want) || (m.want == nil) != (errs[i] == nil) {
			t.Errorf("%s: %v, want %v", m.name, errs[i], m.want)
		}
	}
	if n := s.commits.Load() - before; n != 1 {
		t.Errorf("%d commits, want one shared commit", n)
	}
	var got []string
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM leases ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if want := []string{"first", "kept-1", "kept-2"}; !slices.Equal(got, want) {
		t.Errorf("leases %v, want %v", got, want)
	}
}

// BenchmarkHotPathNoGroupCommit is BenchmarkHotPath with every transaction
// committed on its own (MaxBatch 1), for comparison.
func BenchmarkHotPathNoGroupCommit(b *testing.B) {
	storetest.BenchmarkHotPath(b, func(tb testing.TB) store.Store {
		s, err := Open(context.Background(), filepath.Join(tb.TempDir(), "flow.db"), Options{MaxBatch: 1})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.db")
	s := openTest(t, path)
	if _, err := s.wc.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, apply_time) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), path, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open of a newer schema = %v, want a refusal", err)
	}
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/internal/pgtest"
	"github.com/convoflow/convoflow/services/flow/store"
	"github.com/convoflow/convoflow/services/flow/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openTest opens a store on dsn and closes it when tb ends. The store logs
// to the test's log unless opts says otherwise.
func openTest(tb testing.TB, dsn string, opts Options) *Store {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tbWriter{tb}, nil))
	}
	s, err := Open(context.Background(), dsn, opts)
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

// tbWriter writes to tb's log. Stores log from their own goroutines
// (Listen), which end before the test does.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newTestStore is the suite's factory: every store gets a schema of its own.
func newTestStore(tb testing.TB) store.Store {
	return openTest(tb, pgtest.NewSchema(tb), Options{})
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

// withParam returns dsn with the parameter key set to value, in the DSN's
// own form.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set(key, value)
		// pgx reads '+' literally, not as a space.
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return u.String()
	}
	quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value)
	return dsn + " " + key + "='" + quoted + "'"
}

// TestJSONVerbatim checks that documents come back byte for byte, which
// jsonb would not do (it reorders keys, drops duplicates and whitespace).
func TestJSONVerbatim(t *testing.T) {
	t.Parallel()
	s := openTest(t, pgtest.NewSchema(t), Options{})
	def := json.RawMessage("{ \"b\" : 1,\n\t\"a\": [1, 2,  3], \"a\": \"dup\", \"u\": \"\\u00e9\\u0000\" }")
	f, err := s.CreateFlow(t.Context(), store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusDraft, Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Definition) != string(def) {
		t.Errorf("created definition = %q, want %q", f.Definition, def)
	}
	got, err := s.GetFlow(t.Context(), flowSID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Definition) != string(def) {
		t.Errorf("read definition = %q, want %q", got.Definition, def)
	}
}

// TestInvalidTextDoesNotAbortTx checks that what PostgreSQL's text cannot
// hold is refused before it reaches a statement: the transaction goes on.
func TestInvalidTextDoesNotAbortTx(t *testing.T) {
	t.Parallel()
	s := openTest(t, pgtest.NewSchema(t), Options{})
	err := s.InTx(t.Context(), func(tx store.Tx) error {
		_, err := tx.CreateFlow(t.Context(), store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusDraft,
			Definition: json.RawMessage("\"\xff\"")})
		if !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("invalid UTF-8 definition: %v, want ErrInvalidArgument", err)
		}
		_, err = tx.CreateFlow(t.Context(), store.Flow{SID: flowSID, FriendlyName: "nul\x00", Status: store.FlowStatusDraft})
		if !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("NUL in a name: %v, want ErrInvalidArgument", err)
		}
		if _, err := tx.GetFlow(t.Context(), "FW\xff"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("lookup of an invalid key: %v, want ErrNotFound", err)
		}
		_, err = tx.CreateFlow(t.Context(), store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusDraft})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFlow(t.Context(), flowSID); err != nil {
		t.Fatal(err)
	}
}

// TestFailedStatementFailsCommit checks that a transaction a statement
// aborted is not reported committed when fn ignores the failure.
func TestFailedStatementFailsCommit(t *testing.T) {
	t.Parallel()
	s := openTest(t, pgtest.NewSchema(t), Options{})
	err := s.InTx(t.Context(), func(tx store.Tx) error {
		if _, err := tx.CreateFlow(t.Context(), store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusDraft}); err != nil {
			return err
		}
		if _, err := tx.(*queries).db.Exec(t.Context(), `SELECT 1/0`); err == nil {
			t.Error("division by zero succeeded")
		}
		return nil
	})
	if err == nil {
		t.Fatal("InTx committed a transaction a statement had aborted")
	}
	if _, err := s.GetFlow(t.Context(), flowSID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("flow after the failed commit: %v, want ErrNotFound", err)
	}
}

// TestReopenKeepsEverything reopens the same schema, as a restart would.
func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewSchema(t)
	storetest.RunReopen(t, func(tb testing.TB) (store.Store, error) { return Open(tb.Context(), dsn, Options{}) })
}

// TestTwoReplicasShareASchema opens the same schema twice, as two replicas
// would, and lets both record redeliveries of the same messages and claim
// timers concurrently.
func TestTwoReplicasShareASchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewSchema(t)
	a, b := openTest(t, dsn, Options{}), openTest(t, dsn, Options{})
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
	recorded := map[string]int{}
	var wg sync.WaitGroup
	for owner, s := range map[string]*Store{"a": a, "b": b} {
		wg.Go(func() {
			for i := range 20 {
				_, dup, err := s.RecordEvent(ctx, store.Event{ConversationSID: "CH-shared", FlowSID: flowSID, MessageSID: fmt.Sprintf("IM%d", i)})
				if err != nil {
					t.Error(err)
					return
				}
				if !dup {
					mu.Lock()
					recorded[fmt.Sprintf("IM%d", i)]++
					mu.Unlock()
				}
			}
		})
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
	for i := range 20 {
		if n := recorded[fmt.Sprintf("IM%d", i)]; n != 1 {
			t.Errorf("message IM%d recorded %d times, want once", i, n)
		}
	}
	for seq := int64(1); seq <= 20; seq++ {
		head, err := a.NextPendingEvent(ctx, "CH-shared")
		if err != nil {
			t.Fatal(err)
		}
		if head.Sequence != seq {
			t.Fatalf("queue head has sequence %d, want %d", head.Sequence, seq)
		}
		if err := b.MarkEventDone(ctx, head.ID, nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.NextPendingEvent(ctx, "CH-shared"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("queue after 20 events: %v, want drained", err)
	}
}

func TestChannelName(t *testing.T) {
	t.Parallel()
	if got := channelName("public"); got != "convoflow_work:public" {
		t.Errorf("channel = %q", got)
	}
	long := strings.Repeat("s", 80)
	if got := channelName(long); len(got) > 63 || got == channelName(long+"x") {
		t.Errorf("channel of a long schema = %q", got)
	}
}

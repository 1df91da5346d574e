package sqlite

import (
	"context"
	"path/filepath"
	"testing"

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

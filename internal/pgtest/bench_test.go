package pgtest_test

import (
	"testing"

	"github.com/convoflow/convoflow/internal/pgtest"
)

// The costs the package doc reports: a cluster of one's own (initdb, start
// to the first connection, stop), and creating a database or a schema on
// the shared one (they are dropped in the cleanup, outside the timing).

func BenchmarkStart(b *testing.B) {
	for range b.N {
		c := pgtest.Start(b, pgtest.Options{})
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewDatabase(b *testing.B) {
	pgtest.Shared(b)
	b.ResetTimer()
	for range b.N {
		pgtest.NewDatabase(b)
	}
}

func BenchmarkNewSchema(b *testing.B) {
	pgtest.NewSchema(b) // the schemas' database, created once
	b.ResetTimer()
	for range b.N {
		pgtest.NewSchema(b)
	}
}

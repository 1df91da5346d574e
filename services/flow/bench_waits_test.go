package flow

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkParkedWaits parks b.N executions in send-and-wait (each
// conversation's first message starts the wait flow, which asks and
// waits an hour), then reports what a parked wait costs: the Go heap it
// keeps (heap-B/wait, after a GC; the Conversations fake runs in the same
// process, so its record of each posted question is included) and the
// store's growth (store-B/wait: the SQLite file and its WAL, or the
// PostgreSQL database's size), and B/wait, their sum. It then answers one
// of the waits and reports how long the resume took (resume-ms), which must
// not grow with the number parked. Run it at a size that means something:
//
//	go test -run '^$' -bench ParkedWaits -benchtime 100000x ./services/flow/
func BenchmarkParkedWaits(b *testing.B) {
	b.Run(benchStore(b), benchParkedWaits)
}

func benchParkedWaits(b *testing.B) {
	bs := startBenchStackWith(b, waitDefinition(b, "3600"))
	bs.prepare(b, b.N)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	heap0 := heapInUse()
	store0 := storeBytes(b, bs.svc.db)
	b.ResetTimer()
	bs.deliverAll(b, b.N)
	for i := range b.N {
		if _, err := bs.wait(ctx, i); err != nil { // the question was posted: the execution waits
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// The question is posted before the wait's commit; let the last
	// commits land before measuring.
	if err := waitIdle(ctx, b, bs.svc.url); err != nil {
		b.Fatal(err)
	}
	heap := heapInUse() - heap0
	store := storeBytes(b, bs.svc.db) - store0
	b.ReportMetric(float64(heap)/float64(b.N), "heap-B/wait")
	b.ReportMetric(float64(store)/float64(b.N), "store-B/wait")
	b.ReportMetric(float64(heap+store)/float64(b.N), "B/wait")

	// Answer the middle one and time the resume to its confirmation.
	i := b.N / 2
	start := time.Now()
	if err := bs.deliverMessage(i, 1); err != nil {
		b.Fatal(err)
	}
	if _, err := bs.wait(ctx, i); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "resume-ms")
}

// waitIdle blocks until the service works on no conversation any more
// (its queue-depth gauge is 0): every parked execution's commit is in.
func waitIdle(ctx context.Context, b *testing.B, url string) error {
	for !strings.Contains(scrapeMetrics(b, url), "\nconvoflow_conversations_in_progress 0\n") {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// storeBytes is the store's size on disk: the SQLite file with its WAL,
// or the PostgreSQL database.
func storeBytes(b *testing.B, db string) int64 {
	b.Helper()
	if benchStore(b) == "postgres" {
		conn, err := pgx.Connect(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int64
		if err := conn.QueryRow(context.Background(), "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	var n int64
	for _, f := range []string{db, db + "-wal"} {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

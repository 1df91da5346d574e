package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"

	sqlitelib "modernc.org/sqlite/lib"
)

// dbtx is what queries run on: the read pool, or a write transaction.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements [store.Tx] on a dbtx.
type queries struct {
	db  dbtx
	now func() time.Time
	// failed is the error of the first deferred write that failed: it
	// fails the transaction even if fn went on (see store.Tx).
	failed error
}

var _ store.Tx = (*queries)(nil)

// stamp returns t, or the store's clock when t is zero, as stored.
func (q *queries) stamp(t time.Time) int64 {
	if t.IsZero() {
		t = q.now()
	}
	return store.TimeToMicros(t)
}

// timeCol scans a microsecond column into a UTC time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.t = store.MicrosToTime(n.Int64)
	return nil
}

func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlitelib.SQLITE_CONSTRAINT_UNIQUE || c == sqlitelib.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKey(err error) bool {
	return sqliteCode(err) == sqlitelib.SQLITE_CONSTRAINT_FOREIGNKEY
}

// nilIfEmpty returns raw as it reads back: an empty document is NULL.
func nilIfEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	return raw
}

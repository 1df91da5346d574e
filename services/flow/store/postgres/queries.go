package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/convoflow/convoflow/services/flow/store"
)

// dbtx is what queries run on: the pool (each statement its own
// transaction), or a transaction of InTx.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queries implements [store.Tx] on a dbtx.
type queries struct {
	db      dbtx
	now     func() time.Time
	channel string
}

var _ store.Tx = (*queries)(nil)

// maxRetries bounds the statements that are retried after losing a race
// to a concurrent transaction (see the callers); each retry runs with a
// fresh snapshot, and in practice the first one succeeds.
const maxRetries = 8

// stamp returns t, or the store's clock when t is zero, as stored.
func (q *queries) stamp(t time.Time) time.Time {
	if t.IsZero() {
		t = q.now()
	}
	return store.Normalize(t)
}

// timeArg stores the zero time (not set) as NULL.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.Normalize(t)
}

// jsonArg stores an absent document as NULL, and a document as the bytes
// given.
func jsonArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return []byte(raw)
}

// nilIfEmpty returns raw as it reads back: an empty document is NULL.
func nilIfEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	return raw
}

// jsonCol scans a nullable text column holding a JSON document, copying
// the bytes once.
type jsonCol struct{ raw *json.RawMessage }

func (c jsonCol) ScanBytes(v []byte) error {
	if v == nil {
		*c.raw = nil
		return nil
	}
	*c.raw = append(json.RawMessage(nil), v...)
	return nil
}

// timeCol scans a nullable timestamptz column into a UTC time, the zero time
// for NULL.
type timeCol struct{ t *time.Time }

func (c timeCol) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		*c.t = time.Time{}
		return nil
	}
	*c.t = store.Normalize(v.Time)
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// sqlError wraps an error of a statement that failed although the method
// avoids failing statements for expected conditions (a lost connection, a
// timeout, a constraint a concurrent schema change added). The sentinel
// that matches the SQLSTATE, if any, is wrapped too.
func sqlError(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		var sentinel error
		switch code := pgErr.Code; {
		case code == "23505": // unique_violation
			sentinel = store.ErrAlreadyExists
		case code == "23503": // foreign_key_violation
			sentinel = store.ErrNotFound
		case code == "40001" || code == "40P01": // serialization_failure, deadlock_detected
			sentinel = store.ErrConflict
		case code == "23514" || strings.HasPrefix(code, "22"): // check_violation, data_exception
			sentinel = store.ErrInvalidArgument
		// The store's own codes, which deferred writes raise through
		// convoflow_fail (migrations/0003_fail.sql).
		case code == failNotFound:
			sentinel = store.ErrNotFound
		case code == failConflict:
			sentinel = store.ErrConflict
		case code == failAlreadyExists:
			sentinel = store.ErrAlreadyExists
		}
		if sentinel != nil {
			return fmt.Errorf("%s: %w: %w", what, sentinel, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// collect scans every row of rows with the destinations dest gives for a
// new value, and closes rows.
func collect[T any](rows pgx.Rows, err error, dest func(*T) []any, what string) ([]T, error) {
	if err != nil {
		return nil, sqlError(what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(dest(&v)...); err != nil {
			return nil, sqlError(what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, sqlError(what, err)
	}
	return out, nil
}

// errRetries reports a statement that kept losing races.
func errRetries(what string) error {
	return fmt.Errorf("%s: lost %d races to concurrent transactions in a row: %w", what, maxRetries, store.ErrConflict)
}

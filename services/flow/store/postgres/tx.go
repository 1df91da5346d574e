package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// beginSQL opens InTx's transactions.
const beginSQL = "begin isolation level read committed"

// tx is the dbtx of one InTx: a pooled connection whose BEGIN is sent
// together with the transaction's first statement, in one batch, rather
// than as a round trip of its own.
//
// Every execution the runner starts costs two transactions (record the
// event, then run it), and on PostgreSQL each statement is a round trip to
// a server on the same two cores: pgx's BeginTx would spend one of them on
// BEGIN alone. An extended-protocol batch ends with one Sync, but an
// explicit BEGIN keeps the transaction open past it, so the statements
// that follow run in the same transaction exactly as after BeginTx. A
// transaction that issues no statement sends nothing at all.
type tx struct {
	conn  *pgxpool.Conn
	begun bool
}

var _ dbtx = (*tx)(nil)

func (t *tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begun {
		return t.conn.Exec(ctx, sql, args...)
	}
	br := t.begin(ctx, sql, args)
	if _, err := br.Exec(); err != nil {
		return pgconn.CommandTag{}, errors.Join(err, br.Close())
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.begun {
		return t.conn.Query(ctx, sql, args...)
	}
	br := t.begin(ctx, sql, args)
	if _, err := br.Exec(); err != nil {
		return nil, errors.Join(err, br.Close())
	}
	rows, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return firstRow{rows}
}

// begin sends BEGIN and the first statement in one batch.
func (t *tx) begin(ctx context.Context, sql string, args []any) pgx.BatchResults {
	t.begun = true
	b := &pgx.Batch{}
	b.Queue(beginSQL)
	b.Queue(sql, args...)
	return t.conn.SendBatch(ctx, b)
}

// commit ends the transaction as pgx's Tx.Commit does: a transaction that
// failed earlier answers COMMIT with ROLLBACK, which is an error here, and
// a connection left inside a transaction by a failed COMMIT is closed
// rather than returned to the pool.
func (t *tx) commit(ctx context.Context) error {
	if !t.begun {
		return nil
	}
	tag, err := t.conn.Exec(ctx, "commit")
	if err != nil {
		t.closeIfInTx(ctx)
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// rollback ends a transaction that will not be committed.
func (t *tx) rollback(ctx context.Context) {
	if !t.begun {
		return
	}
	if _, err := t.conn.Exec(ctx, "rollback"); err != nil {
		t.closeIfInTx(ctx)
	}
}

// closeIfInTx closes a connection whose transaction state is unknown or
// still open, so that Release destroys it instead of pooling it (pgxpool
// also refuses a connection that is not idle, but says nothing of why).
func (t *tx) closeIfInTx(ctx context.Context) {
	if t.conn.Conn().PgConn().TxStatus() != 'I' {
		_ = t.conn.Conn().Close(ctx)
	}
}

// batchRows are the rows of a batch's last statement: closing them closes
// the batch, which reports the batch's error if the rows did not.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.Rows.Err()
	if err := r.br.Close(); r.err == nil {
		r.err = err
	}
}

func (r *batchRows) Err() error {
	if r.closed {
		return r.err
	}
	return r.Rows.Err()
}

// firstRow is QueryRow over Query, as pgx's own QueryRow is: Scan reads the
// first row (pgx.ErrNoRows when there is none) and closes the rows.
type firstRow struct{ rows pgx.Rows }

func (r firstRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		r.rows.Close()
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errRow is a row whose query failed before it returned rows.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

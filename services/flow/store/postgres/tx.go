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
// than as a round trip of its own, and which holds deferred writes back
// until the next statement or the COMMIT, to send them in that statement's
// batch.
//
// Every execution the runner starts costs two transactions (record the
// event, then run it), and on PostgreSQL each statement is a round trip to
// a server on the same two cores: pgx's BeginTx would spend one of them on
// BEGIN alone, and the run transaction's writes (steps, the event done,
// the lease settled) one each. An extended-protocol batch ends with one
// Sync, but an explicit BEGIN keeps the transaction open past it, so the
// statements that follow run in the same transaction exactly as after
// BeginTx. A transaction that issues no statement sends nothing at all.
//
// Within a batch the server skips every statement after one that fails,
// up to the Sync, and leaves the transaction aborted: a failed deferred
// write thus keeps the COMMIT that travels with it from running, and
// nothing of the transaction persists. The deferred writes make sure that
// every condition under which they must fail fails their statement
// (deferred.go).
type tx struct {
	conn  *pgxpool.Conn
	begun bool
	// queue holds the deferred writes not sent yet, in call order.
	queue []write
	// after holds reads to send after the COMMIT, in its batch, where
	// they see what committed by then. Their read never fails: the
	// commit has happened whatever they find.
	after []write
	// failed is the error of the deferred write that failed, which fails
	// every later statement and the commit: the server has aborted the
	// transaction.
	failed error
}

// write is a deferred write: a statement returning one row, and read,
// which scans that row and returns the store's error for the statement.
type write struct {
	sql  string
	args []any
	read func(pgx.Row) error
}

var _ dbtx = (*tx)(nil)

func (t *tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.failed != nil {
		return pgconn.CommandTag{}, t.failed
	}
	if t.begun && len(t.queue) == 0 {
		return t.conn.Exec(ctx, sql, args...)
	}
	br, err := t.send(ctx, sql, args, nil)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.failed != nil {
		return nil, t.failed
	}
	if t.begun && len(t.queue) == 0 {
		return t.conn.Query(ctx, sql, args...)
	}
	br, err := t.send(ctx, sql, args, nil)
	if err != nil {
		return nil, err
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

// hold queues a deferred write, to be sent with the next statement.
func (t *tx) hold(w write) error {
	if t.failed != nil {
		return t.failed
	}
	t.queue = append(t.queue, w)
	return nil
}

// fail fails the transaction with err, as a failed deferred write does.
func (t *tx) fail(err error) error {
	if t.failed == nil {
		t.failed = err
	}
	return err
}

// lookAfterCommit queues a read to send after the COMMIT (see tx.after).
func (t *tx) lookAfterCommit(w write) {
	t.after = append(t.after, w)
}

// send sends, in one batch, BEGIN unless the transaction has begun, the
// deferred writes held back, sql, and the statements of after, and reads
// the results of the deferred writes; the caller reads the rest. A
// deferred write's failure fails the transaction and is returned.
func (t *tx) send(ctx context.Context, sql string, args []any, after []write) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	begin := !t.begun
	if begin {
		b.Queue(beginSQL)
	}
	held := t.queue
	t.queue = nil
	for _, w := range held {
		b.Queue(w.sql, w.args...)
	}
	b.Queue(sql, args...)
	for _, w := range after {
		b.Queue(w.sql, w.args...)
	}
	t.begun = true
	br := t.conn.SendBatch(ctx, b)
	if begin {
		if _, err := br.Exec(); err != nil {
			// The held writes were skipped with everything after BEGIN:
			// the transaction must not commit without them.
			return nil, t.fail(errors.Join(err, br.Close()))
		}
	}
	for _, w := range held {
		if err := w.read(br.QueryRow()); err != nil {
			// The batch's other results repeat the failure.
			_ = br.Close()
			return nil, t.fail(err)
		}
	}
	return br, nil
}

// commit ends the transaction as pgx's Tx.Commit does: a transaction that
// failed earlier answers COMMIT with ROLLBACK, which is an error here, and
// a connection left inside a transaction by a failed COMMIT is closed
// rather than returned to the pool. Deferred writes still held back travel
// with the COMMIT; when one of them fails (or failed before), the
// transaction is rolled back and commit returns that write's error.
func (t *tx) commit(ctx context.Context) error {
	if t.failed != nil {
		t.rollback(ctx)
		return t.failed
	}
	if !t.begun && len(t.queue) == 0 {
		return nil
	}
	tag, err := t.sendCommit(ctx)
	if t.failed != nil {
		t.rollback(ctx)
		return t.failed
	}
	if err != nil {
		t.closeIfInTx(ctx)
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// sendCommit sends COMMIT, with the deferred writes held back and the
// reads to make after it, and returns COMMIT's result.
func (t *tx) sendCommit(ctx context.Context) (pgconn.CommandTag, error) {
	if len(t.after) == 0 {
		return t.Exec(ctx, "commit")
	}
	after := t.after
	t.after = nil
	br, err := t.send(ctx, "commit", nil, after)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if err != nil {
		return tag, errors.Join(err, br.Close())
	}
	// Committed: whatever the reads after it find, or fail with, is no
	// failure of the commit (Close repeats a read's error).
	for _, w := range after {
		_ = w.read(br.QueryRow())
	}
	_ = br.Close()
	return tag, nil
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

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/convoflow/convoflow/services/flow/store"
)

// Group commit.
//
// With synchronous=FULL every commit waits for an fsync of the WAL, a few
// milliseconds on ordinary disks, and SQLite has one writer: committing each
// transaction on its own caps the store at a few hundred transactions per
// second whatever the CPU. So concurrent InTx calls share transactions: the
// callers take turns on the single writer connection, each running its
// function inside a SAVEPOINT of the open shared transaction, and the last
// caller of a run (no one else waiting, or MaxBatch reached) commits once for
// all of them. Every caller whose function succeeded returns only after that
// commit is durable, so the contract of InTx is unchanged:
//
//   - a function that fails (error, panic, runtime.Goexit) is rolled back to
//     its savepoint, leaving the others' work intact;
//   - functions of one batch run one after another on one connection, so
//     each sees the writes of those before it, exactly as if they had
//     committed in that order (and if the commit fails, all of them fail);
//   - a caller does not wait for others' commits longer than one batch.
//
// The caller that begins a transaction runs its function without a
// savepoint: nothing else is in the transaction yet, so if the function
// fails the whole transaction is rolled back and the next caller begins
// anew. Under light load most batches have one member, and this saves the
// SAVEPOINT and RELEASE statements of each.
//
// Statements inside a shared transaction run detached from the callers'
// cancellation: SQLite answers an interrupted INSERT, UPDATE or DELETE inside
// an explicit transaction by rolling back the whole transaction, which would
// discard other callers' work. A cancelled context is checked before a
// function runs instead.

// batch is one shared transaction on the writer connection.
type batch struct {
	members int
	// aborted is set when the batch's first member failed and rolled the
	// whole transaction back: it holds no work and is not committed.
	aborted bool
	// broken is set when the shared transaction can no longer be committed
	// (a savepoint could not be rolled back or released).
	broken error
	done   chan struct{}
	// err is the outcome of the commit, valid once done is closed.
	err error
}

// InTx implements [store.Store], committing concurrent callers together (see
// above).
func (s *Store) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Waiters never give up their place: whoever holds the token may have
	// left the transaction open because it counted them in waiting. The wait
	// is bounded by the functions ahead, which only talk to the database.
	s.waiting.Add(1)
	s.token <- struct{}{}
	s.waiting.Add(-1)

	b := s.cur
	first := b == nil
	if first {
		// The shared transaction outlives the caller that began it.
		// IMMEDIATE takes the write lock now: a deferred transaction that
		// later upgrades its read lock can fail with SQLITE_BUSY at once,
		// which busy_timeout does not retry.
		if _, err := s.wdb().ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
			<-s.token
			return fmt.Errorf("sqlite: begin: %w", err)
		}
		b = &batch{done: make(chan struct{})}
		s.cur = b
	}
	b.members++

	finished := false
	defer func() {
		if !finished {
			// fn panicked or called runtime.Goexit: its work is already
			// rolled back; pass the turn on so the batch still commits.
			s.handOff(b)
		}
	}()
	var fnErr error
	if first {
		fnErr = s.runFirst(ctx, b, fn)
	} else {
		fnErr = s.runMember(ctx, b, fn)
	}
	finished = true
	s.handOff(b)
	if fnErr != nil {
		return fnErr
	}
	<-b.done
	return b.err
}

// runFirst runs fn as the first member of b, straight in the transaction:
// if fn fails (or panics) the transaction, holding nothing else, is rolled
// back and b aborted.
func (s *Store) runFirst(ctx context.Context, b *batch, fn func(tx store.Tx) error) error {
	ok := false
	defer func() {
		if !ok {
			s.rollback(context.Background())
			b.aborted = true
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	q := &queries{db: s.wdb(), now: s.now}
	if err := fn(q); err != nil {
		return err
	}
	if q.failed != nil {
		return q.failed
	}
	ok = true
	return nil
}

// runMember runs fn in a savepoint of b's transaction. The savepoint is
// opened by fn's first statement (see savepointDB): a member that ends up
// writing nothing, such as an early send record the commit took over,
// costs no statement at all.
func (s *Store) runMember(ctx context.Context, b *batch, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := &savepointDB{cachedDB: s.wdb()}
	defer func() {
		if !d.open {
			return
		}
		if _, err := d.cachedDB.ExecContext(ctx, `ROLLBACK TO member`); err != nil {
			b.broken = err
			return
		}
		if _, err := d.cachedDB.ExecContext(ctx, `RELEASE member`); err != nil {
			b.broken = err
		}
	}()
	q := &queries{db: d, now: s.now}
	err := fn(q)
	if err == nil {
		err = q.failed
	}
	if d.err != nil {
		// The shared transaction cannot be committed (see handOff).
		b.broken = d.err
	}
	if err != nil {
		return err
	}
	if !d.open {
		return nil
	}
	if _, err := d.cachedDB.ExecContext(ctx, `RELEASE member`); err != nil {
		b.broken = err
		return fmt.Errorf("sqlite: release savepoint: %w", err)
	}
	d.open = false
	return nil
}

// savepointDB runs a batch member's statements on the writer, opening the
// member's savepoint before the first of them.
type savepointDB struct {
	cachedDB
	open bool
	// err is why the savepoint could not be opened.
	err error
}

func (d *savepointDB) begin(ctx context.Context) error {
	if d.open {
		return nil
	}
	if d.err != nil {
		return d.err
	}
	if _, err := d.cachedDB.ExecContext(ctx, `SAVEPOINT member`); err != nil {
		d.err = fmt.Errorf("sqlite: savepoint: %w", err)
		return d.err
	}
	d.open = true
	return nil
}

func (d *savepointDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := d.begin(ctx); err != nil {
		return nil, err
	}
	return d.cachedDB.ExecContext(ctx, query, args...)
}

func (d *savepointDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := d.begin(ctx); err != nil {
		return nil, err
	}
	return d.cachedDB.QueryContext(ctx, query, args...)
}

func (d *savepointDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	// A *sql.Row cannot carry an error from outside database/sql, so
	// without a savepoint the query runs anyway: the batch is broken then
	// (runMember), and none of its work is committed.
	_ = d.begin(ctx)
	return d.cachedDB.QueryRowContext(ctx, query, args...)
}

// handOff ends the caller's turn: it leaves the transaction open for the
// next waiter, or commits it (rolls it back if broken) and wakes its members.
func (s *Store) handOff(b *batch) {
	if b.aborted {
		// Only the first member was in it, and it is rolled back: the next
		// caller begins a new transaction.
		s.cur = nil
		close(b.done)
		<-s.token
		return
	}
	if b.broken == nil && b.members < s.maxBatch && s.waiting.Load() > 0 {
		<-s.token
		return
	}
	s.cur = nil
	ctx := context.Background()
	if b.broken != nil {
		b.err = fmt.Errorf("sqlite: a transaction shared with concurrent callers was lost: %w", b.broken)
		s.rollback(ctx)
	} else if _, err := s.wdb().ExecContext(ctx, `COMMIT`); err != nil {
		b.err = fmt.Errorf("sqlite: commit: %w", err)
		// A failed COMMIT can leave the transaction open.
		s.rollback(ctx)
	} else {
		s.commits.Add(1)
	}
	close(b.done)
	<-s.token
}

// wdb runs statements on the writer connection, detached from cancellation.
func (s *Store) wdb() cachedDB { return cachedDB{cache: s.writer, detach: true} }

// rollback ends whatever transaction is open on the writer; "no transaction
// is active" (SQLite already rolled it back) is the expected failure.
func (s *Store) rollback(ctx context.Context) {
	_, _ = s.wdb().ExecContext(ctx, `ROLLBACK`)
}

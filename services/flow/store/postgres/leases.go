package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convoflow/convoflow/services/flow/store"
)

// acquireLeaseSQL takes a lease (see AcquireLease), returning no row when
// another owner holds it; AcquireLeaseLater runs it too.
const acquireLeaseSQL = `INSERT INTO leases (name, owner, expire_time, taken_from) VALUES ($1, $2, $3, '')
	ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expire_time = excluded.expire_time,
		taken_from = CASE WHEN leases.owner = excluded.owner THEN '' ELSE leases.owner END
	WHERE leases.owner = excluded.owner OR leases.expire_time <= $4
	RETURNING name, owner, expire_time, taken_from`

func scanLease(row pgx.Row, l *store.Lease) error {
	return row.Scan(&l.Name, &l.Owner, timeCol{&l.ExpireTime}, &l.TakenFrom)
}

func (q *queries) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (store.Lease, error) {
	if err := store.CheckLease(name, owner, now, ttl); err != nil {
		return store.Lease{}, err
	}
	for range maxRetries {
		// One statement. Of concurrent acquirers the first inserts or
		// updates the row; the others wait for it (ON CONFLICT locks the
		// conflicting row even when the WHERE turns out false), and their
		// WHERE is then evaluated against the row it committed: an
		// unexpired lease of another owner updates nothing and returns no
		// row. taken_from is set from the row as it was (SET expressions
		// read the old values), so it names the previous owner of a lease
		// taken over.
		var l store.Lease
		err := scanLease(q.db.QueryRow(ctx, acquireLeaseSQL, name, owner, store.Normalize(now.Add(ttl)), store.Normalize(now)), &l)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Lease{}, sqlError(fmt.Sprintf("acquire lease %q", name), err)
		}
		err = q.leaseHeld(ctx, name)
		if !errors.Is(err, store.ErrNotFound) {
			return store.Lease{}, err
		}
		// Released between the two statements: try again.
	}
	return store.Lease{}, errRetries(fmt.Sprintf("acquire lease %q", name))
}

// leaseHeld describes the current holder of a lease that was not ours.
func (q *queries) leaseHeld(ctx context.Context, name string) error {
	held := &store.LeaseHeldError{Name: name}
	err := q.db.QueryRow(ctx, `SELECT owner, expire_time FROM leases WHERE name = $1`, name).
		Scan(&held.Owner, timeCol{&held.ExpireTime})
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("lease %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return sqlError(fmt.Sprintf("lease %q", name), err)
	}
	return held
}

func (q *queries) RenewLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (store.Lease, error) {
	if err := store.CheckLease(name, owner, now, ttl); err != nil {
		return store.Lease{}, err
	}
	expire := store.Normalize(now.Add(ttl))
	// An expired lease that nobody took over is still ours to renew.
	tag, err := q.db.Exec(ctx, `UPDATE leases SET expire_time = $3 WHERE name = $1 AND owner = $2`, name, owner, expire)
	if err != nil {
		return store.Lease{}, sqlError(fmt.Sprintf("renew lease %q", name), err)
	}
	if tag.RowsAffected() == 0 {
		return store.Lease{}, q.leaseHeld(ctx, name)
	}
	return store.Lease{Name: name, Owner: owner, ExpireTime: expire}, nil
}

func (q *queries) ReleaseLease(ctx context.Context, name, owner string) error {
	if name == "" || owner == "" {
		return fmt.Errorf("lease name and owner must be set (got %q, %q): %w", name, owner, store.ErrInvalidArgument)
	}
	if err := store.CheckText("lease name or owner", name, owner); err != nil {
		return err
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner)
	if err != nil {
		return sqlError(fmt.Sprintf("release lease %q", name), err)
	}
	if tag.RowsAffected() == 0 {
		if err := q.leaseHeld(ctx, name); !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// settleLeaseCTE renews or releases a lease (see SettleLease); the CTEs
// released and renewed say which, and SettleLeaseLater runs it too.
const settleLeaseCTE = `WITH pending AS (
		SELECT EXISTS (SELECT 1 FROM events WHERE conversation_sid = $3 AND status = 'pending') AS queued
	), released AS (
		DELETE FROM leases WHERE name = $1 AND owner = $2 AND NOT (SELECT queued FROM pending) RETURNING 1
	), renewed AS (
		UPDATE leases SET expire_time = $4 WHERE name = $1 AND owner = $2 AND (SELECT queued FROM pending) RETURNING 1
	)`

func (q *queries) SettleLease(ctx context.Context, name, owner, conversationSID string, now time.Time, ttl time.Duration) (bool, error) {
	if err := store.CheckLease(name, owner, now, ttl); err != nil {
		return false, err
	}
	if err := store.CheckText("conversation SID", conversationSID); err != nil {
		return false, err
	}
	// One round trip: the sub-statements share one snapshot, which sees
	// this transaction's own writes (the event just marked done), and
	// exactly one of them touches the lease row, so the row is renewed or
	// deleted, never both. An event another transaction commits after
	// the snapshot finds the lease held and leaves the event to its
	// holder; the runner looks once more after a release, which covers
	// it as it covers any event recorded between a look and a release.
	var released, renewed bool
	err := q.db.QueryRow(ctx, settleLeaseCTE+`
		SELECT EXISTS (SELECT 1 FROM released), EXISTS (SELECT 1 FROM renewed)`,
		name, owner, conversationSID, store.Normalize(now.Add(ttl))).Scan(&released, &renewed)
	if err != nil {
		return false, sqlError(fmt.Sprintf("settle lease %q", name), err)
	}
	if !released && !renewed {
		return false, q.leaseHeld(ctx, name)
	}
	return released, nil
}

func (q *queries) RenewLeases(ctx context.Context, owner string, names []string, now time.Time, ttl time.Duration) ([]string, error) {
	if err := store.CheckLease("(heartbeat)", owner, now, ttl); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	if err := store.CheckText("lease name", names...); err != nil {
		return nil, err
	}
	// One statement whatever the number of leases: the names travel as one
	// text[] parameter.
	rows, err := q.db.Query(ctx, `UPDATE leases SET expire_time = $1 WHERE owner = $2 AND name = ANY($3) RETURNING name`,
		store.Normalize(now.Add(ttl)), owner, names)
	return collect(rows, err, func(name *string) []any { return []any{name} }, "renew leases of "+owner)
}

func (q *queries) ExpireLeases(ctx context.Context, owner string, now time.Time) (int, error) {
	if owner == "" || now.IsZero() {
		return 0, fmt.Errorf("expire leases: need an owner and a time: %w", store.ErrInvalidArgument)
	}
	if err := store.CheckText("lease owner", owner); err != nil {
		return 0, err
	}
	// Leases and timer claims end in one statement, so other replicas
	// never see one half of a hand-back.
	var n int
	err := q.db.QueryRow(ctx, `WITH l AS (
			UPDATE leases SET expire_time = $2 WHERE owner = $1 AND expire_time > $2 RETURNING 1
		), t AS (
			UPDATE timers SET claim_expire_time = $2 WHERE claim_owner = $1 AND claim_expire_time > $2 RETURNING 1
		)
		SELECT (SELECT count(*) FROM l) + (SELECT count(*) FROM t)`, owner, store.Normalize(now)).Scan(&n)
	if err != nil {
		return 0, sqlError(fmt.Sprintf("expire leases of %q", owner), err)
	}
	return n, nil
}

// Notify implements [store.Tx]: pg_notify queues the announcement in the
// transaction, and PostgreSQL delivers it to the listeners of the store's
// channel when the transaction commits, never when it rolls back. Outside
// InTx the statement is its own transaction, and delivers at once.
func (q *queries) Notify(ctx context.Context, conversationSID string) error {
	if err := store.CheckText("conversation SID", conversationSID); err != nil {
		return err
	}
	if _, err := q.db.Exec(ctx, `SELECT pg_notify($1, $2)`, q.channel, conversationSID); err != nil {
		return sqlError("notify "+conversationSID, err)
	}
	return nil
}

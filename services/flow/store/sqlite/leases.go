package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

func (q *queries) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (store.Lease, error) {
	if err := store.CheckLease(name, owner, now, ttl); err != nil {
		return store.Lease{}, err
	}
	expire := store.TimeToMicros(now.Add(ttl))
	// One statement, so acquiring is atomic on any backend with upserts: the
	// row is taken over only if it is ours or expired, otherwise nothing is
	// returned.
	// taken_from is set from the row as it was (SET expressions read the
	// old values), so it names the previous owner of a lease taken over.
	var l store.Lease
	err := q.db.QueryRowContext(ctx, `INSERT INTO leases (name, owner, expire_time, taken_from) VALUES (?, ?, ?, '')
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expire_time = excluded.expire_time,
			taken_from = CASE WHEN leases.owner = excluded.owner THEN '' ELSE leases.owner END
		WHERE leases.owner = excluded.owner OR leases.expire_time <= ?
		RETURNING name, owner, expire_time, taken_from`, name, owner, expire, store.TimeToMicros(now)).
		Scan(&l.Name, &l.Owner, timeCol{&l.ExpireTime}, &l.TakenFrom)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Lease{}, q.leaseHeld(ctx, name)
	}
	if err != nil {
		return store.Lease{}, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return l, nil
}

// leaseHeld describes the current holder of a lease that was not ours.
func (q *queries) leaseHeld(ctx context.Context, name string) error {
	held := &store.LeaseHeldError{Name: name}
	err := q.db.QueryRowContext(ctx, `SELECT owner, expire_time FROM leases WHERE name = ?`, name).
		Scan(&held.Owner, timeCol{&held.ExpireTime})
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("lease %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("lease %q: %w", name, err)
	}
	return held
}

func (q *queries) RenewLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (store.Lease, error) {
	if err := store.CheckLease(name, owner, now, ttl); err != nil {
		return store.Lease{}, err
	}
	expire := store.TimeToMicros(now.Add(ttl))
	// An expired lease that nobody took over is still ours to renew.
	res, err := q.db.ExecContext(ctx, `UPDATE leases SET expire_time = ? WHERE name = ? AND owner = ?`, expire, name, owner)
	if err != nil {
		return store.Lease{}, fmt.Errorf("renew lease %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.Lease{}, fmt.Errorf("renew lease %q: %w", name, err)
	} else if n == 0 {
		return store.Lease{}, q.leaseHeld(ctx, name)
	}
	return store.Lease{Name: name, Owner: owner, ExpireTime: store.MicrosToTime(expire)}, nil
}

func (q *queries) ReleaseLease(ctx context.Context, name, owner string) error {
	if name == "" || owner == "" {
		return fmt.Errorf("lease name and owner must be set (got %q, %q): %w", name, owner, store.ErrInvalidArgument)
	}
	res, err := q.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner)
	if err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	} else if n == 0 {
		if err := q.leaseHeld(ctx, name); !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (q *queries) SettleLease(ctx context.Context, name, owner, conversationSID string, now time.Time, ttl time.Duration) (bool, error) {
	if err := store.CheckLease(name, owner, now, ttl); err != nil {
		return false, err
	}
	var pending bool
	if err := q.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM events
		WHERE conversation_sid = ? AND status = 'pending')`, conversationSID).Scan(&pending); err != nil {
		return false, fmt.Errorf("settle lease %q: %w", name, err)
	}
	if pending {
		_, err := q.RenewLease(ctx, name, owner, now, ttl)
		return false, err
	}
	// Not ReleaseLease: releasing a lease that is gone is no error there,
	// but here it means the commit no longer holds the conversation.
	res, err := q.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner)
	if err != nil {
		return false, fmt.Errorf("settle lease %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("settle lease %q: %w", name, err)
	} else if n == 0 {
		return false, q.leaseHeld(ctx, name)
	}
	return true, nil
}

func (q *queries) RenewLeases(ctx context.Context, owner string, names []string, now time.Time, ttl time.Duration) ([]string, error) {
	if err := store.CheckLease("(heartbeat)", owner, now, ttl); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(names)
	if err != nil {
		return nil, fmt.Errorf("renew leases of %q: %w", owner, err)
	}
	// One statement whatever the number of leases: the names travel as one
	// JSON array, which json_each unpacks.
	rows, err := q.db.QueryContext(ctx, `UPDATE leases SET expire_time = ?
		WHERE owner = ? AND name IN (SELECT value FROM json_each(?)) RETURNING name`,
		store.TimeToMicros(now.Add(ttl)), owner, string(list))
	if err != nil {
		return nil, fmt.Errorf("renew leases of %q: %w", owner, err)
	}
	return collect(rows, func(name *string) []any { return []any{name} }, "renew leases of "+owner)
}

func (q *queries) ExpireLeases(ctx context.Context, owner string, now time.Time) (int, error) {
	if owner == "" || now.IsZero() {
		return 0, fmt.Errorf("expire leases: need an owner and a time: %w", store.ErrInvalidArgument)
	}
	at := store.TimeToMicros(now)
	leases, err := q.db.ExecContext(ctx, `UPDATE leases SET expire_time = ? WHERE owner = ? AND expire_time > ?`, at, owner, at)
	if err != nil {
		return 0, fmt.Errorf("expire leases of %q: %w", owner, err)
	}
	timers, err := q.db.ExecContext(ctx, `UPDATE timers SET claim_expire_time = ? WHERE claim_owner = ? AND claim_expire_time > ?`, at, owner, at)
	if err != nil {
		return 0, fmt.Errorf("expire timer claims of %q: %w", owner, err)
	}
	nl, err := leases.RowsAffected()
	if err != nil {
		return 0, err
	}
	nt, err := timers.RowsAffected()
	return int(nl + nt), err
}

// Notify implements [store.Tx]: SQLite cannot push to other processes, so
// replicas on one file learn of handed-back work by polling
// (OrphanedConversations, ClaimDueTimers).
func (q *queries) Notify(ctx context.Context, conversationSID string) error { return nil }

// collect scans every row of rows with the destinations dest gives for a
// new value, and closes rows.
func collect[T any](rows *sql.Rows, dest func(*T) []any, what string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(dest(&v)...); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

func checkLease(name, owner string, now time.Time, ttl time.Duration) error {
	if now.IsZero() {
		return fmt.Errorf("lease %q: no current time given: %w", name, store.ErrInvalidArgument)
	}
	if name == "" || owner == "" {
		return fmt.Errorf("lease name and owner must be set (got %q, %q): %w", name, owner, store.ErrInvalidArgument)
	}
	if ttl <= 0 {
		return fmt.Errorf("lease %q: ttl %s is not positive: %w", name, ttl, store.ErrInvalidArgument)
	}
	return nil
}

func (q *queries) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (store.Lease, error) {
	if err := checkLease(name, owner, now, ttl); err != nil {
		return store.Lease{}, err
	}
	expire := store.TimeToMicros(now.Add(ttl))
	// One statement, so acquiring is atomic on any backend with upserts: the
	// row is taken over only if it is ours or expired, otherwise nothing is
	// returned.
	var l store.Lease
	err := q.db.QueryRowContext(ctx, `INSERT INTO leases (name, owner, expire_time) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expire_time = excluded.expire_time
		WHERE leases.owner = excluded.owner OR leases.expire_time <= ?
		RETURNING name, owner, expire_time`, name, owner, expire, store.TimeToMicros(now)).
		Scan(&l.Name, &l.Owner, timeCol{&l.ExpireTime})
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
	if err := checkLease(name, owner, now, ttl); err != nil {
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

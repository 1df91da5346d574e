package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

const timerCols = `id, execution_sid, kind, fire_time, payload, claim_owner, claim_expire_time, claims, create_time`

func scanTimer(s scanner) (store.Timer, error) {
	var t store.Timer
	return t, s.Scan(&t.ID, &t.ExecutionSID, &t.Kind, timeCol{&t.FireTime}, jsonCol{&t.Payload}, &t.ClaimOwner,
		timeCol{&t.ClaimExpireTime}, &t.Claims, timeCol{&t.CreateTime})
}

func (q *queries) ScheduleTimer(ctx context.Context, t store.Timer) (store.Timer, error) {
	if err := store.CheckNewTimer(t); err != nil {
		return store.Timer{}, err
	}
	// Replace by delete and insert rather than upsert, so the replacement
	// gets a new ID: whoever is firing the old timer then finds it gone
	// (DeleteTimer → ErrNotFound) instead of deleting the new one.
	if _, err := q.db.ExecContext(ctx, `DELETE FROM timers WHERE execution_sid = ? AND kind = ?`, t.ExecutionSID, t.Kind); err != nil {
		return store.Timer{}, fmt.Errorf("schedule %s timer of execution %s: %w", t.Kind, t.ExecutionSID, err)
	}
	created := q.stamp(t.CreateTime)
	err := q.db.QueryRowContext(ctx, `INSERT INTO timers (execution_sid, kind, fire_time, payload, claim_owner, claim_expire_time, create_time)
		VALUES (?, ?, ?, ?, '', 0, ?) RETURNING id`,
		t.ExecutionSID, t.Kind, store.TimeToMicros(t.FireTime), jsonArg(t.Payload), created).Scan(&t.ID)
	if isForeignKey(err) {
		return store.Timer{}, fmt.Errorf("execution %s: %w", t.ExecutionSID, store.ErrNotFound)
	}
	if err != nil {
		return store.Timer{}, fmt.Errorf("schedule %s timer of execution %s: %w", t.Kind, t.ExecutionSID, err)
	}
	t.FireTime = store.Normalize(t.FireTime)
	t.Payload = nilIfEmpty(t.Payload)
	t.ClaimOwner, t.ClaimExpireTime, t.Claims = "", store.MicrosToTime(0), 0
	t.CreateTime = store.MicrosToTime(created)
	return t, nil
}

func (q *queries) CancelTimers(ctx context.Context, executionSID, kind string) (int, error) {
	res, err := q.db.ExecContext(ctx, `DELETE FROM timers WHERE execution_sid = ? AND (? = '' OR kind = ?)`, executionSID, kind, kind)
	if err != nil {
		return 0, fmt.Errorf("cancel timers of execution %s: %w", executionSID, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (q *queries) ClaimDueTimers(ctx context.Context, p store.ClaimTimersParams) ([]store.Timer, error) {
	if p.Owner == "" || p.LeaseDuration <= 0 || p.Now.IsZero() || p.Limit < 0 {
		return nil, fmt.Errorf("claim timers: need an owner, a positive lease duration, a time and a non-negative limit: %w", store.ErrInvalidArgument)
	}
	if p.Limit == 0 {
		p.Limit = 100
	}
	now := store.TimeToMicros(p.Now)
	// One statement: selecting and claiming cannot interleave with another
	// claimer.
	rows, err := q.db.QueryContext(ctx, `UPDATE timers SET claim_owner = ?, claim_expire_time = ?, claims = claims + 1
		WHERE id IN (SELECT id FROM timers WHERE fire_time <= ? AND (claim_owner = '' OR claim_expire_time <= ?)
			ORDER BY fire_time, id LIMIT ?)
		RETURNING `+timerCols, p.Owner, store.TimeToMicros(p.Now.Add(p.LeaseDuration)), now, now, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	defer rows.Close()
	var out []store.Timer
	for rows.Next() {
		t, err := scanTimer(rows)
		if err != nil {
			return nil, fmt.Errorf("claim timers: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	// RETURNING does not promise an order.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].FireTime.Equal(out[j].FireTime) {
			return out[i].FireTime.Before(out[j].FireTime)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (q *queries) ExtendTimerClaims(ctx context.Context, owner string, ids []int64, now time.Time, ttl time.Duration) ([]int64, error) {
	if owner == "" || now.IsZero() || ttl <= 0 {
		return nil, fmt.Errorf("extend timer claims: need an owner, a time and a positive ttl: %w", store.ErrInvalidArgument)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("extend timer claims of %q: %w", owner, err)
	}
	rows, err := q.db.QueryContext(ctx, `UPDATE timers SET claim_expire_time = ?
		WHERE claim_owner = ? AND id IN (SELECT value FROM json_each(?)) RETURNING id`,
		store.TimeToMicros(now.Add(ttl)), owner, string(list))
	if err != nil {
		return nil, fmt.Errorf("extend timer claims of %q: %w", owner, err)
	}
	return collect(rows, func(id *int64) []any { return []any{id} }, "extend timer claims of "+owner)
}

func (q *queries) DeleteTimer(ctx context.Context, id int64, owner string) error {
	res, err := q.db.ExecContext(ctx, `DELETE FROM timers WHERE id = ? AND claim_owner = ?`, id, owner)
	if err != nil {
		return fmt.Errorf("delete timer %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete timer %d: %w", id, err)
	} else if n == 0 {
		var claimer string
		if err := q.db.QueryRowContext(ctx, `SELECT claim_owner FROM timers WHERE id = ?`, id).Scan(&claimer); err != nil {
			return fmt.Errorf("timer %d: %w", id, store.ErrNotFound)
		}
		return fmt.Errorf("timer %d is claimed by %q, not %q: %w", id, claimer, owner, store.ErrConflict)
	}
	return nil
}

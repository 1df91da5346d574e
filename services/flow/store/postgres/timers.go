package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convoflow/convoflow/services/flow/store"
)

const timerCols = `id, execution_sid, kind, fire_time, payload, claim_owner, claim_expire_time, claims, create_time`

func scanTimer(s scanner) (store.Timer, error) {
	var t store.Timer
	return t, s.Scan(&t.ID, &t.ExecutionSID, &t.Kind, timeCol{&t.FireTime}, jsonCol{&t.Payload}, &t.ClaimOwner,
		timeCol{&t.ClaimExpireTime}, &t.Claims, timeCol{&t.CreateTime})
}

// scheduleTimerSQL replaces an execution's timer of a kind (see
// ScheduleTimer); ScheduleTimerLater runs it too.
const scheduleTimerSQL = `INSERT INTO timers (execution_sid, kind, fire_time, payload, create_time)
	SELECT $1, $2, $3::timestamptz, $4, $5::timestamptz
	WHERE EXISTS (SELECT 1 FROM executions WHERE sid = $1 FOR KEY SHARE)
	ON CONFLICT (execution_sid, kind) DO UPDATE SET id = DEFAULT, fire_time = excluded.fire_time,
		payload = excluded.payload, claim_owner = '', claim_expire_time = NULL, claims = 0,
		create_time = excluded.create_time
	RETURNING id`

// scheduleTimerArgs are scheduleTimerSQL's arguments.
func scheduleTimerArgs(t store.Timer, created time.Time) []any {
	return []any{t.ExecutionSID, t.Kind, store.Normalize(t.FireTime), jsonArg(t.Payload), created}
}

func (q *queries) ScheduleTimer(ctx context.Context, t store.Timer) (store.Timer, error) {
	if err := store.CheckNewTimer(t); err != nil {
		return store.Timer{}, err
	}
	created := q.stamp(t.CreateTime)
	// One upsert replaces the execution's timer of the kind. It gives the
	// replacement a new ID (id = DEFAULT draws the next identity value), so
	// whoever is firing the old timer then finds it gone (DeleteTimer →
	// ErrNotFound) instead of deleting the new one, and it drops the
	// claim. A missing execution inserts nothing (FOR KEY SHARE as in
	// CreateExecution), so it is not a failing statement.
	err := q.db.QueryRow(ctx, scheduleTimerSQL, scheduleTimerArgs(t, created)...).Scan(&t.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Timer{}, fmt.Errorf("execution %s: %w", t.ExecutionSID, store.ErrNotFound)
	}
	if err != nil {
		return store.Timer{}, sqlError(fmt.Sprintf("schedule %s timer of execution %s", t.Kind, t.ExecutionSID), err)
	}
	t.FireTime = store.Normalize(t.FireTime)
	t.Payload = nilIfEmpty(t.Payload)
	t.ClaimOwner, t.ClaimExpireTime, t.Claims = "", time.Time{}, 0
	t.CreateTime = created
	return t, nil
}

func (q *queries) CancelTimers(ctx context.Context, executionSID, kind string) (int, error) {
	if !textOK(executionSID, kind) {
		return 0, nil
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM timers WHERE execution_sid = $1 AND ($2 = '' OR kind = $2)`, executionSID, kind)
	if err != nil {
		return 0, sqlError("cancel timers of execution "+executionSID, err)
	}
	return int(tag.RowsAffected()), nil
}

func (q *queries) ClaimDueTimers(ctx context.Context, p store.ClaimTimersParams) ([]store.Timer, error) {
	if p.Owner == "" || p.LeaseDuration <= 0 || p.Now.IsZero() || p.Limit < 0 {
		return nil, fmt.Errorf("claim timers: need an owner, a positive lease duration, a time and a non-negative limit: %w", store.ErrInvalidArgument)
	}
	if err := store.CheckText("timer claim owner", p.Owner); err != nil {
		return nil, err
	}
	if p.Limit == 0 {
		p.Limit = 100
	}
	// One statement. The due timers are locked FOR UPDATE SKIP LOCKED, so
	// concurrent claimers take disjoint batches without waiting for each
	// other; a timer another claimer claimed and committed since this
	// statement's snapshot is locked in its new version, whose claim fails
	// the re-evaluated condition, so it is not taken twice either. The CTE
	// is MATERIALIZED so the locking subquery runs exactly once (LIMIT
	// rows), whatever plan the UPDATE gets.
	rows, err := q.db.Query(ctx, `WITH due AS MATERIALIZED (
			SELECT id FROM timers WHERE fire_time <= $3 AND (claim_owner = '' OR claim_expire_time <= $3)
			ORDER BY fire_time, id LIMIT $4 FOR UPDATE SKIP LOCKED
		)
		UPDATE timers t SET claim_owner = $1, claim_expire_time = $2, claims = t.claims + 1
		FROM due WHERE t.id = due.id
		RETURNING t.id, t.execution_sid, t.kind, t.fire_time, t.payload, t.claim_owner, t.claim_expire_time, t.claims, t.create_time`,
		p.Owner, store.Normalize(p.Now.Add(p.LeaseDuration)), store.Normalize(p.Now), p.Limit)
	if err != nil {
		return nil, sqlError("claim timers", err)
	}
	defer rows.Close()
	var out []store.Timer
	for rows.Next() {
		t, err := scanTimer(rows)
		if err != nil {
			return nil, sqlError("claim timers", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, sqlError("claim timers", err)
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
	if err := store.CheckText("timer claim owner", owner); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// One statement, the IDs as one bigint[] parameter.
	rows, err := q.db.Query(ctx, `UPDATE timers SET claim_expire_time = $1 WHERE claim_owner = $2 AND id = ANY($3) RETURNING id`,
		store.Normalize(now.Add(ttl)), owner, ids)
	return collect(rows, err, func(id *int64) []any { return []any{id} }, "extend timer claims of "+owner)
}

func (q *queries) DeleteTimer(ctx context.Context, id int64, owner string) error {
	if !textOK(owner) {
		return fmt.Errorf("timer %d is not claimed by %q: %w", id, owner, store.ErrConflict)
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM timers WHERE id = $1 AND claim_owner = $2`, id, owner)
	if err != nil {
		return sqlError(fmt.Sprintf("delete timer %d", id), err)
	}
	if tag.RowsAffected() == 0 {
		var claimer string
		err := q.db.QueryRow(ctx, `SELECT claim_owner FROM timers WHERE id = $1`, id).Scan(&claimer)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("timer %d: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return sqlError(fmt.Sprintf("delete timer %d", id), err)
		}
		return fmt.Errorf("timer %d is claimed by %q, not %q: %w", id, claimer, owner, store.ErrConflict)
	}
	return nil
}

package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

// The deferred writes of store.Tx run at once here: SQLite runs in
// process, so holding them back would save no round trip. A failure is
// kept in q.failed, which fails the transaction (InTx) even if fn goes on.

func (q *queries) fail(err error) error {
	if err != nil && q.failed == nil {
		q.failed = err
	}
	return err
}

func (q *queries) CreateExecutionLater(ctx context.Context, e store.Execution, out *store.Execution) error {
	return q.fail(store.RunWithResult(out, func() (store.Execution, error) { return q.CreateExecution(ctx, e) }))
}

func (q *queries) UpdateExecutionLater(ctx context.Context, u store.ExecutionUpdate, out *store.Execution) error {
	return q.fail(store.RunWithResult(out, func() (store.Execution, error) { return q.UpdateExecution(ctx, u) }))
}

func (q *queries) AppendStepsLater(ctx context.Context, steps []store.Step) error {
	return q.fail(store.RunAppendSteps(ctx, q, steps))
}

func (q *queries) MarkEventDoneLater(ctx context.Context, id int64, outcome json.RawMessage, doneTime time.Time) error {
	return q.fail(q.MarkEventDone(ctx, id, outcome, doneTime))
}

func (q *queries) SettleLeaseLater(ctx context.Context, name, owner, conversationSID string, now time.Time, ttl time.Duration, settled *store.LeaseSettlement) error {
	return q.fail(store.RunSettleLease(ctx, q, name, owner, conversationSID, now, ttl, settled))
}

func (q *queries) ScheduleTimerLater(ctx context.Context, t store.Timer) error {
	_, err := q.ScheduleTimer(ctx, t)
	return q.fail(err)
}

func (q *queries) CancelTimersLater(ctx context.Context, executionSID, kind string) error {
	_, err := q.CancelTimers(ctx, executionSID, kind)
	return q.fail(err)
}

func (q *queries) AcquireLeaseLater(ctx context.Context, name, owner string, now time.Time, ttl time.Duration, lease *store.Lease) error {
	return q.fail(store.RunAcquireLease(ctx, q, name, owner, now, ttl, lease))
}

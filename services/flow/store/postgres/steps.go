package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convoflow/convoflow/services/flow/store"
)

const stepCols = `sid, execution_sid, sequence, name, transitioned_from, transitioned_to, type, context, create_time,
	flow_sid, parent_step_sid`

func scanStep(s scanner) (store.Step, error) {
	var st store.Step
	return st, s.Scan(&st.SID, &st.ExecutionSID, &st.Sequence, &st.Name, &st.TransitionedFrom, &st.TransitionedTo,
		&st.Type, jsonCol{&st.Context}, timeCol{&st.CreateTime}, &st.FlowSID, &st.ParentStepSID)
}

// appendStepSQL appends a step (see AppendStep); AppendStepsLater runs it
// too.
const appendStepSQL = `INSERT INTO steps (` + stepCols + `)
	SELECT $1, e.sid,
		CASE WHEN $2::bigint > 0 THEN $2::bigint
			ELSE (SELECT coalesce(max(sequence), 0) + 1 FROM steps WHERE execution_sid = e.sid) END,
		$3, $4, $5, $6, $7, $8::timestamptz,
		CASE WHEN $9::text <> '' THEN $9::text ELSE e.flow_sid END, $10
	FROM executions e WHERE e.sid = $11 FOR KEY SHARE
	ON CONFLICT DO NOTHING
	RETURNING sequence, flow_sid`

// appendStepArgs are appendStepSQL's arguments.
func appendStepArgs(s store.Step, created time.Time) []any {
	return []any{s.SID, s.Sequence, s.Name, s.TransitionedFrom, s.TransitionedTo, s.Type, jsonArg(s.Context), created,
		s.FlowSID, s.ParentStepSID, s.ExecutionSID}
}

func (q *queries) AppendStep(ctx context.Context, s store.Step) (store.Step, error) {
	if err := store.CheckNewStep(s); err != nil {
		return store.Step{}, err
	}
	created := q.stamp(s.CreateTime)
	for range maxRetries {
		// One statement, on the hot path (the runner appends a few steps per
		// message): it numbers the step after the execution's last one,
		// takes the execution's flow when the step names none, and returns
		// both. A missing execution inserts nothing (the SELECT is empty;
		// FOR KEY SHARE makes a concurrent DeleteExecution wait or be seen,
		// as the foreign key check would), and a taken SID or sequence is
		// DO NOTHING, so no expected condition fails the statement.
		//
		// Within a transaction each statement sees the steps before it.
		// Across transactions the max() comes from this statement's
		// snapshot: a concurrent appender to the same execution that
		// commits first takes the number, this insert then waits for it
		// and does nothing, and the loop numbers again with a fresh
		// snapshot. (The runner's leases make that race rare: one writer
		// per conversation.)
		err := q.db.QueryRow(ctx, appendStepSQL, appendStepArgs(s, created)...).Scan(&s.Sequence, &s.FlowSID)
		if err == nil {
			s.Context = nilIfEmpty(s.Context)
			s.CreateTime = created
			return s, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Step{}, sqlError("append step "+s.SID, err)
		}
		var execution, sidTaken bool
		if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM executions WHERE sid = $1),
				EXISTS (SELECT 1 FROM steps WHERE sid = $2)`, s.ExecutionSID, s.SID).Scan(&execution, &sidTaken); err != nil {
			return store.Step{}, sqlError("append step "+s.SID, err)
		}
		switch {
		case !execution:
			return store.Step{}, fmt.Errorf("execution %s: %w", s.ExecutionSID, store.ErrNotFound)
		case sidTaken || s.Sequence > 0:
			return store.Step{}, fmt.Errorf("step %s (sequence %d of execution %s): %w", s.SID, s.Sequence, s.ExecutionSID, store.ErrAlreadyExists)
		}
	}
	return store.Step{}, errRetries("append step " + s.SID)
}

func (q *queries) ListSteps(ctx context.Context, executionSID string, p store.PageParams) (store.StepPage, error) {
	size, err := store.PageSize(p.PageSize)
	if err != nil {
		return store.StepPage{}, err
	}
	after, ok, err := store.DecodePageToken("steps:"+executionSID, p.PageToken)
	if err != nil {
		return store.StepPage{}, err
	}
	if !textOK(executionSID) {
		return store.StepPage{}, fmt.Errorf("execution %s: %w", executionSID, store.ErrNotFound)
	}
	what := "list steps of execution " + executionSID
	rows, err := q.db.Query(ctx, `SELECT `+stepCols+` FROM steps WHERE execution_sid = $1 AND sequence > $2
		ORDER BY sequence LIMIT $3`, executionSID, after, size+1)
	if err != nil {
		return store.StepPage{}, sqlError(what, err)
	}
	defer rows.Close()
	var page store.StepPage
	for rows.Next() {
		if len(page.Steps) == size {
			page.NextPageToken = store.EncodePageToken("steps:"+executionSID, page.Steps[size-1].Sequence)
			break
		}
		st, err := scanStep(rows)
		if err != nil {
			return store.StepPage{}, sqlError(what, err)
		}
		page.Steps = append(page.Steps, st)
	}
	if err := rows.Err(); err != nil {
		return store.StepPage{}, sqlError(what, err)
	}
	if !ok && len(page.Steps) == 0 {
		// Tell an execution without steps from one that does not exist,
		// with a second query only when there are no steps.
		var exists bool
		if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM executions WHERE sid = $1)`, executionSID).Scan(&exists); err != nil {
			return store.StepPage{}, sqlError(what, err)
		}
		if !exists {
			return store.StepPage{}, fmt.Errorf("execution %s: %w", executionSID, store.ErrNotFound)
		}
	}
	return page, nil
}

func (q *queries) GetStep(ctx context.Context, sid string) (store.Step, error) {
	if !textOK(sid) {
		return store.Step{}, fmt.Errorf("step %s: %w", sid, store.ErrNotFound)
	}
	st, err := scanStep(q.db.QueryRow(ctx, `SELECT `+stepCols+` FROM steps WHERE sid = $1`, sid))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Step{}, fmt.Errorf("step %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		return store.Step{}, sqlError("get step "+sid, err)
	}
	return st, nil
}

func (q *queries) GetStepContext(ctx context.Context, sid string) (json.RawMessage, error) {
	if !textOK(sid) {
		return nil, fmt.Errorf("step %s: %w", sid, store.ErrNotFound)
	}
	var raw json.RawMessage
	err := q.db.QueryRow(ctx, `SELECT context FROM steps WHERE sid = $1`, sid).Scan(jsonCol{&raw})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("step %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		return nil, sqlError("get context of step "+sid, err)
	}
	return raw, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/convoflow/convoflow/services/flow/store"
)

const stepCols = `sid, execution_sid, sequence, name, transitioned_from, transitioned_to, type, context, create_time,
	flow_sid, parent_step_sid`

func scanStep(s scanner) (store.Step, error) {
	var st store.Step
	return st, s.Scan(&st.SID, &st.ExecutionSID, &st.Sequence, &st.Name, &st.TransitionedFrom, &st.TransitionedTo,
		&st.Type, jsonCol{&st.Context}, timeCol{&st.CreateTime}, &st.FlowSID, &st.ParentStepSID)
}

func (q *queries) AppendStep(ctx context.Context, s store.Step) (store.Step, error) {
	if err := store.CheckNewStep(s); err != nil {
		return store.Step{}, err
	}
	created := q.stamp(s.CreateTime)
	// RETURNING hands back the assigned sequence and flow without a second
	// query.
	err := q.db.QueryRowContext(ctx, `INSERT INTO steps (`+stepCols+`)
		VALUES (?, ?, CASE WHEN ? > 0 THEN ? ELSE (SELECT coalesce(max(sequence), 0) + 1 FROM steps WHERE execution_sid = ?) END,
		?, ?, ?, ?, ?, ?,
		CASE WHEN ? != '' THEN ? ELSE coalesce((SELECT flow_sid FROM executions WHERE sid = ?), '') END, ?)
		RETURNING sequence, flow_sid`,
		s.SID, s.ExecutionSID, s.Sequence, s.Sequence, s.ExecutionSID,
		s.Name, s.TransitionedFrom, s.TransitionedTo, s.Type, jsonArg(s.Context), created,
		s.FlowSID, s.FlowSID, s.ExecutionSID, s.ParentStepSID).Scan(&s.Sequence, &s.FlowSID)
	switch {
	case isForeignKey(err):
		return store.Step{}, fmt.Errorf("execution %s: %w", s.ExecutionSID, store.ErrNotFound)
	case isUnique(err):
		return store.Step{}, fmt.Errorf("step %s (sequence %d of execution %s): %w", s.SID, s.Sequence, s.ExecutionSID, store.ErrAlreadyExists)
	case err != nil:
		return store.Step{}, fmt.Errorf("append step %s: %w", s.SID, err)
	}
	s.Context = nilIfEmpty(s.Context)
	s.CreateTime = store.MicrosToTime(created)
	return s, nil
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
	if !ok {
		// Tell an execution without steps from one that does not exist.
		var n int
		if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE sid = ?`, executionSID).Scan(&n); err != nil {
			return store.StepPage{}, fmt.Errorf("list steps of execution %s: %w", executionSID, err)
		}
		if n == 0 {
			return store.StepPage{}, fmt.Errorf("execution %s: %w", executionSID, store.ErrNotFound)
		}
	}
	rows, err := q.db.QueryContext(ctx, `SELECT `+stepCols+` FROM steps WHERE execution_sid = ? AND sequence > ?
		ORDER BY sequence LIMIT ?`, executionSID, after, size+1)
	if err != nil {
		return store.StepPage{}, fmt.Errorf("list steps of execution %s: %w", executionSID, err)
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
			return store.StepPage{}, fmt.Errorf("list steps of execution %s: %w", executionSID, err)
		}
		page.Steps = append(page.Steps, st)
	}
	if err := rows.Err(); err != nil {
		return store.StepPage{}, fmt.Errorf("list steps of execution %s: %w", executionSID, err)
	}
	return page, nil
}

func (q *queries) GetStep(ctx context.Context, sid string) (store.Step, error) {
	st, err := scanStep(q.db.QueryRowContext(ctx, `SELECT `+stepCols+` FROM steps WHERE sid = ?`, sid))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Step{}, fmt.Errorf("step %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		return store.Step{}, fmt.Errorf("get step %s: %w", sid, err)
	}
	return st, nil
}

func (q *queries) GetStepContext(ctx context.Context, sid string) (json.RawMessage, error) {
	var raw json.RawMessage
	err := q.db.QueryRowContext(ctx, `SELECT context FROM steps WHERE sid = ?`, sid).Scan(jsonCol{&raw})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("step %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get context of step %s: %w", sid, err)
	}
	return raw, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/convoflow/convoflow/services/flow/store"
)

const executionCols = `sid, flow_sid, flow_revision, contact_channel_address, conversation_sid, status, ended_reason,
	state, context, version, create_time, update_time`

func scanExecution(s scanner, extra ...any) (store.Execution, error) {
	var e store.Execution
	dest := append([]any{&e.SID, &e.FlowSID, &e.FlowRevision, &e.ContactChannelAddress, &e.ConversationSID, &e.Status,
		&e.EndedReason, jsonCol{&e.State}, jsonCol{&e.Context}, &e.Version, timeCol{&e.CreateTime}, timeCol{&e.UpdateTime}}, extra...)
	return e, s.Scan(dest...)
}

func (q *queries) CreateExecution(ctx context.Context, e store.Execution) (store.Execution, error) {
	if err := store.CheckNewExecution(e); err != nil {
		return store.Execution{}, err
	}
	created := q.stamp(e.CreateTime)
	updated := created
	if !e.UpdateTime.IsZero() {
		updated = store.TimeToMicros(e.UpdateTime)
	}
	_, err := q.db.ExecContext(ctx, `INSERT INTO executions (`+executionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
		e.SID, e.FlowSID, e.FlowRevision, e.ContactChannelAddress, e.ConversationSID, e.Status, e.EndedReason,
		jsonArg(e.State), jsonArg(e.Context), created, updated)
	switch {
	case isForeignKey(err):
		return store.Execution{}, fmt.Errorf("revision %d of flow %s: %w", e.FlowRevision, e.FlowSID, store.ErrNotFound)
	case isUnique(err):
		return store.Execution{}, q.uniqueExecutionError(ctx, e, err)
	case err != nil:
		return store.Execution{}, fmt.Errorf("create execution %s: %w", e.SID, err)
	}
	// Built rather than read back: the row holds what was given.
	e.State, e.Context, e.Version = nilIfEmpty(e.State), nilIfEmpty(e.Context), 1
	e.CreateTime, e.UpdateTime = store.MicrosToTime(created), store.MicrosToTime(updated)
	return e, nil
}

// uniqueExecutionError tells a clash with an active execution (one of the
// partial unique indexes) from a taken SID.
func (q *queries) uniqueExecutionError(ctx context.Context, e store.Execution, cause error) error {
	if !strings.Contains(cause.Error(), "executions.sid") {
		var active store.Execution
		var err error
		if e.ConversationSID != "" {
			active, err = q.FindActiveExecutionByConversation(ctx, e.FlowSID, e.ConversationSID)
		} else {
			active, err = q.FindActiveExecutionByContact(ctx, e.FlowSID, e.ContactChannelAddress)
		}
		if err == nil {
			conflict := &store.ActiveExecutionError{FlowSID: e.FlowSID, ExecutionSID: active.SID}
			if e.ConversationSID != "" {
				conflict.ConversationSID = e.ConversationSID
			} else {
				conflict.ContactChannelAddress = e.ContactChannelAddress
			}
			return conflict
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return fmt.Errorf("execution %s: %w", e.SID, store.ErrAlreadyExists)
}

func (q *queries) GetExecution(ctx context.Context, sid string) (store.Execution, error) {
	return q.oneExecution(ctx, "execution "+sid, `sid = ?`, sid)
}

func (q *queries) oneExecution(ctx context.Context, what, where string, args ...any) (store.Execution, error) {
	return q.oneExecutionFrom(ctx, "executions", what, where, args...)
}

// oneExecutionFrom is oneExecution from table, which may name an index
// ("executions INDEXED BY x").
func (q *queries) oneExecutionFrom(ctx context.Context, table, what, where string, args ...any) (store.Execution, error) {
	e, err := scanExecution(q.db.QueryRowContext(ctx, `SELECT `+executionCols+` FROM `+table+` WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Execution{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Execution{}, fmt.Errorf("get %s: %w", what, err)
	}
	return e, nil
}

func (q *queries) FindActiveExecutionByConversation(ctx context.Context, flowSID, conversationSID string) (store.Execution, error) {
	if conversationSID == "" {
		return store.Execution{}, fmt.Errorf("conversation SID is empty: %w", store.ErrInvalidArgument)
	}
	// INDEXED BY: left to choose, the planner checks the partial index
	// against the bound values, which makes SQLite prepare the statement
	// again whenever they change (15 µs a query instead of 6).
	return q.oneExecutionFrom(ctx, "executions INDEXED BY executions_active_conversation",
		fmt.Sprintf("active execution of flow %s in conversation %s", flowSID, conversationSID),
		`flow_sid = ? AND conversation_sid = ? AND conversation_sid <> '' AND status = 'active'`, flowSID, conversationSID)
}

func (q *queries) FindActiveExecutionByContact(ctx context.Context, flowSID, contact string) (store.Execution, error) {
	if contact == "" {
		return store.Execution{}, fmt.Errorf("contact channel address is empty: %w", store.ErrInvalidArgument)
	}
	return q.oneExecutionFrom(ctx, "executions INDEXED BY executions_active_contact",
		fmt.Sprintf("active execution of flow %s for contact %q", flowSID, contact),
		`flow_sid = ? AND contact_channel_address = ? AND conversation_sid = '' AND status = 'active'`, flowSID, contact)
}

func (q *queries) FindActiveExecutionForMessage(ctx context.Context, flowSID, conversationSID, contact string) (store.Execution, error) {
	if conversationSID == "" {
		return store.Execution{}, fmt.Errorf("conversation SID is empty: %w", store.ErrInvalidArgument)
	}
	what := fmt.Sprintf("active execution of flow %s for a message in conversation %s from %q", flowSID, conversationSID, contact)
	// Each arm keeps its partial index (INDEXED BY, see above) and finds
	// at most one row; the conversation's comes first.
	e, err := scanExecution(q.db.QueryRowContext(ctx, `SELECT `+executionCols+` FROM (
			SELECT 0 AS pref, `+executionCols+` FROM executions INDEXED BY executions_active_conversation
				WHERE flow_sid = ?1 AND conversation_sid = ?2 AND conversation_sid <> '' AND status = 'active'
			UNION ALL
			SELECT 1 AS pref, `+executionCols+` FROM executions INDEXED BY executions_active_contact
				WHERE ?3 <> '' AND flow_sid = ?1 AND contact_channel_address = ?3 AND conversation_sid = '' AND status = 'active'
		) ORDER BY pref LIMIT 1`, flowSID, conversationSID, contact))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Execution{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Execution{}, fmt.Errorf("get %s: %w", what, err)
	}
	return e, nil
}

func (q *queries) ListExecutions(ctx context.Context, p store.ListExecutionsParams) (store.ExecutionPage, error) {
	size, err := store.PageSize(p.PageSize)
	if err != nil {
		return store.ExecutionPage{}, err
	}
	if p.Status != "" && !p.Status.Valid() {
		return store.ExecutionPage{}, fmt.Errorf("execution status %q: want active or ended: %w", p.Status, store.ErrInvalidArgument)
	}
	before, ok, err := store.DecodePageToken("executions:"+p.FlowSID, p.PageToken)
	if err != nil {
		return store.ExecutionPage{}, err
	}
	where := []string{"flow_sid = ?"}
	args := []any{p.FlowSID}
	if ok {
		where = append(where, "id < ?")
		args = append(args, before)
	}
	if p.Status != "" {
		where = append(where, "status = ?")
		args = append(args, p.Status)
	}
	if !p.CreatedFrom.IsZero() {
		where = append(where, "create_time >= ?")
		args = append(args, store.TimeToMicros(p.CreatedFrom))
	}
	if !p.CreatedTo.IsZero() {
		where = append(where, "create_time <= ?")
		args = append(args, store.TimeToMicros(p.CreatedTo))
	}
	args = append(args, size+1)
	rows, err := q.db.QueryContext(ctx, `SELECT `+executionCols+`, id FROM executions WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return store.ExecutionPage{}, fmt.Errorf("list executions of flow %s: %w", p.FlowSID, err)
	}
	defer rows.Close()
	var page store.ExecutionPage
	var last int64
	for rows.Next() {
		if len(page.Executions) == size {
			page.NextPageToken = store.EncodePageToken("executions:"+p.FlowSID, last)
			break
		}
		e, err := scanExecution(rows, &last)
		if err != nil {
			return store.ExecutionPage{}, fmt.Errorf("list executions of flow %s: %w", p.FlowSID, err)
		}
		page.Executions = append(page.Executions, e)
	}
	if err := rows.Err(); err != nil {
		return store.ExecutionPage{}, fmt.Errorf("list executions of flow %s: %w", p.FlowSID, err)
	}
	return page, nil
}

func (q *queries) UpdateExecution(ctx context.Context, u store.ExecutionUpdate) (store.Execution, error) {
	if err := store.CheckExecutionContent(u.Status, store.Execution{State: u.State, Context: u.Context}); err != nil {
		return store.Execution{}, err
	}
	// One statement on the hot path: the preconditions are the UPDATE's
	// conditions, the result is built from RETURNING and what was written,
	// and only a refused update reads the row to say why.
	updated := q.stamp(u.UpdateTime)
	cur := store.Execution{SID: u.SID}
	err := q.db.QueryRowContext(ctx, `UPDATE executions SET status = ?, ended_reason = ?, state = ?, context = ?,
		version = version + 1, update_time = ? WHERE sid = ? AND version = ? AND (status = 'active' OR ? = 'ended')
		RETURNING flow_sid, flow_revision, contact_channel_address, conversation_sid, create_time`,
		u.Status, u.EndedReason, jsonArg(u.State), jsonArg(u.Context), updated, u.SID, u.Version, u.Status).
		Scan(&cur.FlowSID, &cur.FlowRevision, &cur.ContactChannelAddress, &cur.ConversationSID, timeCol{&cur.CreateTime})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Execution{}, q.whyNoUpdate(ctx, u)
	}
	if err != nil {
		return store.Execution{}, fmt.Errorf("update execution %s: %w", u.SID, err)
	}
	cur.Status, cur.EndedReason, cur.Version = u.Status, u.EndedReason, u.Version+1
	cur.State, cur.Context, cur.UpdateTime = nilIfEmpty(u.State), nilIfEmpty(u.Context), store.MicrosToTime(updated)
	return cur, nil
}

// whyNoUpdate explains an UpdateExecution that changed nothing.
func (q *queries) whyNoUpdate(ctx context.Context, u store.ExecutionUpdate) error {
	var version int64
	var status store.ExecutionStatus
	err := q.db.QueryRowContext(ctx, `SELECT version, status FROM executions WHERE sid = ?`, u.SID).Scan(&version, &status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("execution %s: %w", u.SID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("update execution %s: %w", u.SID, err)
	}
	return store.RefusedUpdate(u, version, status)
}

func (q *queries) DeleteExecution(ctx context.Context, sid string) error {
	// Steps, timers and sends cascade.
	res, err := q.db.ExecContext(ctx, `DELETE FROM executions WHERE sid = ?`, sid)
	if err != nil {
		return fmt.Errorf("delete execution %s: %w", sid, err)
	}
	return rowsOrNotFound(res, "execution", sid)
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
	created, updated := q.creationTimes(e)
	for range maxRetries {
		// Neither a missing revision nor a taken SID nor an active
		// execution may fail the statement (that would abort the caller's
		// transaction), so the revision is checked by WHERE EXISTS and
		// every unique index by DO NOTHING. FOR KEY SHARE is the lock the
		// foreign key check takes: a concurrent DeleteFlow either waits for
		// this transaction or, having committed, makes EXISTS false,
		// rather than failing the foreign key check. A concurrent
		// transaction inserting a clashing execution makes this one wait
		// for its outcome: at most one of them gets in.
		tag, err := q.db.Exec(ctx, createExecutionSQL, createExecutionArgs(e, created, updated)...)
		if err != nil {
			return store.Execution{}, sqlError("create execution "+e.SID, err)
		}
		if tag.RowsAffected() == 1 {
			return createdExecution(e, created, updated), nil
		}
		if err := q.whyNoExecution(ctx, e); err != nil {
			return store.Execution{}, err
		}
		// What was in the way is gone (ended or deleted since): try again.
	}
	return store.Execution{}, errRetries("create execution " + e.SID)
}

// createExecutionSQL inserts an execution (see CreateExecution);
// CreateExecutionLater runs it too.
const createExecutionSQL = `INSERT INTO executions (` + executionCols + `)
	SELECT $1, $2, $3::integer, $4, $5, $6, $7, $8, $9, 1, $10::timestamptz, $11::timestamptz
	WHERE EXISTS (SELECT 1 FROM flow_revisions WHERE flow_sid = $2 AND revision = $3::integer FOR KEY SHARE)
	ON CONFLICT DO NOTHING`

// createExecutionArgs are createExecutionSQL's arguments.
func createExecutionArgs(e store.Execution, created, updated time.Time) []any {
	return []any{e.SID, e.FlowSID, e.FlowRevision, e.ContactChannelAddress, e.ConversationSID, string(e.Status), e.EndedReason,
		jsonArg(e.State), jsonArg(e.Context), created, updated}
}

// creationTimes are a new execution's create and update times as stored.
func (q *queries) creationTimes(e store.Execution) (created, updated time.Time) {
	created = q.stamp(e.CreateTime)
	updated = created
	if !e.UpdateTime.IsZero() {
		updated = store.Normalize(e.UpdateTime)
	}
	return created, updated
}

// createdExecution is e as createExecutionSQL stored it: built rather than
// read back, since the row holds what was given.
func createdExecution(e store.Execution, created, updated time.Time) store.Execution {
	e.State, e.Context, e.Version, e.CreateTime, e.UpdateTime = nilIfEmpty(e.State), nilIfEmpty(e.Context), 1, created, updated
	return e
}

// whyNoExecution tells why CreateExecution inserted nothing, in the order the
// SQLite store reports it: a missing revision, a taken SID, an active
// execution. It returns nil when nothing is in the way any more. The read
// has a snapshot of its own, so it sees the transaction that was in the
// way, which committed before the insert gave up.
func (q *queries) whyNoExecution(ctx context.Context, e store.Execution) error {
	var revision, sidTaken bool
	var active string
	err := q.db.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM flow_revisions WHERE flow_sid = $1 AND revision = $2::integer),
			EXISTS (SELECT 1 FROM executions WHERE sid = $3),
			coalesce((SELECT sid FROM executions WHERE flow_sid = $1 AND status = 'active' AND $6 AND
				CASE WHEN $4 <> '' THEN conversation_sid = $4 AND conversation_sid <> ''
				ELSE conversation_sid = '' AND contact_channel_address = $5 END), '')`,
		e.FlowSID, e.FlowRevision, e.SID, e.ConversationSID, e.ContactChannelAddress,
		e.Status == store.ExecutionStatusActive).Scan(&revision, &sidTaken, &active)
	if err != nil {
		return sqlError("create execution "+e.SID, err)
	}
	return noExecution(e, revision, sidTaken, active)
}

// noExecution is the error for an execution that was not created: its
// revision is missing, its SID taken, or active names the active
// execution in its way; nil when none of them holds.
func noExecution(e store.Execution, revision, sidTaken bool, active string) error {
	switch {
	case !revision:
		return fmt.Errorf("revision %d of flow %s: %w", e.FlowRevision, e.FlowSID, store.ErrNotFound)
	case sidTaken:
		return fmt.Errorf("execution %s: %w", e.SID, store.ErrAlreadyExists)
	case active != "":
		conflict := &store.ActiveExecutionError{FlowSID: e.FlowSID, ExecutionSID: active}
		if e.ConversationSID != "" {
			conflict.ConversationSID = e.ConversationSID
		} else {
			conflict.ContactChannelAddress = e.ContactChannelAddress
		}
		return conflict
	}
	return nil
}

func (q *queries) GetExecution(ctx context.Context, sid string) (store.Execution, error) {
	return q.oneExecution(ctx, "execution "+sid, `sid = $1`, sid)
}

func (q *queries) oneExecution(ctx context.Context, what, where string, args ...any) (store.Execution, error) {
	if !textOK(args...) {
		return store.Execution{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	e, err := scanExecution(q.db.QueryRow(ctx, `SELECT `+executionCols+` FROM executions WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Execution{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Execution{}, sqlError("get "+what, err)
	}
	return e, nil
}

func (q *queries) FindActiveExecutionByConversation(ctx context.Context, flowSID, conversationSID string) (store.Execution, error) {
	if conversationSID == "" {
		return store.Execution{}, fmt.Errorf("conversation SID is empty: %w", store.ErrInvalidArgument)
	}
	return q.oneExecution(ctx, fmt.Sprintf("active execution of flow %s in conversation %s", flowSID, conversationSID),
		`flow_sid = $1 AND conversation_sid = $2 AND conversation_sid <> '' AND status = 'active'`, flowSID, conversationSID)
}

func (q *queries) FindActiveExecutionByContact(ctx context.Context, flowSID, contact string) (store.Execution, error) {
	if contact == "" {
		return store.Execution{}, fmt.Errorf("contact channel address is empty: %w", store.ErrInvalidArgument)
	}
	return q.oneExecution(ctx, fmt.Sprintf("active execution of flow %s for contact %q", flowSID, contact),
		`flow_sid = $1 AND contact_channel_address = $2 AND conversation_sid = '' AND status = 'active'`, flowSID, contact)
}

func (q *queries) FindActiveExecutionForMessage(ctx context.Context, flowSID, conversationSID, contact string) (store.Execution, error) {
	if conversationSID == "" {
		return store.Execution{}, fmt.Errorf("conversation SID is empty: %w", store.ErrInvalidArgument)
	}
	what := fmt.Sprintf("active execution of flow %s for a message in conversation %s from %q", flowSID, conversationSID, contact)
	if !textOK(flowSID, conversationSID, contact) {
		return store.Execution{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	e, err := scanExecution(q.db.QueryRow(ctx, `SELECT `+executionCols+` FROM (
			SELECT 0 AS pref, `+executionCols+` FROM executions
				WHERE flow_sid = $1 AND conversation_sid = $2 AND conversation_sid <> '' AND status = 'active'
			UNION ALL
			SELECT 1 AS pref, `+executionCols+` FROM executions
				WHERE $3 <> '' AND flow_sid = $1 AND contact_channel_address = $3 AND conversation_sid = '' AND status = 'active'
		) found ORDER BY pref LIMIT 1`, flowSID, conversationSID, contact))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Execution{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Execution{}, sqlError("get "+what, err)
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
	if !textOK(p.FlowSID) {
		return store.ExecutionPage{}, nil
	}
	args := []any{p.FlowSID}
	where := []string{"flow_sid = $1"}
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if ok {
		arg("id < $?", before)
	}
	if p.Status != "" {
		arg("status = $?", string(p.Status))
	}
	if !p.CreatedFrom.IsZero() {
		arg("create_time >= $?", store.Normalize(p.CreatedFrom))
	}
	if !p.CreatedTo.IsZero() {
		arg("create_time <= $?", store.Normalize(p.CreatedTo))
	}
	args = append(args, size+1)
	what := "list executions of flow " + p.FlowSID
	rows, err := q.db.Query(ctx, `SELECT `+executionCols+`, id FROM executions WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return store.ExecutionPage{}, sqlError(what, err)
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
			return store.ExecutionPage{}, sqlError(what, err)
		}
		page.Executions = append(page.Executions, e)
	}
	if err := rows.Err(); err != nil {
		return store.ExecutionPage{}, sqlError(what, err)
	}
	return page, nil
}

// updateExecutionSQL applies an update (see UpdateExecution);
// UpdateExecutionLater runs it too. It returns what scanUpdated reads.
const updateExecutionSQL = `UPDATE executions SET status = $2, ended_reason = $3, state = $4, context = $5,
		version = version + 1, update_time = $6
	WHERE sid = $1 AND version = $7 AND NOT (status = 'ended' AND $2 = 'active')
	RETURNING flow_sid, flow_revision, contact_channel_address, conversation_sid, version, create_time`

// updateExecutionArgs are updateExecutionSQL's arguments.
func updateExecutionArgs(u store.ExecutionUpdate, updated time.Time) []any {
	return []any{u.SID, string(u.Status), u.EndedReason, jsonArg(u.State), jsonArg(u.Context), updated, u.Version}
}

// updatedExecution is the part of an updated execution that u gives.
func updatedExecution(u store.ExecutionUpdate, updated time.Time) store.Execution {
	return store.Execution{SID: u.SID, Status: u.Status, EndedReason: u.EndedReason, State: nilIfEmpty(u.State),
		Context: nilIfEmpty(u.Context), UpdateTime: updated}
}

// scanUpdated reads the rest of an updated execution from
// updateExecutionSQL's row.
func scanUpdated(row pgx.Row, e *store.Execution) error {
	return row.Scan(&e.FlowSID, &e.FlowRevision, &e.ContactChannelAddress, &e.ConversationSID, &e.Version, timeCol{&e.CreateTime})
}

func (q *queries) UpdateExecution(ctx context.Context, u store.ExecutionUpdate) (store.Execution, error) {
	if err := store.CheckExecutionContent(u.Status, store.Execution{EndedReason: u.EndedReason, State: u.State, Context: u.Context}); err != nil {
		return store.Execution{}, err
	}
	if !textOK(u.SID) {
		return store.Execution{}, fmt.Errorf("execution %s: %w", u.SID, store.ErrNotFound)
	}
	updated := q.stamp(u.UpdateTime)
	// The hot path: one statement, whose RETURNING supplies the columns
	// the update does not set, so the result needs no read. Both
	// preconditions are conditions of the UPDATE: a concurrent writer of
	// the execution makes this one wait, and they are then evaluated
	// against the row it committed, so of two writers that read one
	// version exactly one succeeds. An ended execution never becomes
	// active again, so the update cannot clash with the unique indexes of
	// active executions.
	e := updatedExecution(u, updated)
	err := scanUpdated(q.db.QueryRow(ctx, updateExecutionSQL, updateExecutionArgs(u, updated)...), &e)
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Execution{}, sqlError("update execution "+u.SID, err)
	}
	var version int64
	var status store.ExecutionStatus
	err = q.db.QueryRow(ctx, `SELECT version, status FROM executions WHERE sid = $1`, u.SID).Scan(&version, &status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Execution{}, fmt.Errorf("execution %s: %w", u.SID, store.ErrNotFound)
	case err != nil:
		return store.Execution{}, sqlError("update execution "+u.SID, err)
	}
	// A row that would have been updated was changed between the two
	// statements: the lost race of a stale version.
	return store.Execution{}, store.RefusedUpdate(u, version, status)
}

func (q *queries) DeleteExecution(ctx context.Context, sid string) error {
	if !textOK(sid) {
		return fmt.Errorf("execution %s: %w", sid, store.ErrNotFound)
	}
	// Steps, timers and sends cascade.
	tag, err := q.db.Exec(ctx, `DELETE FROM executions WHERE sid = $1`, sid)
	if err != nil {
		return sqlError("delete execution "+sid, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("execution %s: %w", sid, store.ErrNotFound)
	}
	return nil
}

// textOK reports whether every string among args is text PostgreSQL can
// compare; a key that is not cannot name a record, and looking it up would
// fail the statement (and abort the caller's transaction).
func textOK(args ...any) bool {
	for _, a := range args {
		if s, ok := a.(string); ok && store.CheckText("", s) != nil {
			return false
		}
	}
	return true
}

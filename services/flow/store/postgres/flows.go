package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/convoflow/convoflow/services/flow/store"
)

const flowCols = `sid, friendly_name, status, revision, definition, commit_message, valid, errors, warnings, create_time, update_time`

// revisionCols reads a revision joined with its flow, in flowCols order.
const revisionCols = `r.flow_sid, r.friendly_name, r.status, r.revision, r.definition, r.commit_message, r.valid, r.errors, r.warnings, f.create_time, r.update_time`

// revisionCopyCols are the columns a revision shares with its flow.
const revisionCopyCols = `sid, revision, friendly_name, status, definition, commit_message, valid, errors, warnings, update_time`

func scanFlow(s scanner, extra ...any) (store.Flow, error) {
	var f store.Flow
	dest := append([]any{&f.SID, &f.FriendlyName, &f.Status, &f.Revision, jsonCol{&f.Definition}, &f.CommitMessage,
		&f.Valid, jsonCol{&f.Errors}, jsonCol{&f.Warnings}, timeCol{&f.CreateTime}, timeCol{&f.UpdateTime}}, extra...)
	return f, s.Scan(dest...)
}

func (q *queries) CreateFlow(ctx context.Context, f store.Flow) (store.Flow, error) {
	if err := store.CheckNewFlow(f); err != nil {
		return store.Flow{}, err
	}
	created := q.stamp(f.CreateTime)
	updated := created
	if !f.UpdateTime.IsZero() {
		updated = store.Normalize(f.UpdateTime)
	}
	// One statement inserts the flow and its revision 1. A taken SID is
	// not an error (which would abort the caller's transaction): DO
	// NOTHING inserts neither row, and the count tells. A concurrent
	// creator of the same SID makes this one wait for its outcome.
	var n int
	err := q.db.QueryRow(ctx, `WITH f AS (
			INSERT INTO flows (`+flowCols+`) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (sid) DO NOTHING
			RETURNING `+revisionCopyCols+`
		), r AS (
			INSERT INTO flow_revisions (flow_sid, revision, friendly_name, status, definition, commit_message, valid, errors, warnings, update_time)
			SELECT `+revisionCopyCols+` FROM f
		)
		SELECT count(*) FROM f`,
		f.SID, f.FriendlyName, string(f.Status), jsonArg(f.Definition), f.CommitMessage, f.Valid,
		jsonArg(f.Errors), jsonArg(f.Warnings), created, updated).Scan(&n)
	if err != nil {
		return store.Flow{}, sqlError("create flow "+f.SID, err)
	}
	if n == 0 {
		return store.Flow{}, fmt.Errorf("flow %s: %w", f.SID, store.ErrAlreadyExists)
	}
	return store.Flow{
		SID: f.SID, FriendlyName: f.FriendlyName, Status: f.Status, Revision: 1, Definition: nilIfEmpty(f.Definition),
		CommitMessage: f.CommitMessage, Valid: f.Valid, Errors: nilIfEmpty(f.Errors), Warnings: nilIfEmpty(f.Warnings),
		CreateTime: created, UpdateTime: updated,
	}, nil
}

func (q *queries) GetFlow(ctx context.Context, sid string) (store.Flow, error) {
	if !textOK(sid) {
		return store.Flow{}, fmt.Errorf("flow %s: %w", sid, store.ErrNotFound)
	}
	f, err := scanFlow(q.db.QueryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE sid = $1`, sid))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Flow{}, fmt.Errorf("flow %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		return store.Flow{}, sqlError("get flow "+sid, err)
	}
	return f, nil
}

func (q *queries) ListFlows(ctx context.Context, p store.PageParams) (store.FlowPage, error) {
	size, err := store.PageSize(p.PageSize)
	if err != nil {
		return store.FlowPage{}, err
	}
	after, _, err := store.DecodePageToken("flows", p.PageToken)
	if err != nil {
		return store.FlowPage{}, err
	}
	rows, err := q.db.Query(ctx, `SELECT `+flowCols+`, id FROM flows WHERE id > $1 ORDER BY id LIMIT $2`, after, size+1)
	if err != nil {
		return store.FlowPage{}, sqlError("list flows", err)
	}
	defer rows.Close()
	var page store.FlowPage
	var last int64
	for rows.Next() {
		if len(page.Flows) == size {
			page.NextPageToken = store.EncodePageToken("flows", last)
			break
		}
		f, err := scanFlow(rows, &last)
		if err != nil {
			return store.FlowPage{}, sqlError("list flows", err)
		}
		page.Flows = append(page.Flows, f)
	}
	if err := rows.Err(); err != nil {
		return store.FlowPage{}, sqlError("list flows", err)
	}
	return page, nil
}

func (q *queries) UpdateFlow(ctx context.Context, u store.FlowUpdate) (store.Flow, error) {
	if err := store.CheckSID("flow", store.PrefixFlow, u.SID); err != nil {
		return store.Flow{}, err
	}
	content := store.Flow{FriendlyName: u.FriendlyName, CommitMessage: u.CommitMessage, Definition: u.Definition, Errors: u.Errors, Warnings: u.Warnings}
	if err := store.CheckFlowContent(u.Status, content); err != nil {
		return store.Flow{}, err
	}
	if u.BaseRevision < 0 {
		return store.Flow{}, fmt.Errorf("flow %s: base revision %d is negative: %w", u.SID, u.BaseRevision, store.ErrInvalidArgument)
	}
	updated := q.stamp(u.UpdateTime)
	for range maxRetries {
		// The base revision is a condition of the UPDATE: under READ
		// COMMITTED a concurrent updater of the flow makes this one wait,
		// and the condition is then evaluated against the row it
		// committed, so two writers that read the same revision cannot
		// both succeed. Unconditional updates serialise the same way and
		// each gets its own revision number. The new revision is copied in
		// the same statement.
		var f store.Flow
		err := q.db.QueryRow(ctx, `WITH u AS (
				UPDATE flows SET revision = revision + 1, friendly_name = $2, status = $3, definition = $4,
					commit_message = $5, valid = $6, errors = $7, warnings = $8, update_time = $9
				WHERE sid = $1 AND ($10::integer = 0 OR revision = $10::integer)
				RETURNING `+revisionCopyCols+`, create_time
			), r AS (
				INSERT INTO flow_revisions (flow_sid, revision, friendly_name, status, definition, commit_message, valid, errors, warnings, update_time)
				SELECT `+revisionCopyCols+` FROM u
			)
			SELECT revision, create_time FROM u`,
			u.SID, u.FriendlyName, string(u.Status), jsonArg(u.Definition), u.CommitMessage, u.Valid,
			jsonArg(u.Errors), jsonArg(u.Warnings), updated, u.BaseRevision).Scan(&f.Revision, timeCol{&f.CreateTime})
		if err == nil {
			f.SID, f.FriendlyName, f.Status, f.Definition, f.CommitMessage = u.SID, u.FriendlyName, u.Status, nilIfEmpty(u.Definition), u.CommitMessage
			f.Valid, f.Errors, f.Warnings, f.UpdateTime = u.Valid, nilIfEmpty(u.Errors), nilIfEmpty(u.Warnings), updated
			return f, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Flow{}, sqlError("update flow "+u.SID, err)
		}
		var cur int
		err = q.db.QueryRow(ctx, `SELECT revision FROM flows WHERE sid = $1`, u.SID).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Flow{}, fmt.Errorf("flow %s: %w", u.SID, store.ErrNotFound)
		}
		if err != nil {
			return store.Flow{}, sqlError("update flow "+u.SID, err)
		}
		if u.BaseRevision > 0 && cur != u.BaseRevision {
			return store.Flow{}, fmt.Errorf("flow %s is at revision %d, not %d: %w", u.SID, cur, u.BaseRevision, store.ErrConflict)
		}
		// The flow was created after the UPDATE's snapshot (or is back at
		// the base revision, which revisions never do): try again.
	}
	return store.Flow{}, errRetries("update flow " + u.SID)
}

func (q *queries) DeleteFlow(ctx context.Context, sid string) error {
	if !textOK(sid) {
		return fmt.Errorf("flow %s: %w", sid, store.ErrNotFound)
	}
	// Foreign keys cascade: flows → flow_revisions → executions → steps,
	// timers, sends; flows → events.
	tag, err := q.db.Exec(ctx, `DELETE FROM flows WHERE sid = $1`, sid)
	if err != nil {
		return sqlError("delete flow "+sid, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("flow %s: %w", sid, store.ErrNotFound)
	}
	return nil
}

func (q *queries) ListFlowRevisions(ctx context.Context, flowSID string, p store.PageParams) (store.FlowPage, error) {
	size, err := store.PageSize(p.PageSize)
	if err != nil {
		return store.FlowPage{}, err
	}
	before, ok, err := store.DecodePageToken("revisions:"+flowSID, p.PageToken)
	if err != nil {
		return store.FlowPage{}, err
	}
	if !textOK(flowSID) {
		return store.FlowPage{}, fmt.Errorf("flow %s: %w", flowSID, store.ErrNotFound)
	}
	if !ok {
		// Newest first, from the top: 0 means no upper bound.
		before = 0
	}
	what := "list revisions of flow " + flowSID
	rows, err := q.db.Query(ctx, `SELECT `+revisionCols+` FROM flow_revisions r JOIN flows f ON f.sid = r.flow_sid
		WHERE r.flow_sid = $1 AND ($2::bigint = 0 OR r.revision < $2::bigint) ORDER BY r.revision DESC LIMIT $3`, flowSID, before, size+1)
	if err != nil {
		return store.FlowPage{}, sqlError(what, err)
	}
	defer rows.Close()
	var page store.FlowPage
	for rows.Next() {
		if len(page.Flows) == size {
			page.NextPageToken = store.EncodePageToken("revisions:"+flowSID, int64(page.Flows[size-1].Revision))
			break
		}
		f, err := scanFlow(rows)
		if err != nil {
			return store.FlowPage{}, sqlError(what, err)
		}
		page.Flows = append(page.Flows, f)
	}
	if err := rows.Err(); err != nil {
		return store.FlowPage{}, sqlError(what, err)
	}
	// A flow always has revision 1, so an empty first page means there is
	// no flow (without a second query when there is).
	if !ok && len(page.Flows) == 0 {
		return store.FlowPage{}, fmt.Errorf("flow %s: %w", flowSID, store.ErrNotFound)
	}
	return page, nil
}

func (q *queries) getRevision(ctx context.Context, flowSID, what, where string, args ...any) (store.Flow, error) {
	if !textOK(flowSID) {
		return store.Flow{}, fmt.Errorf("%s of flow %s: %w", what, flowSID, store.ErrNotFound)
	}
	f, err := scanFlow(q.db.QueryRow(ctx, `SELECT `+revisionCols+` FROM flow_revisions r JOIN flows f ON f.sid = r.flow_sid
		WHERE r.flow_sid = $1 AND `+where+` ORDER BY r.revision DESC LIMIT 1`, append([]any{flowSID}, args...)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Flow{}, fmt.Errorf("%s of flow %s: %w", what, flowSID, store.ErrNotFound)
	}
	if err != nil {
		return store.Flow{}, sqlError(fmt.Sprintf("get %s of flow %s", what, flowSID), err)
	}
	return f, nil
}

func (q *queries) GetFlowRevision(ctx context.Context, flowSID string, revision int) (store.Flow, error) {
	if revision < 1 || revision > math.MaxInt32 {
		// No such revision, and not a number the integer column holds.
		return store.Flow{}, fmt.Errorf("revision %d of flow %s: %w", revision, flowSID, store.ErrNotFound)
	}
	return q.getRevision(ctx, flowSID, fmt.Sprintf("revision %d", revision), `r.revision = $2`, revision)
}

func (q *queries) GetLatestPublishedRevision(ctx context.Context, flowSID string) (store.Flow, error) {
	return q.getRevision(ctx, flowSID, "published revision", `r.status = 'published'`)
}

func (q *queries) GetLatestRevision(ctx context.Context, flowSID string) (store.Flow, error) {
	return q.getRevision(ctx, flowSID, "latest revision", `true`)
}

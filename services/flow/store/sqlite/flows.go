package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/convoflow/convoflow/services/flow/store"
)

const flowCols = `sid, friendly_name, status, revision, definition, commit_message, valid, errors, warnings, create_time, update_time`

// revisionCols reads a revision joined with its flow, in flowCols order.
const revisionCols = `r.flow_sid, r.friendly_name, r.status, r.revision, r.definition, r.commit_message, r.valid, r.errors, r.warnings, f.create_time, r.update_time`

type scanner interface{ Scan(dest ...any) error }

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
		updated = store.TimeToMicros(f.UpdateTime)
	}
	_, err := q.db.ExecContext(ctx, `INSERT INTO flows (`+flowCols+`) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
		f.SID, f.FriendlyName, f.Status, jsonArg(f.Definition), f.CommitMessage, f.Valid, jsonArg(f.Errors), jsonArg(f.Warnings), created, updated)
	if isUnique(err) {
		return store.Flow{}, fmt.Errorf("flow %s: %w", f.SID, store.ErrAlreadyExists)
	}
	if err != nil {
		return store.Flow{}, fmt.Errorf("create flow %s: %w", f.SID, err)
	}
	if err := q.insertRevision(ctx, f.SID); err != nil {
		return store.Flow{}, err
	}
	return q.GetFlow(ctx, f.SID)
}

// insertRevision copies the flow's current row into flow_revisions.
func (q *queries) insertRevision(ctx context.Context, sid string) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO flow_revisions
		(flow_sid, revision, friendly_name, status, definition, commit_message, valid, errors, warnings, update_time)
		SELECT sid, revision, friendly_name, status, definition, commit_message, valid, errors, warnings, update_time
		FROM flows WHERE sid = ?`, sid)
	if err != nil {
		return fmt.Errorf("save revision of flow %s: %w", sid, err)
	}
	return nil
}

func (q *queries) GetFlow(ctx context.Context, sid string) (store.Flow, error) {
	f, err := scanFlow(q.db.QueryRowContext(ctx, `SELECT `+flowCols+` FROM flows WHERE sid = ?`, sid))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Flow{}, fmt.Errorf("flow %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		return store.Flow{}, fmt.Errorf("get flow %s: %w", sid, err)
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
	rows, err := q.db.QueryContext(ctx, `SELECT `+flowCols+`, id FROM flows WHERE id > ? ORDER BY id LIMIT ?`, after, size+1)
	if err != nil {
		return store.FlowPage{}, fmt.Errorf("list flows: %w", err)
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
			return store.FlowPage{}, fmt.Errorf("list flows: %w", err)
		}
		page.Flows = append(page.Flows, f)
	}
	if err := rows.Err(); err != nil {
		return store.FlowPage{}, fmt.Errorf("list flows: %w", err)
	}
	return page, nil
}

func (q *queries) UpdateFlow(ctx context.Context, u store.FlowUpdate) (store.Flow, error) {
	if err := store.CheckSID("flow", store.PrefixFlow, u.SID); err != nil {
		return store.Flow{}, err
	}
	content := store.Flow{FriendlyName: u.FriendlyName, Definition: u.Definition, Errors: u.Errors, Warnings: u.Warnings}
	if err := store.CheckFlowContent(u.Status, content); err != nil {
		return store.Flow{}, err
	}
	if u.BaseRevision < 0 {
		return store.Flow{}, fmt.Errorf("flow %s: base revision %d is negative: %w", u.SID, u.BaseRevision, store.ErrInvalidArgument)
	}
	res, err := q.db.ExecContext(ctx, `UPDATE flows SET revision = revision + 1, friendly_name = ?, status = ?, definition = ?,
		commit_message = ?, valid = ?, errors = ?, warnings = ?, update_time = ?
		WHERE sid = ? AND (? = 0 OR revision = ?)`,
		u.FriendlyName, u.Status, jsonArg(u.Definition), u.CommitMessage, u.Valid, jsonArg(u.Errors), jsonArg(u.Warnings),
		q.stamp(u.UpdateTime), u.SID, u.BaseRevision, u.BaseRevision)
	if err != nil {
		return store.Flow{}, fmt.Errorf("update flow %s: %w", u.SID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.Flow{}, fmt.Errorf("update flow %s: %w", u.SID, err)
	} else if n == 0 {
		cur, err := q.GetFlow(ctx, u.SID)
		if err != nil {
			return store.Flow{}, err
		}
		return store.Flow{}, fmt.Errorf("flow %s is at revision %d, not %d: %w", u.SID, cur.Revision, u.BaseRevision, store.ErrConflict)
	}
	if err := q.insertRevision(ctx, u.SID); err != nil {
		return store.Flow{}, err
	}
	return q.GetFlow(ctx, u.SID)
}

func (q *queries) DeleteFlow(ctx context.Context, sid string) error {
	// Foreign keys cascade: flows → flow_revisions → executions → steps,
	// timers, sends; flows → events.
	res, err := q.db.ExecContext(ctx, `DELETE FROM flows WHERE sid = ?`, sid)
	if err != nil {
		return fmt.Errorf("delete flow %s: %w", sid, err)
	}
	return rowsOrNotFound(res, "flow", sid)
}

func rowsOrNotFound(res sql.Result, what, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
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
	if !ok {
		// Newest first: start above any revision number.
		var cur int64
		err := q.db.QueryRowContext(ctx, `SELECT revision FROM flows WHERE sid = ?`, flowSID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return store.FlowPage{}, fmt.Errorf("flow %s: %w", flowSID, store.ErrNotFound)
		}
		if err != nil {
			return store.FlowPage{}, fmt.Errorf("list revisions of flow %s: %w", flowSID, err)
		}
		before = cur + 1
	}
	rows, err := q.db.QueryContext(ctx, `SELECT `+revisionCols+` FROM flow_revisions r JOIN flows f ON f.sid = r.flow_sid
		WHERE r.flow_sid = ? AND r.revision < ? ORDER BY r.revision DESC LIMIT ?`, flowSID, before, size+1)
	if err != nil {
		return store.FlowPage{}, fmt.Errorf("list revisions of flow %s: %w", flowSID, err)
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
			return store.FlowPage{}, fmt.Errorf("list revisions of flow %s: %w", flowSID, err)
		}
		page.Flows = append(page.Flows, f)
	}
	if err := rows.Err(); err != nil {
		return store.FlowPage{}, fmt.Errorf("list revisions of flow %s: %w", flowSID, err)
	}
	return page, nil
}

func (q *queries) getRevision(ctx context.Context, flowSID, what, where string, args ...any) (store.Flow, error) {
	f, err := scanFlow(q.db.QueryRowContext(ctx, `SELECT `+revisionCols+` FROM flow_revisions r JOIN flows f ON f.sid = r.flow_sid
		WHERE r.flow_sid = ? AND `+where+` ORDER BY r.revision DESC LIMIT 1`, append([]any{flowSID}, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Flow{}, fmt.Errorf("%s of flow %s: %w", what, flowSID, store.ErrNotFound)
	}
	if err != nil {
		return store.Flow{}, fmt.Errorf("get %s of flow %s: %w", what, flowSID, err)
	}
	return f, nil
}

func (q *queries) GetFlowRevision(ctx context.Context, flowSID string, revision int) (store.Flow, error) {
	return q.getRevision(ctx, flowSID, fmt.Sprintf("revision %d", revision), `r.revision = ?`, revision)
}

func (q *queries) GetLatestPublishedRevision(ctx context.Context, flowSID string) (store.Flow, error) {
	return q.getRevision(ctx, flowSID, "published revision", `r.status = 'published'`)
}

func (q *queries) GetLatestRevision(ctx context.Context, flowSID string) (store.Flow, error) {
	return q.getRevision(ctx, flowSID, "latest revision", `1 = 1`)
}

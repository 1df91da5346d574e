package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

const eventCols = `id, conversation_sid, sequence, flow_sid, message_sid, idempotency_token, payload, status, outcome,
	receive_time, done_time`

func scanEvent(s scanner) (store.Event, error) {
	var e store.Event
	return e, s.Scan(&e.ID, &e.ConversationSID, &e.Sequence, &e.FlowSID, &e.MessageSID, &e.IdempotencyToken,
		jsonCol{&e.Payload}, &e.Status, jsonCol{&e.Outcome}, timeCol{&e.ReceiveTime}, timeCol{&e.DoneTime})
}

func (q *queries) RecordEvent(ctx context.Context, e store.Event) (store.Event, bool, error) {
	if err := store.CheckNewEvent(e); err != nil {
		return store.Event{}, false, err
	}
	if orig, err := q.findDuplicate(ctx, e); err == nil {
		return orig, true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Event{}, false, err
	}
	var seq int64
	err := q.db.QueryRowContext(ctx, `INSERT INTO event_queues (conversation_sid, last_sequence) VALUES (?, 1)
		ON CONFLICT (conversation_sid) DO UPDATE SET last_sequence = last_sequence + 1 RETURNING last_sequence`,
		e.ConversationSID).Scan(&seq)
	if err != nil {
		return store.Event{}, false, fmt.Errorf("record event: number it in conversation %s: %w", e.ConversationSID, err)
	}
	received := q.stamp(e.ReceiveTime)
	var id int64
	err = q.db.QueryRowContext(ctx, `INSERT INTO events (`+eventCols+`) VALUES (NULL, ?, ?, ?, ?, ?, ?, 'pending', NULL, ?, 0)
		RETURNING id`, e.ConversationSID, seq, e.FlowSID, e.MessageSID, e.IdempotencyToken, transientArg(e.Payload), received).Scan(&id)
	switch {
	case isForeignKey(err):
		return store.Event{}, false, fmt.Errorf("flow %s: %w", e.FlowSID, store.ErrNotFound)
	case isUnique(err):
		// Only reachable where writers do not serialise (another backend):
		// a concurrent delivery won; report it as the original.
		orig, ferr := q.findDuplicate(ctx, e)
		if ferr != nil {
			return store.Event{}, false, errors.Join(err, ferr)
		}
		return orig, true, nil
	case err != nil:
		return store.Event{}, false, fmt.Errorf("record event: %w", err)
	}
	return store.Event{
		ID: id, ConversationSID: e.ConversationSID, Sequence: seq, FlowSID: e.FlowSID, MessageSID: e.MessageSID,
		IdempotencyToken: e.IdempotencyToken, Payload: nilIfEmpty(e.Payload), Status: store.EventStatusPending,
		ReceiveTime: store.MicrosToTime(received),
	}, false, nil
}

// findDuplicate returns the first event e redelivers, or ErrNotFound.
func (q *queries) findDuplicate(ctx context.Context, e store.Event) (store.Event, error) {
	orig, err := scanEvent(q.db.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE flow_sid = ?
		AND ((message_sid <> '' AND message_sid = ?) OR (idempotency_token <> '' AND idempotency_token = ?))
		ORDER BY id LIMIT 1`, e.FlowSID, e.MessageSID, e.IdempotencyToken))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Event{}, fmt.Errorf("event: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Event{}, fmt.Errorf("record event: look for a redelivery: %w", err)
	}
	return orig, nil
}

func (q *queries) GetEvent(ctx context.Context, id int64) (store.Event, error) {
	e, err := scanEvent(q.db.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Event{}, fmt.Errorf("event %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Event{}, fmt.Errorf("get event %d: %w", id, err)
	}
	return e, nil
}

func (q *queries) NextPendingEvent(ctx context.Context, conversationSID string) (store.Event, error) {
	e, err := scanEvent(q.db.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events
		WHERE conversation_sid = ? AND status = 'pending' ORDER BY sequence LIMIT 1`, conversationSID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Event{}, fmt.Errorf("pending event in conversation %s: %w", conversationSID, store.ErrNotFound)
	}
	if err != nil {
		return store.Event{}, fmt.Errorf("next pending event in conversation %s: %w", conversationSID, err)
	}
	return e, nil
}

func (q *queries) MarkEventDone(ctx context.Context, id int64, outcome json.RawMessage, doneTime time.Time) error {
	if err := store.CheckJSON("event outcome", outcome); err != nil {
		return err
	}
	res, err := q.db.ExecContext(ctx, `UPDATE events SET status = 'done', outcome = ?, done_time = ?, payload = NULL
		WHERE id = ? AND status = 'pending'`, jsonArg(outcome), q.stamp(doneTime), id)
	if err != nil {
		return fmt.Errorf("mark event %d done: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("mark event %d done: %w", id, err)
	} else if n == 0 {
		if _, err := q.GetEvent(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("event %d is already done: %w", id, store.ErrConflict)
	}
	return nil
}

func (q *queries) PendingConversations(ctx context.Context, limit int) ([]string, error) {
	if limit < 0 {
		return nil, fmt.Errorf("limit %d is negative: %w", limit, store.ErrInvalidArgument)
	}
	if limit == 0 {
		limit = 100
	}
	rows, err := q.db.QueryContext(ctx, `SELECT conversation_sid FROM events WHERE status = 'pending'
		GROUP BY conversation_sid ORDER BY min(id) LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list conversations with pending events: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("list conversations with pending events: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list conversations with pending events: %w", err)
	}
	return out, nil
}

func (q *queries) OrphanedConversations(ctx context.Context, leasePrefix string, now time.Time, limit int) ([]string, error) {
	if limit < 0 || now.IsZero() {
		return nil, fmt.Errorf("orphaned conversations: need a time and a non-negative limit: %w", store.ErrInvalidArgument)
	}
	if limit == 0 {
		limit = 100
	}
	rows, err := q.db.QueryContext(ctx, `SELECT e.conversation_sid FROM events e
		LEFT JOIN leases l ON l.name = ? || e.conversation_sid
		WHERE e.status = 'pending' AND (l.name IS NULL OR l.expire_time <= ?)
		GROUP BY e.conversation_sid ORDER BY min(e.id) LIMIT ?`, leasePrefix, store.TimeToMicros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list orphaned conversations: %w", err)
	}
	return collect(rows, func(c *string) []any { return []any{c} }, "list orphaned conversations")
}

func (q *queries) DeleteDoneEvents(ctx context.Context, receivedBefore time.Time) (int, error) {
	res, err := q.db.ExecContext(ctx, `DELETE FROM events WHERE status = 'done' AND receive_time < ?`,
		store.TimeToMicros(receivedBefore))
	if err != nil {
		return 0, fmt.Errorf("delete done events: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

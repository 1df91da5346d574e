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

const eventCols = `id, conversation_sid, sequence, flow_sid, message_sid, idempotency_token, payload, status, outcome,
	receive_time, done_time`

func scanEvent(s scanner) (store.Event, error) {
	var e store.Event
	return e, s.Scan(&e.ID, &e.ConversationSID, &e.Sequence, &e.FlowSID, &e.MessageSID, &e.IdempotencyToken,
		jsonCol{&e.Payload}, &e.Status, jsonCol{&e.Outcome}, timeCol{&e.ReceiveTime}, timeCol{&e.DoneTime})
}

// RecordEvent numbers events per conversation without gaps or repeats, and
// records exactly one of concurrent deliveries of one message, in READ
// COMMITTED, with one statement on the hot path:
//
//   - The statement first upserts the conversation's queue row with its
//     counter advanced. That locks the row until the transaction ends, so
//     every RecordEvent of the conversation waits for this transaction
//     from here on, and ON CONFLICT DO UPDATE reads the latest committed
//     counter whatever the statement's snapshot: the number is one no
//     other transaction holds.
//   - It then inserts the event with that number, ON CONFLICT DO NOTHING.
//     The redelivery keys are exactly the partial unique indexes
//     (flow_sid, message_sid) and (flow_sid, idempotency_token), and a
//     unique index check sees every committed row and waits for rows of
//     transactions in flight, independently of snapshots: a redelivery of
//     a committed event inserts nothing, and of concurrent deliveries of
//     one message the first to insert wins and the others, once it
//     commits, insert nothing (had it rolled back, the next one inserts).
//   - Only when nothing was inserted (a redelivery, or an unknown flow), a
//     second statement puts the counter back, under the same lock, and
//     reads the original with a fresh snapshot, which holds it: it
//     committed before the insert gave up.
//
// Every number handed out thus belongs to an event committed with it; a
// transaction that rolls back rolls its counter back too. A transaction
// that records events of several conversations holds their queue locks
// until it ends, so two such transactions taking them in opposite orders
// can deadlock (PostgreSQL then fails one, ErrConflict); the runner records
// one event per transaction.
func (q *queries) RecordEvent(ctx context.Context, e store.Event) (store.Event, bool, error) {
	if err := store.CheckNewEvent(e); err != nil {
		return store.Event{}, false, err
	}
	received := q.stamp(e.ReceiveTime)
	for range maxRetries {
		// FOR KEY SHARE is the lock the foreign key check takes: a
		// concurrent DeleteFlow waits for this transaction or, committed,
		// makes EXISTS false, instead of failing the statement.
		var id, seq int64
		err := q.db.QueryRow(ctx, `WITH queue AS (
				INSERT INTO event_queues (conversation_sid, last_sequence) VALUES ($1, 1)
				ON CONFLICT (conversation_sid) DO UPDATE SET last_sequence = event_queues.last_sequence + 1
				RETURNING last_sequence
			)
			INSERT INTO events (conversation_sid, sequence, flow_sid, message_sid, idempotency_token, payload, status, receive_time)
			SELECT $1, queue.last_sequence, $2, $3, $4, $5, 'pending', $6::timestamptz FROM queue
			WHERE EXISTS (SELECT 1 FROM flows WHERE sid = $2 FOR KEY SHARE)
			ON CONFLICT DO NOTHING
			RETURNING id, sequence`,
			e.ConversationSID, e.FlowSID, e.MessageSID, e.IdempotencyToken, jsonArg(e.Payload), received).Scan(&id, &seq)
		if err == nil {
			return store.Event{
				ID: id, ConversationSID: e.ConversationSID, Sequence: seq, FlowSID: e.FlowSID, MessageSID: e.MessageSID,
				IdempotencyToken: e.IdempotencyToken, Payload: nilIfEmpty(e.Payload), Status: store.EventStatusPending,
				ReceiveTime: received,
			}, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Event{}, false, sqlError("record event in conversation "+e.ConversationSID, err)
		}
		orig, err := scanEvent(q.db.QueryRow(ctx, `WITH undo AS (
				UPDATE event_queues SET last_sequence = last_sequence - 1 WHERE conversation_sid = $1
			)
			SELECT `+eventCols+` FROM events WHERE flow_sid = $2
				AND ((message_sid <> '' AND message_sid = $3) OR (idempotency_token <> '' AND idempotency_token = $4))
			ORDER BY id LIMIT 1`, e.ConversationSID, e.FlowSID, e.MessageSID, e.IdempotencyToken))
		if err == nil {
			return orig, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Event{}, false, sqlError("record event: look for the original", err)
		}
		var flow bool
		if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM flows WHERE sid = $1)`, e.FlowSID).Scan(&flow); err != nil {
			return store.Event{}, false, sqlError("record event", err)
		}
		if !flow {
			return store.Event{}, false, fmt.Errorf("flow %s: %w", e.FlowSID, store.ErrNotFound)
		}
		// The original is gone (pruned by DeleteDoneEvents since): record
		// anew.
	}
	return store.Event{}, false, errRetries("record event in conversation " + e.ConversationSID)
}

func (q *queries) GetEvent(ctx context.Context, id int64) (store.Event, error) {
	e, err := scanEvent(q.db.QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Event{}, fmt.Errorf("event %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Event{}, sqlError(fmt.Sprintf("get event %d", id), err)
	}
	return e, nil
}

func (q *queries) NextPendingEvent(ctx context.Context, conversationSID string) (store.Event, error) {
	if !textOK(conversationSID) {
		return store.Event{}, fmt.Errorf("pending event in conversation %s: %w", conversationSID, store.ErrNotFound)
	}
	e, err := scanEvent(q.db.QueryRow(ctx, `SELECT `+eventCols+` FROM events
		WHERE conversation_sid = $1 AND status = 'pending' ORDER BY sequence LIMIT 1`, conversationSID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Event{}, fmt.Errorf("pending event in conversation %s: %w", conversationSID, store.ErrNotFound)
	}
	if err != nil {
		return store.Event{}, sqlError("next pending event in conversation "+conversationSID, err)
	}
	return e, nil
}

// markEventDoneSQL marks a pending event done (see MarkEventDone);
// MarkEventDoneLater runs it too.
const markEventDoneSQL = `UPDATE events SET status = 'done', outcome = $2, done_time = $3, payload = NULL
	WHERE id = $1 AND status = 'pending'`

func (q *queries) MarkEventDone(ctx context.Context, id int64, outcome json.RawMessage, doneTime time.Time) error {
	if err := store.CheckJSON("event outcome", outcome); err != nil {
		return err
	}
	// Of two concurrent callers the second waits for the first and then
	// finds the event done (READ COMMITTED re-evaluates the condition
	// against the committed row).
	tag, err := q.db.Exec(ctx, markEventDoneSQL, id, jsonArg(outcome), q.stamp(doneTime))
	if err != nil {
		return sqlError(fmt.Sprintf("mark event %d done", id), err)
	}
	if tag.RowsAffected() == 0 {
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
	rows, err := q.db.Query(ctx, `SELECT conversation_sid FROM events WHERE status = 'pending'
		GROUP BY conversation_sid ORDER BY min(id) LIMIT $1`, limit)
	return collect(rows, err, func(c *string) []any { return []any{c} }, "list conversations with pending events")
}

func (q *queries) OrphanedConversations(ctx context.Context, leasePrefix string, now time.Time, limit int) ([]string, error) {
	if limit < 0 || now.IsZero() {
		return nil, fmt.Errorf("orphaned conversations: need a time and a non-negative limit: %w", store.ErrInvalidArgument)
	}
	if err := store.CheckText("lease prefix", leasePrefix); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = 100
	}
	rows, err := q.db.Query(ctx, `SELECT e.conversation_sid FROM events e
		LEFT JOIN leases l ON l.name = $1 || e.conversation_sid
		WHERE e.status = 'pending' AND (l.name IS NULL OR l.expire_time <= $2)
		GROUP BY e.conversation_sid ORDER BY min(e.id) LIMIT $3`, leasePrefix, store.Normalize(now), limit)
	return collect(rows, err, func(c *string) []any { return []any{c} }, "list orphaned conversations")
}

func (q *queries) DeleteDoneEvents(ctx context.Context, receivedBefore time.Time) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM events WHERE status = 'done' AND receive_time < $1`, store.Normalize(receivedBefore))
	if err != nil {
		return 0, sqlError("delete done events", err)
	}
	return int(tag.RowsAffected()), nil
}

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// onceMessenger guards the real Messenger so a replayed engine call does not
// send a message twice (issue 4, item 5).
//
// Each send is keyed with the engine's idempotency key ("<execution
// SID>/<step>", deterministic for a replay from the same state) and the
// attempt's cause. Before sending, the key is looked up; a recorded send is
// returned as it was, without calling the API. After sending, the result is
// recorded at once, in its own transaction, rather than with the steps at the
// end of the call: a crash between the send and the final commit must leave
// the record behind, or the replay would send again. The one window left is
// a crash between the API answering and that record committing (a few
// milliseconds); the Conversations API has no idempotency key for messages
// that would close it.
//
// The sends table references the execution, so the first send of a new
// execution creates its row (active, no state yet) in the same transaction;
// the final commit then updates that row. A replayed start finds the row,
// recognises it by its SID (derived from the event) and carries on.
type onceMessenger struct {
	r    *Runner
	next engine.Messenger
}

func (g *onceMessenger) Send(ctx context.Context, m engine.OutboundMessage) (engine.SentMessage, error) {
	at := attemptFrom(ctx)
	if at == nil {
		return g.next.Send(ctx, m)
	}
	key := m.IdempotencyKey + "@" + at.cause
	if at.persisted {
		// A new execution has no row yet, hence no sends to find.
		s, err := g.r.st.GetSend(ctx, key)
		switch {
		case err == nil:
			var sent engine.SentMessage
			if err := json.Unmarshal(s.Result, &sent); err != nil {
				return engine.SentMessage{}, g.abort(at, fmt.Errorf("runner: recorded send %s is unreadable: %w", key, err))
			}
			return sent, nil
		case !errors.Is(err, store.ErrNotFound):
			return engine.SentMessage{}, g.abort(at, fmt.Errorf("runner: looking up send %s: %w", key, err))
		}
	}
	sent, err := g.next.Send(ctx, m)
	if err != nil {
		// The widget's failure path; nothing to record.
		return sent, err
	}
	result, err := json.Marshal(sent)
	if err != nil {
		return engine.SentMessage{}, g.abort(at, fmt.Errorf("runner: encoding send %s: %w", key, err))
	}
	// The message is out: record it even if the caller's context ends now.
	rctx := context.WithoutCancel(ctx)
	var created store.Execution
	err = g.r.st.InTx(rctx, func(tx store.Tx) error {
		if !at.persisted {
			row := at.row
			row.Status = store.ExecutionStatusActive
			now := g.r.now()
			row.CreateTime, row.UpdateTime = now, now
			var err error
			if created, err = tx.CreateExecution(rctx, row); err != nil {
				return err
			}
			if at.cause == causeREST {
				// A REST placeholder is orphaned if the process dies
				// now (nothing replays a REST call): LIFETIME ends it.
				// Event placeholders are completed by the event's replay.
				if err := scheduleLifetime(rctx, tx, row.SID, now); err != nil {
					return err
				}
				at.timersMayExist = true
			}
		}
		_, err := tx.RecordSend(rctx, store.Send{Key: key, ExecutionSID: m.ExecutionSid, Result: result, CreateTime: g.r.now()})
		return err
	})
	if err != nil {
		g.r.log.Error("a message was sent but could not be recorded; a replay may send it again",
			"key", key, "execution_sid", m.ExecutionSid, "message_sid", sent.Sid, "err", err)
		return engine.SentMessage{}, g.abort(at, fmt.Errorf("runner: recording send %s: %w", key, err))
	}
	if !at.persisted {
		at.persisted, at.version = true, created.Version
	}
	return sent, nil
}

// abort stops the engine call: the engine sees its context cancelled and
// returns, nothing of the call is committed, and the caller retries it.
func (g *onceMessenger) abort(at *attempt, err error) error {
	at.abortErr = err
	at.abort(err)
	return err
}

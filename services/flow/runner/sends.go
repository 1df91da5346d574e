package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// onceMessenger guards the real Messenger so a replayed engine call does not
// send a message twice (issue 4, item 5; issue 12, item 4).
//
// Each send is keyed with the engine's idempotency key ("<execution
// SID>/<step>", deterministic for a replay from the same state) and the
// attempt's cause, and the message carries that key (TwilioMessenger stamps
// it into the message attributes). Before sending, the key is looked up in
// the store; a recorded send is returned as it was, without calling the API.
// After sending, the result is recorded twice over: at once, by an early
// record in its own transaction started in the background, and in the
// transaction that commits the steps. The early record is what a crash
// between the send and that commit (or a failed commit) leaves behind for
// the replay to find; the commit's copy makes the record certain when the
// early one failed. When the engine commits right after the send, as usual,
// both share one group commit, so the early record costs no extra fsync on
// the critical path.
//
// That leaves a crash between the API creating the message and the early
// record committing. An attempt that may follow such a crash is suspect (it
// took over a dead replica's lease or timer claim, or an earlier attempt of
// its own failed half-way; see leases.go), and a suspect attempt also looks
// for a message carrying its key in the conversation (SentLookup) before
// sending. A send is also refused, and bounded in time, when the lease or
// claim it runs under may have run out, so a replica cut off from the store
// does not send while another takes over.
//
// The sends table references the execution, so the early record of a new
// execution's send creates the execution's row (active, no state yet); the
// commit then updates that row, and a replayed start finds it, recognises
// it by its SID (derived from the event) and carries on.
type onceMessenger struct {
	r    *Runner
	next engine.Messenger
}

// SentLookup is implemented by Messengers that can find a message sent
// earlier with the given IdempotencyKey (TwilioMessenger does). A suspect
// attempt asks before sending; a Messenger without it cannot close the
// window between sending and recording.
type SentLookup interface {
	// FindSent returns the message sent earlier for m.IdempotencyKey, and
	// false when there is none.
	FindSent(ctx context.Context, m engine.OutboundMessage) (engine.SentMessage, bool, error)
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
	// The message carries the whole key, so a later attempt can find it.
	m.IdempotencyKey = key
	gd := guardFrom(ctx)
	if gd != nil && gd.suspect {
		if l, ok := g.next.(SentLookup); ok {
			sent, found, err := l.FindSent(ctx, m)
			if err != nil {
				return engine.SentMessage{}, g.abort(at, fmt.Errorf("runner: looking for an earlier attempt's message %s: %w", key, err))
			}
			if found {
				g.record(ctx, at, m, sent)
				return sent, nil
			}
		}
	}
	sctx := ctx
	if gd != nil && gd.validUntil != nil {
		until := gd.validUntil()
		if !g.r.now().Before(until) {
			return engine.SentMessage{}, g.abort(at, fmt.Errorf("%w: not sending %s", errLeaseLost, key))
		}
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	sent, err := g.next.Send(sctx, m)
	if err != nil {
		if gd != nil && gd.validUntil != nil && sctx.Err() != nil && ctx.Err() == nil {
			// The lease may have run out while the message was on its
			// way: whether it went out is for the next attempt to find.
			gd.lost()
			return engine.SentMessage{}, g.abort(at, fmt.Errorf("%w while sending %s: %w", errLeaseLost, key, err))
		}
		// The widget's failure path; nothing to record.
		return sent, err
	}
	g.record(ctx, at, m, sent)
	return sent, nil
}

// record keeps a sent message for the commit and records it early (see
// above).
func (g *onceMessenger) record(ctx context.Context, at *attempt, m engine.OutboundMessage, sent engine.SentMessage) {
	result, err := json.Marshal(sent)
	if err != nil {
		// A SentMessage always encodes; should it not, the commit fails
		// instead of committing a send it cannot record.
		g.abort(at, fmt.Errorf("runner: encoding send %s: %w", m.IdempotencyKey, err))
		return
	}
	rec := sentRecord{key: m.IdempotencyKey, executionSid: m.ExecutionSid, result: result}
	at.sends = append(at.sends, rec)
	placeholder := !at.persisted
	row := at.row
	armLifetime := placeholder && at.cause == causeREST
	if armLifetime {
		at.timersMayExist = true
	}
	at.records.Add(1)
	go func() {
		defer at.records.Done()
		// The message is out: record it even if the call's context ends.
		g.earlyRecord(context.WithoutCancel(ctx), rec, row, placeholder, armLifetime)
	}()
}

// earlyRecord records one send in its own transaction, creating the
// execution's row first when it may not exist yet. A failure is only
// logged: the commit records the send too.
func (g *onceMessenger) earlyRecord(ctx context.Context, rec sentRecord, row store.Execution, placeholder, armLifetime bool) {
	err := g.r.st.InTx(ctx, func(tx store.Tx) error {
		if placeholder {
			if _, err := tx.GetExecution(ctx, row.SID); errors.Is(err, store.ErrNotFound) {
				now := g.r.now()
				row.Status = store.ExecutionStatusActive
				row.CreateTime, row.UpdateTime = now, now
				if _, err := tx.CreateExecution(ctx, row); err != nil {
					return err
				}
				if armLifetime {
					// A REST placeholder is orphaned if the process dies
					// now (nothing replays a REST call): LIFETIME ends
					// it. Event placeholders are completed by the replay.
					if err := scheduleLifetime(ctx, tx, row.SID, now); err != nil {
						return err
					}
				}
			} else if err != nil {
				return err
			}
		}
		return recordSends(ctx, tx, []sentRecord{rec}, g.r.now())
	})
	if err != nil {
		g.r.log.Warn("early record of a send failed; the commit records it", "key", rec.key, "execution_sid", rec.executionSid, "err", err)
	}
}

// recordSends records the sends not recorded yet.
func recordSends(ctx context.Context, tx store.Tx, sends []sentRecord, now time.Time) error {
	for _, s := range sends {
		if _, err := tx.GetSend(ctx, s.key); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if _, err := tx.RecordSend(ctx, store.Send{Key: s.key, ExecutionSID: s.executionSid, Result: s.result, CreateTime: now}); err != nil {
			return err
		}
	}
	return nil
}

// abort stops the engine call: the engine sees its context cancelled and
// returns, nothing of the call is committed, and the caller retries it.
func (g *onceMessenger) abort(at *attempt, err error) error {
	at.abortErr = err
	at.abort(err)
	return err
}

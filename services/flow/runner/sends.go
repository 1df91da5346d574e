package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
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
// After sending, the result is recorded by an early record in its own
// transaction started in the background: it is what a crash between the
// send and the commit (or a failed commit) leaves behind for the replay to
// find. The commit that completes the attempt deletes the record, or takes
// it over before it began and writes nothing (see earlyRecord).
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
	placeholder := !at.persisted
	armLifetime := placeholder && at.cause == causeREST
	if armLifetime {
		at.timersMayExist = true
	}
	rec := sentRecord{key: m.IdempotencyKey, executionSid: m.ExecutionSid, result: result,
		early: &earlyRecord{row: at.row, placeholder: placeholder, armLifetime: armLifetime}}
	at.sends = append(at.sends, rec)
	if at.committing == nil {
		at.committing = make(chan struct{})
	}
	committing := at.committing
	at.records.Add(1)
	go func() {
		defer at.records.Done()
		// The message is out: record it even if the call's context ends.
		g.recordEarly(context.WithoutCancel(ctx), rec, committing)
	}()
}

// earlyRecord is the early record of one send: what it writes and how far
// it got.
//
// A send record only matters until the attempt that made it commits: a
// replay of that attempt looks for it, nothing after the commit does. And
// usually the engine commits right after the send. So an early record
// waits up to earlyRecordDelay for the commit to begin; the commit takes
// over the records that have not begun and, committing the attempt, needs
// to write nothing for them at all. That saves the early record's
// transaction and the commit's reads of what it would have written (the
// execution row, the send): about half the statements of a one-send
// execution. When the engine goes on longer (a Function call after the
// message, say), the early record commits on its own as before, and the
// commit deletes it. A commit that took records over and failed writes
// them as the early records would have before returning. The delay widens
// the window a crash leaves unrecorded by a few milliseconds; the window
// is covered, as before, by the lookup of a suspect attempt (SentLookup).
type earlyRecord struct {
	state atomic.Int32
	// row is the execution as the attempt knew it at the send; placeholder
	// says the row may not exist yet, and armLifetime that a placeholder
	// gets a LIFETIME timer (see writeEarly).
	row                      store.Execution
	placeholder, armLifetime bool
}

// earlyRecordDelay is how long an early record waits for the commit to
// take it over.
const earlyRecordDelay = 5 * time.Millisecond

const (
	earlyPending int32 = iota // not begun
	earlyBegun                // in its own transaction (or done)
	earlyTaken                // taken over by the commit
)

// begin claims the record for its own transaction; false when the commit
// took it.
func (e *earlyRecord) begin() bool { return e.state.CompareAndSwap(earlyPending, earlyBegun) }

// take claims the record for the commit's transaction; false when its own
// transaction began first.
func (e *earlyRecord) take() bool { return e.state.CompareAndSwap(earlyPending, earlyTaken) }

// recordEarly records one send in its own transaction once the commit has
// not begun within earlyRecordDelay, unless the commit took it over. A
// failure is only logged: if the commit then fails too, the replay is
// suspect and looks for the message before sending (SentLookup).
func (g *onceMessenger) recordEarly(ctx context.Context, rec sentRecord, committing <-chan struct{}) {
	t := time.NewTimer(earlyRecordDelay)
	select {
	case <-committing:
	case <-t.C:
	}
	t.Stop()
	if !rec.early.begin() {
		return
	}
	g.r.storeEarly(ctx, rec, "early record of a send failed")
}

// writeEarly writes an early record: the send, and the execution's row
// first when it may not exist yet.
func (r *Runner) writeEarly(ctx context.Context, tx store.Tx, rec sentRecord) error {
	e := rec.early
	if e.placeholder {
		if _, err := tx.GetExecution(ctx, e.row.SID); errors.Is(err, store.ErrNotFound) {
			row := e.row
			now := r.now()
			row.Status = store.ExecutionStatusActive
			row.CreateTime, row.UpdateTime = now, now
			if _, err := tx.CreateExecution(ctx, row); err != nil {
				return err
			}
			if e.armLifetime {
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
	if _, err := tx.GetSend(ctx, rec.key); err == nil {
		return nil // already recorded: the first record stands
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err := tx.RecordSend(ctx, store.Send{Key: rec.key, ExecutionSID: rec.executionSid, Result: rec.result, CreateTime: r.now()})
	return err
}

// storeEarly writes rec in a transaction of its own; a failure is logged
// with why (what the record was for), as nothing else can report it.
func (r *Runner) storeEarly(ctx context.Context, rec sentRecord, why string) {
	if err := r.st.InTx(ctx, func(tx store.Tx) error { return r.writeEarly(ctx, tx, rec) }); err != nil {
		r.log.Warn(why, "key", rec.key, "execution_sid", rec.executionSid, "err", err)
	}
}

// recordTaken writes, each in its own transaction, the early records a
// failed commit had taken over, so the failure leaves what the early
// records would have.
func (r *Runner) recordTaken(ctx context.Context, recs []sentRecord) {
	for _, rec := range recs {
		r.storeEarly(ctx, rec, "record of a send failed after a failed commit")
	}
}

// abort stops the engine call: the engine sees its context cancelled and
// returns, nothing of the call is committed, and the caller retries it.
func (g *onceMessenger) abort(at *attempt, err error) error {
	at.abortErr = err
	at.abort(err)
	return err
}

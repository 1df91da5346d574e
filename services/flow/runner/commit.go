package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// attempt is one engine call (Start, Resume or End) on its way to the store.
// It travels in the context given to the engine so the send guard
// (onceMessenger) can key, look up and record sends, and create the
// execution row before the first send of a new execution.
//
// The engine runs one execution on one goroutine, so the fields need no lock.
type attempt struct {
	// cause names what drives the call ("ev<event ID>", "tm<timer ID>",
	// "rest") plus, for a persisted execution, the version it started
	// from. Send keys are the engine's key + "@" + cause: a replay of the
	// same call from the same state finds its sends, a different call
	// (another event or timer, or the same after the state moved on) never
	// takes another's.
	cause string
	// row is the execution row as the runner knows it: for a new
	// execution the identity (flow, revision, contact, conversation) to
	// create it with.
	row store.Execution
	// persisted says the row exists; version is its stored version.
	persisted bool
	version   int64
	// start says the call is a Start; timersMayExist that the execution
	// may have timers to cancel when it ends (a start that ends in its
	// first run has none, which saves two statements on the hot path).
	start          bool
	timersMayExist bool
	// abort cancels the engine's context with abortErr when the send
	// guard cannot go on (the store failed): the engine then returns a
	// context error and the runner returns abortErr.
	abort    context.CancelCauseFunc
	abortErr error
	// sends are the messages this call sent; the commit records those
	// the early records (records) have not.
	sends   []sentRecord
	records sync.WaitGroup
	// committing is closed when the commit has taken over the early
	// records it could (see earlyRecord), waking the others.
	committing chan struct{}
}

// sentRecord is a send to record under key.
type sentRecord struct {
	key          string
	executionSid string
	result       json.RawMessage
	early        *earlyRecord
}

type attemptKey struct{}

func attemptFrom(ctx context.Context) *attempt {
	at, _ := ctx.Value(attemptKey{}).(*attempt)
	return at
}

// withAttempt returns the context for an engine call of at.
func withAttempt(ctx context.Context, at *attempt) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.WithValue(ctx, attemptKey{}, at))
	at.abort = cancel
	return ctx, func() { cancel(nil) }
}

// fail returns the error of a failed engine call, preferring the send
// guard's reason over the context error it caused.
func (at *attempt) fail(err error) error {
	if at.abortErr != nil {
		return at.abortErr
	}
	return err
}

// takeEarlyRecords takes over the early records of at's sends that have
// not begun (see earlyRecord) and returns them, then wakes the others.
func (at *attempt) takeEarlyRecords() []sentRecord {
	var taken []sentRecord
	for _, s := range at.sends {
		if s.early.take() {
			taken = append(taken, s)
		}
	}
	if at.committing != nil {
		close(at.committing)
		at.committing = nil
	}
	return taken
}

// startWithSID runs engine.Start with the execution SID chosen by the runner.
func (r *Runner) startWithSID(ctx context.Context, at *attempt, sid string, def *engine.Definition, t *engine.Trigger) (*engine.Result, error) {
	at.row.SID = sid
	at.start = true
	if at.persisted {
		// A replayed start whose placeholder may carry a LIFETIME timer.
		at.timersMayExist = true
	}
	ctx, cancel := withAttempt(ctx, at)
	defer cancel()
	t.ExecutionSid = sid
	res, err := r.eng.Start(ctx, def, t)
	if err != nil {
		at.records.Wait()
		return nil, at.fail(err)
	}
	return res, nil
}

// resume runs engine.Resume for at.
func (r *Runner) resume(ctx context.Context, at *attempt, def *engine.Definition, x *engine.Execution, ev engine.Resume) (*engine.Result, error) {
	at.timersMayExist = true
	ctx, cancel := withAttempt(ctx, at)
	defer cancel()
	res, err := r.eng.Resume(ctx, def, x, ev)
	if err != nil {
		at.records.Wait()
		return nil, at.fail(err)
	}
	return res, nil
}

// encodeState returns the stored state and context of x. The row keeps the
// context once, in its context column, so the state is the execution
// without it (a zero Context is left out); until 2026-12-07 the state held
// a second copy, which decodeExecution still reads.
//
// The engine's MarshalJSON and UnmarshalJSON are called directly: through
// encoding/json each document would be scanned once more for validity,
// which the engine's own encoding and decoding need not be.
func encodeState(x *engine.Execution) (state, xctx json.RawMessage, err error) {
	bare := *x
	bare.Context = engine.Context{}
	if state, err = bare.MarshalJSON(); err != nil {
		return nil, nil, fmt.Errorf("runner: encoding execution %s: %w", x.Sid, err)
	}
	if xctx, err = x.Context.MarshalJSON(); err != nil {
		return nil, nil, fmt.Errorf("runner: encoding the context of %s: %w", x.Sid, err)
	}
	return state, xctx, nil
}

// decodeExecution reads the engine state of a stored execution.
func decodeExecution(row store.Execution) (*engine.Execution, error) {
	var x engine.Execution
	if err := x.UnmarshalJSON(row.State); err != nil {
		return nil, fmt.Errorf("runner: execution %s has unreadable state: %w", row.SID, err)
	}
	// A decoded context has its maps; a nil trigger means the state left
	// the context to the column.
	if x.Context.Trigger == nil && len(row.Context) > 0 {
		if err := x.Context.UnmarshalJSON(row.Context); err != nil {
			return nil, fmt.Errorf("runner: execution %s has an unreadable context: %w", row.SID, err)
		}
	}
	return &x, nil
}

// commit persists an engine Result in one transaction: the execution row
// (created or updated at the version the call started from), its steps,
// its timers (the wait's timeout, the LIFETIME timer of a new execution,
// none once ended) and whatever extra adds (the event marked done, the fired
// timer deleted). Steps are published to subscribers after the commit.
//
// The commit takes over the early records of the call's sends that have not
// begun (see earlyRecord), and deletes the send records of those that have:
// once the call is committed no replay looks for them, so a parked
// execution keeps none. A commit that fails writes the records it took
// over, and returns once the early records are done, so a replay after a
// failure finds every send.
func (r *Runner) commit(ctx context.Context, at *attempt, res *engine.Result, extra func(store.Tx) error) (store.Execution, error) {
	defer at.records.Wait()
	x := res.Execution
	state, xctx, err := encodeState(x)
	if err != nil {
		return store.Execution{}, err
	}
	status := store.ExecutionStatusActive
	if res.Ended() {
		status = store.ExecutionStatusEnded
	}
	steps := make([]store.Step, len(res.Steps))
	for i, s := range res.Steps {
		steps[i] = storeStep(s)
	}
	now := r.now()
	var out store.Execution
	began := time.Now()
	taken := at.takeEarlyRecords()
	var recorded []string
	if len(taken) < len(at.sends) {
		// Some early records began on their own: let them land first, so
		// the commit finds and deletes what they wrote.
		at.records.Wait()
		for _, s := range at.sends {
			if s.early.state.Load() != earlyTaken {
				recorded = append(recorded, s.key)
			}
		}
	}
	err = r.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		version, persisted := at.version, at.persisted
		if !persisted && len(taken) < len(at.sends) {
			// An early record may have created the row already.
			if row, err := tx.GetExecution(ctx, x.Sid); err == nil {
				version, persisted = row.Version, true
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		// The execution row is deferred too, so that on PostgreSQL the
		// whole commit is one round trip, except for a REST start: its
		// caller is answered with the active execution in its way, which
		// the deferred creation can report as a mere conflict when that
		// execution was committed concurrently.
		switch {
		case persisted:
			err = tx.UpdateExecutionLater(ctx, store.ExecutionUpdate{
				SID: x.Sid, Version: version, Status: status, EndedReason: x.EndedReason,
				State: state, Context: xctx, UpdateTime: x.DateUpdated,
			}, &out)
		case at.cause == causeREST:
			out, err = tx.CreateExecution(ctx, newRow(at, x, status, state, xctx))
		default:
			err = tx.CreateExecutionLater(ctx, newRow(at, x, status, state, xctx), &out)
		}
		if err != nil {
			return err
		}
		// The attempt is done once this commits: its send records have
		// served (no replay will look for them), so the commit deletes
		// those the early records wrote instead of adding its own.
		if len(recorded) > 0 {
			if _, err := tx.DeleteSends(ctx, recorded); err != nil {
				return err
			}
		}
		if at.start && !res.Ended() {
			// Scheduling replaces, so a placeholder's timer is no matter.
			if err := scheduleLifetime(ctx, tx, x.Sid, x.DateCreated); err != nil {
				return err
			}
		}
		// None of the results of the writes below is needed before the
		// commit either, so PostgreSQL sends them with the COMMIT (and
		// extra's, which the runner defers too).
		if err := tx.AppendStepsLater(ctx, steps); err != nil {
			return err
		}
		switch {
		case res.Ended() && at.timersMayExist:
			if err := tx.CancelTimersLater(ctx, x.Sid, ""); err != nil {
				return err
			}
		case res.Wait != nil:
			payload, _ := json.Marshal(waitPayload{Widget: res.Wait.Widget, Subflow: res.Wait.Subflow})
			if err := tx.ScheduleTimerLater(ctx, store.Timer{ExecutionSID: x.Sid, Kind: store.TimerKindWaitTimeout, FireTime: fireTime(res.Wait.Until), Payload: payload, CreateTime: now}); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		// What the commit took over from the early records it now writes
		// as they would have: the sends are out.
		r.recordTaken(context.WithoutCancel(ctx), taken)
		var active *store.ActiveExecutionError
		if errors.As(err, &active) {
			return store.Execution{}, err
		}
		return store.Execution{}, fmt.Errorf("runner: committing execution %s: %w", x.Sid, err)
	}
	r.m.committed(at.start, res, time.Since(began))
	traceSteps(ctx, res)
	at.persisted, at.version = true, out.Version
	r.subs.publish(x.Sid, steps, res.Ended())
	return out, nil
}

// newRow is the execution row that commit creates for a new execution.
func newRow(at *attempt, x *engine.Execution, status store.ExecutionStatus, state, xctx json.RawMessage) store.Execution {
	row := at.row
	row.SID, row.Status, row.EndedReason = x.Sid, status, x.EndedReason
	row.State, row.Context = state, xctx
	row.CreateTime, row.UpdateTime = x.DateCreated, x.DateUpdated
	return row
}

// waitPayload is a wait-timeout timer's payload: the widget it was armed
// for, so a timer left over from an earlier wait is refused by the engine.
type waitPayload struct {
	Widget  string `json:"widget"`
	Subflow string `json:"subflow,omitempty"`
}

// scheduleLifetime arms the LIFETIME timer of a new execution: Studio
// ends executions engine.ExecutionLifetime after they started.
func scheduleLifetime(ctx context.Context, tx store.Tx, sid string, created time.Time) error {
	return tx.ScheduleTimerLater(ctx, store.Timer{ExecutionSID: sid, Kind: store.TimerKindLifetime, FireTime: created.Add(engine.ExecutionLifetime)})
}

// storeStep converts an engine step. The store has no column for a step's
// error, so a failed widget's StepError is kept in the step context under
// "error" ({code, message}), where Studio's console shows a step's failure.
func storeStep(s engine.Step) store.Step {
	c := s.Context
	if s.Error != nil {
		var m map[string]any
		if json.Unmarshal(c, &m) == nil && m != nil {
			m["error"] = map[string]any{"code": s.Error.Code, "message": s.Error.Message}
			if b, err := json.Marshal(m); err == nil {
				c = b
			}
		}
	}
	return store.Step{
		SID: s.Sid, ExecutionSID: s.ExecutionSid, Sequence: int64(s.Number), Name: s.Name,
		TransitionedFrom: s.TransitionedFrom, TransitionedTo: s.TransitionedTo, Type: s.Type,
		Context: c, CreateTime: s.DateCreated, FlowSID: s.FlowSid, ParentStepSID: s.ParentStepSid,
	}
}

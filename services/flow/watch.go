package flow

import (
	"context"
	"time"

	"connectrpc.com/connect"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// watchPollInterval is how often WatchExecution re-reads the store besides
// the runner's notifications. The notifications only cover steps this
// replica commits; another replica's steps (several services on one
// database) are picked up by the poll.
const watchPollInterval = 2 * time.Second

// watcher streams one execution's steps, each once and in order.
type watcher struct {
	s      *service
	stream *connect.ServerStream[flowv1.WatchExecutionResponse]
	sid    string
	// base holds the execution's fixed fields (flow, revision, contact,
	// conversation, creation), shown with every step.
	base    store.Execution
	lastSeq int64
	// endSent is set once a message carrying the ended execution went out.
	endSent bool
}

func (s *service) WatchExecution(ctx context.Context, req *flowv1.WatchExecutionRequest, stream *connect.ServerStream[flowv1.WatchExecutionResponse]) error {
	base, err := s.execution(ctx, req.GetFlowSid(), req.GetExecutionSid())
	if err != nil {
		return s.fail(ctx, err)
	}
	// Subscribe before reading the store, so that no step committed in
	// between is missed; steps seen twice are skipped by sequence.
	steps, cancel := s.runner.Subscribe(req.GetExecutionSid())
	defer cancel()
	w := &watcher{s: s, stream: stream, sid: base.SID, base: base}
	if done, err := w.sync(ctx); done || err != nil {
		return s.fail(ctx, err)
	}
	tick := time.NewTicker(watchPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.fail(ctx, ctx.Err())
		case st, ok := <-steps:
			if !ok {
				// The runner is done with this execution (it ended) or is
				// shutting down: the store says which.
				steps = nil
				if done, err := w.sync(ctx); done || err != nil {
					return s.fail(ctx, err)
				}
				continue
			}
			if st.Sequence <= w.lastSeq {
				continue
			}
			if st.TransitionedTo != engine.StepEnded {
				if err := w.send(st, nil); err != nil {
					return s.fail(ctx, err)
				}
				continue
			}
			e, err := s.store.GetExecution(ctx, w.sid)
			if err != nil {
				return s.fail(ctx, err)
			}
			if e.Status != store.ExecutionStatusEnded {
				// A subflow's end: the execution goes on.
				if err := w.send(st, nil); err != nil {
					return s.fail(ctx, err)
				}
				continue
			}
			if err := w.send(st, &e); err != nil {
				return s.fail(ctx, err)
			}
			// Steps of the same commit are published before the channel
			// closes; one last sync sends anything still missing.
			if _, err := w.sync(ctx); err != nil {
				return s.fail(ctx, err)
			}
			return nil
		case <-tick.C:
			if done, err := w.sync(ctx); done || err != nil {
				return s.fail(ctx, err)
			}
		}
	}
}

// sync sends the stored steps not sent yet and reports whether the
// execution has ended (and its final message went out).
func (w *watcher) sync(ctx context.Context) (bool, error) {
	// Read the execution first: if it has ended, every step is stored.
	e, err := w.s.store.GetExecution(ctx, w.sid)
	if err != nil {
		return false, err
	}
	ended := e.Status == store.ExecutionStatusEnded
	var pending []store.Step
	token := ""
	for {
		page, err := w.s.store.ListSteps(ctx, w.sid, store.PageParams{PageSize: store.MaxPageSize, PageToken: token})
		if err != nil {
			return false, err
		}
		for _, st := range page.Steps {
			if st.Sequence > w.lastSeq {
				pending = append(pending, st)
			}
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	for i, st := range pending {
		var final *store.Execution
		if ended && i == len(pending)-1 && st.TransitionedTo == engine.StepEnded {
			final = &e
		}
		if err := w.send(st, final); err != nil {
			return false, err
		}
	}
	if !ended {
		return false, nil
	}
	if !w.endSent {
		// Ended without a final step (EndExecution, the lifetime timer):
		// the last message carries the execution alone.
		if err := w.stream.Send(&flowv1.WatchExecutionResponse{Execution: executionToProto(e)}); err != nil {
			return false, err
		}
		w.endSent = true
	}
	return true, nil
}

// send streams one step. final is the ended execution when st is the step
// that ended it; otherwise the execution is shown as it was at st: active.
func (w *watcher) send(st store.Step, final *store.Execution) error {
	var ex *flowv1.Execution
	if final != nil {
		ex = executionToProto(*final)
		w.endSent = true
	} else {
		ex = executionToProto(w.base)
		ex.Status = flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE
		ex.EndedReason = flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_UNSPECIFIED
		ex.UpdateTime = timestamp(st.CreateTime)
	}
	if err := w.stream.Send(&flowv1.WatchExecutionResponse{Step: stepToProto(st), Execution: ex}); err != nil {
		return err
	}
	w.lastSeq = st.Sequence
	return nil
}

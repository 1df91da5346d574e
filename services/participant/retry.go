package participant

import (
	"context"
	"errors"
	"time"

	"github.com/convoflow/convoflow/internal/twilioclient"
)

// RetryPolicy says how Conversations API calls are retried: after a 429, a
// 5xx answer, a connection failure or a timeout. Every call the service
// makes is safe to repeat: reads, updates and deletes are, and so is the
// participant create, whose repeat after a lost answer fails with the
// conflict AddParticipant resolves (see server.add). See
// [twilioclient.RetryPolicy].
type RetryPolicy = twilioclient.RetryPolicy

// call runs fn, a Conversations API call that is safe to repeat, retrying
// it as the policy says. The error it returns is an *apiError naming op, or
// the context's error.
func (s *server) call(ctx context.Context, op string, fn func() error) error {
	attempts, err := s.retry.Do(ctx, true, func(int) error { return fn() },
		func(attempt int, wait time.Duration, err error) {
			s.log.Debug("retrying Conversations API call", "op", op, "attempt", attempt, "wait", wait, "err", err)
		})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	retryAfter, _ := twilioclient.RetryAfter(err)
	return &apiError{op: op, attempts: attempts, retryAfter: retryAfter, err: err}
}

package participant

import (
	"context"
	"errors"
	"time"

	"github.com/convoflow/convoflow/internal/twilioclient"
)

// RetryPolicy says how Conversations API calls are retried: a 429 for
// every call, a 5xx answer, connection failure or timeout only for calls
// that are safe to repeat (reads, updates, deletes), never for a create,
// whose first attempt may have succeeded. See [twilioclient.RetryPolicy].
type RetryPolicy = twilioclient.RetryPolicy

// idempotency says whether a call may be repeated after an unclear failure.
type idempotency bool

const (
	idempotent    idempotency = true
	notIdempotent idempotency = false
)

// call runs fn, a Conversations API call, retrying it as the policy says.
// The error it returns is an *apiError naming op, or the context's error.
func (s *server) call(ctx context.Context, op string, idem idempotency, fn func() error) error {
	attempts, err := s.retry.Do(ctx, bool(idem), func(int) error { return fn() },
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

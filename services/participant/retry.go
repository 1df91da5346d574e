package participant

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/convoflow/convoflow/internal/twilioclient"
)

// RetryPolicy says how Conversations API calls are retried. A 429 (Twilio
// 20429: "never processed and always safe to retry") is retried for every
// call; a 5xx answer, a connection failure or a timeout only for calls that
// are safe to repeat (reads, updates, deletes), never for a create, whose
// first attempt may have succeeded. Waits grow exponentially with jitter,
// and a Retry-After header is honoured.
type RetryPolicy struct {
	// Attempts is the most tries per call, the first included; 4 when 0.
	Attempts int
	// BaseDelay is the wait before the first retry (before jitter); 100 ms
	// when 0. It doubles with each retry up to MaxDelay.
	BaseDelay time.Duration
	// MaxDelay caps the wait between two tries; 2 s when 0.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the service waits for
	// itself; a longer one ends the call at once (ResourceExhausted or
	// Unavailable with a RetryInfo detail), so the caller decides. 10 s when 0.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 100 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 2 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 10 * time.Second
	}
	return p
}

// idempotency says whether a call may be repeated after an unclear failure.
type idempotency bool

const (
	idempotent    idempotency = true
	notIdempotent idempotency = false
)

// call runs fn, a Conversations API call, retrying it as the policy says.
// The error it returns is an *apiError naming op, or the context's error.
// twilio-go takes no context, so ctx bounds the retries and waits, not a
// request in flight (that is bounded by the client's timeout).
func (s *server) call(ctx context.Context, op string, idem idempotency, fn func() error) error {
	p := s.retry
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn()
		if err == nil {
			return nil
		}
		retryAfter, _ := twilioclient.RetryAfter(err)
		fail := &apiError{op: op, attempts: attempt, retryAfter: retryAfter, err: err}
		if !retryable(err, idem) || attempt >= p.Attempts {
			return fail
		}
		wait := backoff(p, attempt)
		if retryAfter > 0 {
			if retryAfter > p.MaxRetryAfter {
				return fail
			}
			// At least what Twilio asked for, plus jitter so that callers
			// throttled together do not come back together.
			wait = retryAfter + rand.N(p.BaseDelay)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			// The wait would outlast the caller's deadline: report Twilio's
			// answer now rather than a DeadlineExceeded later.
			return fail
		}
		s.log.Debug("retrying Conversations API call", "op", op, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// retryable reports whether a failed call may be tried again.
func retryable(err error, idem idempotency) bool {
	code, status, ok := twilioCode(err)
	if !ok {
		// No answer from Twilio: a connection failure or a timeout. The
		// request may have been processed.
		return bool(idem)
	}
	switch {
	case status == http.StatusTooManyRequests, code == codeTooManyRequests:
		return true
	case status >= 500:
		return bool(idem)
	default:
		return false
	}
}

// backoff is the jittered exponential wait after the given attempt: half
// of the exponential delay plus a random share of the other half ("equal
// jitter"), so waits spread out but never collapse to zero.
func backoff(p RetryPolicy, attempt int) time.Duration {
	d := p.MaxDelay
	// Shifting further would overflow long before; the cap applies anyway.
	if shift := attempt - 1; shift < 30 {
		d = min(p.BaseDelay<<shift, p.MaxDelay)
	}
	half := d / 2
	return half + rand.N(half+1)
}

package twilioclient

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"
)

// CodeTooManyRequests is Twilio's 20429: "never processed and always safe
// to retry".
const CodeTooManyRequests = 20429

// RetryPolicy says how a Twilio API call is retried. A 429 is retried for
// every call. A 5xx answer, a connection failure or a timeout is ambiguous
// (the request may have been processed) and is retried only for calls the
// caller declares repeatable: reads, updates, deletes, or a create the
// caller first checks for. Waits grow exponentially with jitter, and a
// Retry-After header is honoured.
type RetryPolicy struct {
	// Attempts is the most tries per call, the first included; 4 when 0.
	Attempts int
	// BaseDelay is the wait before the first retry (before jitter); 100 ms
	// when 0. It doubles with each retry up to MaxDelay.
	BaseDelay time.Duration
	// MaxDelay caps the wait between two tries; 2 s when 0.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After worth waiting for; a longer
	// one ends the call at once so the caller decides. 10 s when 0.
	MaxRetryAfter time.Duration
}

// WithDefaults fills the zero fields with the defaults.
func (p RetryPolicy) WithDefaults() RetryPolicy {
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

// Do runs fn (given the attempt number, from 1) until it succeeds, fails
// with an error that is not worth retrying, or the attempts run out, and
// returns the number of attempts made with fn's last error (or ctx's).
// onRetry, when not nil, is told about each retry before its wait.
// twilio-go takes no context, so ctx bounds the retries and waits, not a
// request in flight (that is bounded by the client's timeout).
func (p RetryPolicy) Do(ctx context.Context, repeatable bool, fn func(attempt int) error, onRetry func(attempt int, wait time.Duration, err error)) (int, error) {
	p = p.WithDefaults()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return attempt - 1, err
		}
		err := fn(attempt)
		if err == nil || !Retryable(err, repeatable) || attempt >= p.Attempts {
			return attempt, err
		}
		wait := p.Backoff(attempt)
		if retryAfter, ok := RetryAfter(err); ok {
			if retryAfter > p.MaxRetryAfter {
				return attempt, err
			}
			// At least what Twilio asked for, plus jitter so that callers
			// throttled together do not come back together.
			wait = retryAfter + rand.N(p.BaseDelay)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			// The wait would outlast the caller's deadline: report Twilio's
			// answer now rather than a DeadlineExceeded later.
			return attempt, err
		}
		if onRetry != nil {
			onRetry(attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, ctx.Err()
		case <-t.C:
		}
	}
}

// Retryable reports whether a failed call may be tried again; repeatable
// says whether repeating it is safe after an ambiguous failure.
func Retryable(err error, repeatable bool) bool {
	code, status, ok := ErrorCode(err)
	if !ok {
		// No answer from Twilio: a connection failure or a timeout. The
		// request may have been processed.
		return repeatable
	}
	switch {
	case status == http.StatusTooManyRequests, code == CodeTooManyRequests:
		return true
	case status >= 500:
		return repeatable
	default:
		return false
	}
}

// Ambiguous reports whether a failed call may nevertheless have been
// processed: Twilio answered 5xx, or did not answer at all.
func Ambiguous(err error) bool {
	code, status, ok := ErrorCode(err)
	if !ok {
		return true
	}
	return status >= 500 && status != http.StatusTooManyRequests && code != CodeTooManyRequests
}

// Backoff is the jittered exponential wait after the given attempt: half of
// the exponential delay plus a random share of the other half ("equal
// jitter"), so waits spread out but never collapse to zero.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	p = p.WithDefaults()
	d := p.MaxDelay
	// Shifting further would overflow long before; the cap applies anyway.
	if shift := attempt - 1; shift < 30 {
		d = min(p.BaseDelay<<shift, p.MaxDelay)
	}
	half := d / 2
	return half + rand.N(half+1)
}

package twilioclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/convoflow/convoflow/internal/twilioclient"
)

func TestRetryPolicyDo(t *testing.T) {
	t.Parallel()
	tooMany := &client.TwilioRestError{Code: 20429, Status: 429}
	server := &client.TwilioRestError{Code: 20500, Status: 500}
	notFound := &client.TwilioRestError{Code: 20404, Status: 404}
	dropped := errors.New("connection reset by peer")
	tests := []struct {
		name         string
		repeatable   bool
		errs         []error // what successive attempts return; nil = success
		wantAttempts int
		wantErr      error
	}{
		{name: "success_first_time", errs: []error{nil}, wantAttempts: 1},
		{name: "429_always_retried", errs: []error{tooMany, tooMany, nil}, wantAttempts: 3},
		{name: "5xx_retried_when_repeatable", repeatable: true, errs: []error{server, nil}, wantAttempts: 2},
		{name: "5xx_not_retried_for_a_create", errs: []error{server, nil}, wantAttempts: 1, wantErr: server},
		{name: "no_answer_retried_when_repeatable", repeatable: true, errs: []error{dropped, nil}, wantAttempts: 2},
		{name: "no_answer_not_retried_for_a_create", errs: []error{dropped}, wantAttempts: 1, wantErr: dropped},
		{name: "4xx_final", repeatable: true, errs: []error{notFound}, wantAttempts: 1, wantErr: notFound},
		{name: "attempts_run_out", errs: []error{tooMany, tooMany, tooMany, tooMany, nil}, wantAttempts: 4, wantErr: tooMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := twilioclient.RetryPolicy{BaseDelay: time.Millisecond}
			retries := 0
			n, err := p.Do(t.Context(), tt.repeatable, func(attempt int) error {
				return tt.errs[attempt-1]
			}, func(int, time.Duration, error) { retries++ })
			if n != tt.wantAttempts || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do = %d, %v; want %d, %v", n, err, tt.wantAttempts, tt.wantErr)
			}
			if retries != n-1 {
				t.Fatalf("onRetry called %d times for %d attempts", retries, n)
			}
		})
	}
}

func TestRetryPolicyHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	long := &client.TwilioRestError{Code: 20429, Status: 429, Details: map[string]any{"convoflow_retry_after": "60"}}
	short := &client.TwilioRestError{Code: 20429, Status: 429, Details: map[string]any{"convoflow_retry_after": "1"}}
	p := twilioclient.RetryPolicy{BaseDelay: time.Millisecond, MaxRetryAfter: 2 * time.Second}

	// (twilioclient keeps the Retry-After header in this detail, since
	// twilio-go drops response headers on errors.)
	// A Retry-After beyond MaxRetryAfter ends the call at once.
	if n, err := p.Do(t.Context(), true, func(int) error { return long }, nil); n != 1 || err != long {
		t.Fatalf("long Retry-After: Do = %d, %v; want 1 attempt", n, err)
	}
	// A wait that would outlast the caller's deadline ends it too.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if n, _ := p.Do(ctx, true, func(int) error { return short }, nil); n != 1 {
		t.Fatalf("deadline shorter than Retry-After: %d attempts, want 1", n)
	}
	// Otherwise the wait is at least Retry-After.
	var waited time.Duration
	n, err := p.Do(t.Context(), true, func(attempt int) error {
		if attempt == 1 {
			return short
		}
		return nil
	}, func(_ int, wait time.Duration, _ error) { waited = wait })
	if n != 2 || err != nil || waited < time.Second {
		t.Fatalf("Do = %d, %v after waiting %v; want success after ≥ 1s", n, err, waited)
	}
}

func TestAmbiguous(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{err: &client.TwilioRestError{Code: 20500, Status: 500}, want: true},
		{err: &client.TwilioRestError{Code: 20503, Status: 503}, want: true},
		{err: errors.New("EOF"), want: true},
		{err: &client.TwilioRestError{Code: 20429, Status: 429}, want: false},
		{err: &client.TwilioRestError{Code: 50416, Status: 409}, want: false},
	} {
		if got := twilioclient.Ambiguous(tt.err); got != tt.want {
			t.Errorf("Ambiguous(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := twilioclient.RetryPolicy{}.WithDefaults()
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 5: 1600 * time.Millisecond, 9: 2 * time.Second, 60: 2 * time.Second} {
		for range 50 {
			if got := p.Backoff(attempt); got < want/2 || got > want {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", attempt, got, want/2, want)
			}
		}
	}
}

package conversations

import (
	"net/url"
	"slices"
	"sync"
	"time"
)

// maxRecorded bounds the request and webhook logs so a long load test does
// not grow the fake without limit; the oldest entries are dropped.
const maxRecorded = 10000

// RecordedRequest is an API request the fake received.
type RecordedRequest struct {
	Time      time.Time
	Method    string
	Path      string
	Query     string
	Form      url.Values
	Operation string // the spec's operationId, or Unknown
	Status    int
}

// recorder keeps the request and webhook-attempt logs.
type recorder struct {
	mu   sync.Mutex
	reqs []RecordedRequest
	hook []WebhookAttempt
}

func trim[T any](s []T) []T {
	if len(s) > 2*maxRecorded {
		return slices.Clone(s[len(s)-maxRecorded:])
	}
	return s
}

func (r *recorder) request(q RecordedRequest) {
	r.mu.Lock()
	r.reqs = trim(append(r.reqs, q))
	r.mu.Unlock()
}

func (r *recorder) attempt(a WebhookAttempt) {
	r.mu.Lock()
	r.hook = trim(append(r.hook, a))
	r.mu.Unlock()
}

func (r *recorder) requests() []RecordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs[max(0, len(r.reqs)-maxRecorded):])
}

func (r *recorder) attempts() []WebhookAttempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hook[max(0, len(r.hook)-maxRecorded):])
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs, r.hook = nil, nil
	r.mu.Unlock()
}

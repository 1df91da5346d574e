package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the expectations in testdata/ with the actual results")

// testStart is the fixed time every test world starts at.
var testStart = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// testClock is a manual clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// seqIDs mints prefix + 32 hex digits counting from 1 per prefix.
type seqIDs struct {
	mu sync.Mutex
	n  map[string]int
}

func (g *seqIDs) NewSID(prefix string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == nil {
		g.n = map[string]int{}
	}
	g.n[prefix]++
	return fmt.Sprintf("%s%032x", prefix, g.n[prefix])
}

// sentMessage is a message the fake messenger received, as fixtures record it.
type sentMessage struct {
	IdempotencyKey   string            `json:"idempotency_key"`
	Widget           string            `json:"widget"`
	ConversationSid  string            `json:"conversation_sid,omitempty"`
	From             string            `json:"from"`
	To               string            `json:"to"`
	Body             string            `json:"body"`
	MediaURL         string            `json:"media_url,omitempty"`
	Attributes       string            `json:"attributes,omitempty"`
	ContentSid       string            `json:"content_sid,omitempty"`
	ContentVariables map[string]string `json:"content_variables,omitempty"`
}

// fakeMessenger answers every send, failing those whose number (from 1)
// is listed in fail.
type fakeMessenger struct {
	mu   sync.Mutex
	sent []sentMessage
	fail map[int]string
}

func (m *fakeMessenger) Send(ctx context.Context, o OutboundMessage) (SentMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, sentMessage{
		IdempotencyKey: o.IdempotencyKey, Widget: o.Widget, ConversationSid: o.ConversationSid,
		From: o.From, To: o.To, Body: o.Body, MediaURL: o.MediaURL, Attributes: o.Attributes,
		ContentSid: o.ContentSid, ContentVariables: o.ContentVariables,
	})
	n := len(m.sent)
	if msg, ok := m.fail[n]; ok {
		return SentMessage{}, errors.New(msg)
	}
	if o.ConversationSid != "" {
		return SentMessage{
			Sid: fmt.Sprintf("IM%032x", n), Status: "sent", From: o.From, To: o.To, Body: o.Body,
			ConversationSid: o.ConversationSid, Author: "system", Index: n, Attributes: "{}", Media: "", ParticipantSid: "",
		}, nil
	}
	return SentMessage{Sid: fmt.Sprintf("SM%032x", n), Status: "queued", From: o.From, To: o.To, Body: o.Body}, nil
}

// httpAnswerSpec is a scripted HTTP answer.
type httpAnswerSpec struct {
	// Match selects the answer by URL prefix or widget name ("" answers anything).
	Match       string `json:"match,omitempty"`
	Status      int    `json:"status,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
	// BodySize, when set, answers that many bytes of "x".
	BodySize int `json:"body_size,omitempty"`
	// Error makes the doer fail; "deadline" fails like an expired deadline.
	Error   string            `json:"error,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// recordedRequest is a request the fake doer received.
type recordedRequest struct {
	Widget      string `json:"widget"`
	Method      string `json:"method"`
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
	TwilioAuth  bool   `json:"twilio_auth,omitempty"`
	FunctionSid string `json:"function_sid,omitempty"`
	// IdempotencyKey is the call's key, "<execution SID>/<step number>".
	IdempotencyKey string `json:"idempotency_key"`
	// DeadlineSeconds is how far away the context's deadline was, rounded:
	// it shows the engine applied HTTPTimeout.
	DeadlineSeconds int `json:"deadline_seconds"`
}

// fakeHTTP answers from a script: in order when answers have no Match,
// otherwise by the first matching URL prefix or widget name.
type fakeHTTP struct {
	mu       sync.Mutex
	answers  []httpAnswerSpec
	next     int
	requests []recordedRequest
}

func (h *fakeHTTP) Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec := recordedRequest{Widget: req.Widget, Method: req.Method, URL: req.URL, Body: string(req.Body), TwilioAuth: req.TwilioAuth, FunctionSid: req.FunctionSid, IdempotencyKey: req.IdempotencyKey}
	if ct := req.Header["Content-Type"]; len(ct) > 0 {
		rec.ContentType = ct[0]
	}
	if d, ok := ctx.Deadline(); ok {
		rec.DeadlineSeconds = int(time.Until(d).Round(time.Second).Seconds())
	}
	h.requests = append(h.requests, rec)
	var a *httpAnswerSpec
	for i := range h.answers {
		m := h.answers[i].Match
		if m != "" && (strings.HasPrefix(req.URL, m) || m == req.Widget) {
			a = &h.answers[i]
			break
		}
	}
	if a == nil {
		for h.next < len(h.answers) && h.answers[h.next].Match != "" {
			h.next++
		}
		if h.next >= len(h.answers) {
			return nil, fmt.Errorf("no answer scripted for %s %s", req.Method, req.URL)
		}
		a = &h.answers[h.next]
		h.next++
	}
	switch a.Error {
	case "":
	case "deadline":
		return nil, fmt.Errorf("Post %q: %w", req.URL, context.DeadlineExceeded)
	default:
		return nil, errors.New(a.Error)
	}
	body := a.Body
	if a.BodySize > 0 {
		body = strings.Repeat("x", a.BodySize)
	}
	hdr := map[string][]string{}
	if a.ContentType != "" {
		hdr["Content-Type"] = []string{a.ContentType}
	}
	for k, v := range a.Headers {
		hdr[k] = []string{v}
	}
	status := a.Status
	if status == 0 {
		status = 200
	}
	return &HTTPResponse{StatusCode: status, Header: hdr, Body: io.NopCloser(strings.NewReader(body))}, nil
}

// fakeResolver serves subflows from a map of flow SID → definition JSON;
// every revision resolves to revision 1.
type fakeResolver struct {
	flows map[string]json.RawMessage
}

func (f *fakeResolver) ResolveSubflow(ctx context.Context, flowSid, revision string) (*Subflow, error) {
	raw, ok := f.flows[flowSid]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrSubflowNotFound, flowSid)
	}
	d, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return &Subflow{Definition: d, Revision: 1}, nil
}

// fakeFlex creates tasks TK… or fails with err.
type fakeFlex struct {
	err      string
	requests []FlexRequest
}

func (f *fakeFlex) Handoff(ctx context.Context, r FlexRequest) (FlexTask, error) {
	f.requests = append(f.requests, r)
	if f.err != "" {
		return FlexTask{}, errors.New(f.err)
	}
	return FlexTask{TaskSid: fmt.Sprintf("WT%032x", len(f.requests)), Attributes: r.Attributes, Age: 0}, nil
}

// world is one test's engine with its fakes.
type world struct {
	clock     *testClock
	ids       *seqIDs
	messenger *fakeMessenger
	http      *fakeHTTP
	subflows  *fakeResolver
	flex      *fakeFlex
	engine    *Engine
}

type worldSpec struct {
	HTTP           []httpAnswerSpec           `json:"http,omitempty"`
	MessengerFails map[int]string             `json:"messenger_fails,omitempty"`
	Subflows       map[string]json.RawMessage `json:"subflows,omitempty"`
	// Flex: absent = no hand-off hook; "ok" or an error message otherwise.
	Flex string `json:"flex,omitempty"`
}

func newWorld(tb testing.TB, spec worldSpec) *world {
	tb.Helper()
	w := &world{
		clock:     &testClock{now: testStart},
		ids:       &seqIDs{},
		messenger: &fakeMessenger{fail: spec.MessengerFails},
		http:      &fakeHTTP{answers: spec.HTTP},
		subflows:  &fakeResolver{flows: maps.Clone(spec.Subflows)},
	}
	opts := Options{Clock: w.clock, IDs: w.ids, Messenger: w.messenger, HTTP: w.http, Subflows: w.subflows, Location: time.UTC}
	if spec.Flex != "" {
		w.flex = &fakeFlex{}
		if spec.Flex != "ok" {
			w.flex.err = spec.Flex
		}
		opts.Flex = w.flex
	}
	e, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	w.engine = e
	return w
}

// stepView is a step as fixtures record it (the context snapshot is
// checked separately: it would bloat every fixture).
type stepView struct {
	Name  string     `json:"name"`
	From  string     `json:"from"`
	To    string     `json:"to"`
	Type  string     `json:"type"`
	Flow  string     `json:"flow_sid,omitempty"`
	Error *StepError `json:"error,omitempty"`
}

func viewSteps(steps []Step, rootFlow string) []stepView {
	out := make([]stepView, 0, len(steps))
	for _, s := range steps {
		v := stepView{Name: s.Name, From: s.TransitionedFrom, To: s.TransitionedTo, Type: s.Type, Error: s.Error}
		if s.FlowSid != rootFlow {
			v.Flow = s.FlowSid
		}
		out = append(out, v)
	}
	return out
}

// jsonEqual compares two values by their JSON encodings.
func jsonDiff(tb testing.TB, want, got any) string {
	tb.Helper()
	return cmp.Diff(toAny(tb, want), toAny(tb, got))
}

func toAny(tb testing.TB, v any) any {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// writeJSON rewrites a fixture file (for -update).
func writeJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// persist round-trips an execution through JSON, as FlowService does
// between events: every resume in the tests starts from the decoded copy.
func persist(tb testing.TB, x *Execution) *Execution {
	tb.Helper()
	b, err := json.Marshal(x)
	if err != nil {
		tb.Fatal(err)
	}
	var back Execution
	if err := json.Unmarshal(b, &back); err != nil {
		tb.Fatal(err)
	}
	b2, err := json.Marshal(&back)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		tb.Fatalf("execution state does not survive a JSON round trip:\n%s\n%s", b, b2)
	}
	return &back
}

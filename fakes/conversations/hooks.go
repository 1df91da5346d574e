package conversations

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/convoflow/convoflow/internal/twiliosig"
)

// WebhookAttempt is one HTTP attempt to deliver a webhook.
type WebhookAttempt struct {
	Time time.Time
	// Kind is pre or post (account- or service-level configuration) or scoped
	// (a conversation-scoped webhook, studio targets included).
	Kind             string
	EventType        string
	Method           string
	URL              string // as called, including the query string for GET
	Params           url.Values
	Signature        string
	IdempotencyToken string
	ConversationSid  string
	WebhookSid       string
	Attempt          int // 1 for the first try
	Status           int // HTTP status, 0 when no answer came
	Error            string
	Duration         time.Duration
}

// Signature computes X-Twilio-Signature as Twilio does: base64(HMAC-SHA1(
// authToken, url + each POST parameter name and value, names sorted)). For
// GET, params is nil and the query is part of url.
func Signature(authToken, rawURL string, params url.Values) string {
	return twiliosig.Sign(authToken, rawURL, params)
}

// delivery is one webhook to send, possibly several times.
type delivery struct {
	kind       string
	event      string
	url        string
	method     string // GET or POST
	params     url.Values
	token      string
	retries    int
	convSid    string
	webhookSid string
}

// event is something that happened to a conversation, with its payload.
type event struct {
	name    string // onMessageAdded, onParticipantAdded, …
	svc     string
	convSid string
	params  url.Values
	body    string // message body, for trigger keywords
}

// emitLocked queues the post-event webhooks for ev. It runs with s.mu held,
// so events of one conversation are queued in the order they happened.
func (s *Server) emitLocked(ev event) {
	var ds []delivery
	token := s.st.newToken()
	add := func(kind string, cfg WebhookConfig) {
		if cfg.PostWebhookURL == "" || !slices.Contains(cfg.Filters, ev.name) {
			return
		}
		ds = append(ds, delivery{kind: kind, event: ev.name, url: cfg.PostWebhookURL, method: upper(cfg.Method),
			params: ev.params, token: token, retries: 1, convSid: ev.convSid})
	}
	add("post", s.st.webhooks)
	if svc := s.st.services[ev.svc]; svc != nil {
		add("post", svc.Webhooks)
	}
	if c := s.st.conversations[ev.convSid]; c != nil {
		for _, w := range c.webhooks {
			d, ok := s.scopedDelivery(w, ev)
			if ok {
				d.token = token
				ds = append(ds, d)
			}
		}
	}
	if len(ds) > 0 {
		s.deliv.enqueue(ev.convSid, ds)
	}
}

// scopedDelivery decides whether conversation-scoped webhook w receives ev.
func (s *Server) scopedDelivery(w *ScopedWebhook, ev event) (delivery, bool) {
	params := cloneValues(ev.params)
	params.Set("WebhookSid", w.Sid)
	params.Set("WebhookType", w.Target)
	d := delivery{kind: "scoped", event: ev.name, method: "POST", params: params, retries: w.Retries,
		convSid: ev.convSid, webhookSid: w.Sid}
	switch w.Target {
	case "studio":
		if ev.name != "onMessageAdded" {
			return d, false
		}
		if s.opts.StudioURL == "" {
			d.url = ""
		} else {
			d.url = strings.TrimSuffix(s.opts.StudioURL, "/") + "/v1/Accounts/" + s.opts.AccountSid + "/Flows/" + w.FlowSid
		}
		return d, true
	case "trigger":
		if ev.name != "onMessageAdded" || !matchesKeyword(ev.body, w.Triggers) {
			return d, false
		}
	default:
		if !slices.Contains(w.Filters, ev.name) {
			return d, false
		}
	}
	d.url, d.method = w.URL, upper(w.Method)
	return d, true
}

// matchesKeyword reports whether any word of body equals a keyword, ignoring case.
func matchesKeyword(body string, keywords []string) bool {
	for _, word := range strings.Fields(body) {
		word = strings.Trim(word, ".,!?;:\"'")
		for _, k := range keywords {
			if strings.EqualFold(word, k) {
				return true
			}
		}
	}
	return false
}

func upper(method string) string {
	if strings.EqualFold(method, "GET") {
		return http.MethodGet
	}
	return http.MethodPost
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+2)
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// preHookResult is what pre-event webhooks decided.
type preHookResult struct {
	// changes holds fields a pre-hook answered with JSON (body, author, attributes…).
	changes map[string]string
}

// runPreHooks calls the account- and service-level pre-event webhooks for
// ev synchronously, as Twilio does before committing an action. A non-2xx
// answer rejects the action; a JSON answer may change it. A hook that cannot
// be reached does not block the action. It must be called without s.mu held.
func (s *Server) runPreHooks(ctx context.Context, ev event) (preHookResult, error) {
	res := preHookResult{changes: map[string]string{}}
	s.mu.Lock()
	hc := s.deliv.client
	var ds []delivery
	token := s.st.newToken()
	for _, cfg := range []WebhookConfig{s.st.webhooks, s.serviceWebhooksLocked(ev.svc)} {
		if cfg.PreWebhookURL != "" && slices.Contains(cfg.Filters, ev.name) {
			ds = append(ds, delivery{kind: "pre", event: ev.name, url: cfg.PreWebhookURL, method: upper(cfg.Method),
				params: ev.params, token: token, retries: 1, convSid: ev.convSid})
		}
	}
	s.mu.Unlock()
	for _, d := range ds {
		status, body := s.deliver(ctx, hc, d)
		if status == 0 {
			continue
		}
		if status < 200 || status > 299 {
			return res, newError(http.StatusForbidden, codeForbidden, "Action %s rejected by pre-event webhook %s (HTTP %d)", ev.name, d.url, status)
		}
		var answer map[string]any
		if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &answer) == nil {
			for k, v := range answer {
				switch v := v.(type) {
				case string:
					res.changes[strings.ToLower(k)] = v
				case map[string]any, []any:
					b, _ := json.Marshal(v)
					res.changes[strings.ToLower(k)] = string(b)
				}
			}
		}
	}
	return res, nil
}

func (s *Server) serviceWebhooksLocked(svc string) WebhookConfig {
	if sv := s.st.services[svc]; sv != nil {
		return sv.Webhooks
	}
	return WebhookConfig{}
}

// deliver sends d, retrying on a connection failure or a 5xx answer, and
// logs every attempt. It returns the last status (0 when nothing answered)
// and the answer's body (at most 64 KiB).
func (s *Server) deliver(ctx context.Context, hc *http.Client, d delivery) (int, []byte) {
	for attempt := 1; attempt <= d.retries+1; attempt++ {
		params := cloneValues(d.params)
		params.Set("RetryCount", strconv.Itoa(attempt-1))
		a := WebhookAttempt{Time: s.now(), Kind: d.kind, EventType: d.event, Method: d.method, Params: params,
			IdempotencyToken: d.token, ConversationSid: d.convSid, WebhookSid: d.webhookSid, Attempt: attempt}
		status, body, err := s.attempt(ctx, hc, d, params, &a)
		if err != nil {
			a.Error = err.Error()
		}
		a.Status = status
		s.rec.attempt(a)
		s.log.Info("webhook", "event", d.event, "kind", d.kind, "url", a.URL, "attempt", attempt, "status", status, "err", a.Error)
		if err == nil && status < 500 {
			return status, body
		}
		if ctx.Err() != nil || d.url == "" {
			return status, body
		}
	}
	return 0, nil
}

// attempt makes one HTTP call for d.
func (s *Server) attempt(ctx context.Context, hc *http.Client, d delivery, params url.Values, a *WebhookAttempt) (int, []byte, error) {
	if d.url == "" {
		return 0, nil, fmt.Errorf("no studio URL configured (Options.StudioURL / --studio-url)")
	}
	start := time.Now()
	defer func() { a.Duration = time.Since(start) }()
	ctx, cancel := context.WithTimeout(ctx, s.opts.WebhookTimeout)
	defer cancel()
	target := d.url
	if u, err := url.Parse(target); err == nil && u.Path == "" {
		// Sign what the receiver will see: an empty path is sent as "/".
		u.Path = "/"
		target = u.String()
	}
	var req *http.Request
	var err error
	if d.method == http.MethodGet {
		u := target
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + params.Encode()
		a.URL = u
		a.Signature = Signature(s.opts.AuthToken, u, nil)
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	} else {
		a.URL = target
		a.Signature = Signature(s.opts.AuthToken, target, params)
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Twilio-Signature", a.Signature)
	req.Header.Set("I-Twilio-Idempotency-Token", d.token)
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, body, nil
}

// dispatcher delivers post-event webhooks in order per conversation: one
// queue and at most one goroutine per conversation, so the API never waits
// for a post-event webhook.
type dispatcher struct {
	s      *Server
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	queues  map[string][]delivery
	pending int
	idle    chan struct{} // closed when pending drops to 0
	wg      sync.WaitGroup
}

func newDispatcher(s *Server) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &dispatcher{
		s:      s,
		ctx:    ctx,
		cancel: cancel,
		queues: map[string][]delivery{},
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (d *dispatcher) enqueue(key string, ds []delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		return
	}
	q, running := d.queues[key]
	d.queues[key] = append(q, ds...)
	if d.pending == 0 {
		d.idle = make(chan struct{})
	}
	d.pending += len(ds)
	if !running {
		d.wg.Add(1)
		go d.run(key)
	}
}

// run drains one conversation's queue, then exits.
func (d *dispatcher) run(key string) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		q := d.queues[key]
		if len(q) == 0 {
			delete(d.queues, key)
			d.mu.Unlock()
			return
		}
		next := q[0]
		d.queues[key] = q[1:]
		d.mu.Unlock()
		if d.ctx.Err() == nil {
			d.s.deliver(d.ctx, d.client, next)
		}
		d.mu.Lock()
		d.pending--
		if d.pending == 0 {
			close(d.idle)
		}
		d.mu.Unlock()
	}
}

// wait blocks until no delivery is queued or running.
func (d *dispatcher) wait(ctx context.Context) error {
	d.mu.Lock()
	if d.pending == 0 {
		d.mu.Unlock()
		return nil
	}
	idle := d.idle
	d.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop abandons queued deliveries and waits for running ones to return.
func (d *dispatcher) stop() {
	d.cancel()
	d.wg.Wait()
	d.client.CloseIdleConnections()
}

// preHook runs the pre-event webhooks of a REST action when the request
// enables webhooks: build looks the target up and makes the event under the
// state lock (failing with the action's own error, a 404 say), then the
// hooks run without the lock, since they wait on HTTP. A hook's rejection
// is returned and the action must not happen.
func (s *Server) preHook(c *call, build func() (event, error)) error {
	if !c.webhooksEnabled() {
		return nil
	}
	s.mu.Lock()
	ev, err := build()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = s.runPreHooks(c.r.Context(), ev)
	return err
}

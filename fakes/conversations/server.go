package conversations

import (
	"context"
	crand "crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Fixed test credentials, letters and digits only because twilio-go refuses
// anything else client-side (codes 21222/21224).
const (
	DefaultAccountSid = "AC00000000000000000000000000000000"
	DefaultAuthToken  = "faketoken123"
	// DefaultPublicBaseURL is what url, links and paging URLs are built from
	// when Options.PublicBaseURL is empty and the request came to Twilio's host.
	DefaultPublicBaseURL = "https://conversations.twilio.com"
	// MaxBodyBytes is the largest request body the fake accepts.
	MaxBodyBytes = 1 << 20
	// DefaultWebhookTimeout is Twilio's documented webhook ceiling.
	DefaultWebhookTimeout = 5 * time.Second
	// DefaultTimerInterval is how often due conversation timers fire; their
	// durations are ISO 8601, in whole seconds at the finest.
	DefaultTimerInterval = time.Second
)

// Options configures a [Server]. The zero value is usable.
type Options struct {
	// Listen is the TCP address to serve on; default 127.0.0.1:0.
	Listen string
	// AccountSid and AuthToken are the credentials that Basic auth accepts
	// and that sign webhooks; defaults DefaultAccountSid and DefaultAuthToken.
	AccountSid string
	AuthToken  string
	// APIKeys maps extra API key SIDs (SK…) to their secrets.
	APIKeys map[string]string
	// StudioURL is the base URL that target=studio deliveries are posted to,
	// as {StudioURL}/v1/Accounts/{AccountSid}/Flows/{FlowSid}.
	StudioURL string
	// Seed makes SIDs deterministic; 0 picks a random seed.
	Seed uint64
	// Clock returns the current time; default time.Now.
	Clock func() time.Time
	// Logger receives request and webhook logs; default discards them.
	Logger *slog.Logger
	// PublicBaseURL is used in url, links and paging URLs. When empty, the
	// fake uses https://conversations.twilio.com for requests whose Host is
	// Twilio's (SDK transports that rewrite only the dial address) and
	// http://{Host} otherwise, so next_page_url always leads back here.
	PublicBaseURL string
	// WebhookTimeout bounds each webhook attempt; default 5 s.
	WebhookTimeout time.Duration
	// TimerInterval is how often a listening fake fires the conversation
	// timers that are due by Clock (see FireTimers); default 1 s.
	TimerInterval time.Duration
}

// Server is a running fake of the Conversations REST API.
type Server struct {
	opts    Options
	log     *slog.Logger
	clock   func() time.Time
	handler http.Handler

	mu    sync.Mutex // guards st and deliv
	st    *state
	deliv *dispatcher

	rec    recorder
	faults faultSet

	ln  net.Listener
	srv *http.Server
	url string

	// stopTimers ends the loop that fires due timers; closed once.
	stopTimers     chan struct{}
	stopTimersOnce sync.Once
}

// NewServer starts a fake listening on opts.Listen.
func NewServer(opts Options) (*Server, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	if s.opts.Listen == "" {
		s.opts.Listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	s.serve(ln)
	return s, nil
}

// newServer builds a Server without a listener.
func newServer(opts Options) (*Server, error) {
	if opts.AccountSid == "" {
		opts.AccountSid = DefaultAccountSid
	}
	if opts.AuthToken == "" {
		opts.AuthToken = DefaultAuthToken
	}
	if !validSid("AC", opts.AccountSid) {
		return nil, fmt.Errorf("account SID %q is not AC followed by 32 hex digits", opts.AccountSid)
	}
	for k := range opts.APIKeys {
		if !validSid("SK", k) {
			return nil, fmt.Errorf("API key %q is not SK followed by 32 hex digits", k)
		}
	}
	if opts.StudioURL != "" {
		if u, err := url.Parse(opts.StudioURL); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("studio URL %q is not an absolute URL", opts.StudioURL)
		}
	}
	if opts.Seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		opts.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = DefaultWebhookTimeout
	}
	if opts.TimerInterval <= 0 {
		opts.TimerInterval = DefaultTimerInterval
	}
	s := &Server{opts: opts, log: opts.Logger, clock: opts.Clock, stopTimers: make(chan struct{})}
	s.st = s.newState()
	s.faults.rng = newFaultRand(opts.Seed)
	s.deliv = newDispatcher(s)
	s.handler = s.routes()
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute, // room for injected latency faults
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.srv.Serve(ln) }()
	go s.fireTimersEvery(s.opts.TimerInterval)
}

// newState returns an empty state whose timers emit
// onConversationStateUpdated.
func (s *Server) newState() *state {
	st := newState(s.opts.Seed, s.opts.AccountSid, s.now())
	st.onTimer = s.emitTimerLocked
	return st
}

// emitTimerLocked queues the onConversationStateUpdated webhooks of a state
// change made by one of c's timers. Unlike a REST request's events, a
// timer's need no X-Twilio-Webhook-Enabled: nothing asked for the change.
func (s *Server) emitTimerLocked(c *conversation, from string) {
	s.emitLocked(s.stateUpdatedEvent(c, from, "TIMER"))
}

// FireTimers applies every conversation timer due by the fake's clock:
// active conversations past their inactive timer become inactive, and
// those past their closed timer closed, each change with its
// onConversationStateUpdated webhook (Reason TIMER). It returns how many
// changes this call made. A listening fake calls it every
// Options.TimerInterval; a test that moves its Clock can call it to have
// the webhooks sent at once. Reads apply due timers too, without waiting.
func (s *Server) FireTimers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// In SID order, so that a seeded fake fires the same way every run.
	sids := slices.Sorted(maps.Keys(s.st.timed))
	n := 0
	for _, sid := range sids {
		n += s.st.applyTimers(s.st.timed[sid], now)
	}
	return n
}

// fireTimersEvery calls FireTimers every interval until Close or Shutdown.
func (s *Server) fireTimersEvery(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stopTimers:
			return
		case <-t.C:
			s.FireTimers()
		}
	}
}

// now is the fake's clock truncated to seconds, the resolution of the wire format.
func (s *Server) now() time.Time { return s.clock().UTC().Truncate(time.Second) }

// URL is the fake's base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handler serves the fake's API in-process (for httptest or a custom listener).
func (s *Server) Handler() http.Handler { return s.handler }

// AccountSid and AuthToken are the credentials the fake accepts.
func (s *Server) AccountSid() string { return s.opts.AccountSid }

// AuthToken is the token that authenticates requests and signs webhooks.
func (s *Server) AuthToken() string { return s.opts.AuthToken }

// HTTPClient returns a client whose requests, whatever their URL
// (https://conversations.twilio.com/… included), are sent to this fake. The
// Host header is kept, so url and links come back on Twilio's host.
func (s *Server) HTTPClient() *http.Client {
	target, _ := url.Parse(s.url)
	return &http.Client{Transport: &RewriteTransport{Target: target}, Timeout: 30 * time.Second}
}

// RewriteTransport sends every request to Target's scheme and host, keeping
// the path, query and Host header: how twilio-go is pointed at the fake.
type RewriteTransport struct {
	Target *url.URL
	// Base is the transport used; default http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements [http.RoundTripper].
func (t *RewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = t.Target.Scheme, t.Target.Host
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// Close stops the listener, waits for in-flight requests (at most 5 s) and
// stops webhook delivery.
func (s *Server) Close() error {
	var err error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = s.srv.Close()
		}
	}
	s.stopTimersOnce.Do(func() { close(s.stopTimers) })
	s.dispatcher().stop()
	return err
}

// Shutdown stops the server gracefully within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.stopTimersOnce.Do(func() { close(s.stopTimers) })
	s.dispatcher().stop()
	return err
}

// Reset forgets everything: conversations, configuration, outbox, recorded
// requests and webhook attempts, injected faults. Pending webhook deliveries
// are abandoned. SIDs start again from the seed, so a reset fake hands out
// the same SIDs as a fresh one.
func (s *Server) Reset() {
	s.mu.Lock()
	old := s.deliv
	s.st = s.newState()
	s.deliv = newDispatcher(s)
	s.mu.Unlock()
	// Stopped outside the lock: running deliveries finish without s.mu.
	old.stop()
	s.rec.reset()
	s.faults.clear()
}

// dispatcher returns the current webhook dispatcher; Reset replaces it.
func (s *Server) dispatcher() *dispatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliv
}

// authenticate checks Basic auth: account SID + auth token, or an API key + secret.
func (s *Server) authenticate(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	if eq(user, s.opts.AccountSid) {
		return eq(pass, s.opts.AuthToken)
	}
	if secret, ok := s.opts.APIKeys[user]; ok {
		return eq(pass, secret)
	}
	return false
}

// DefaultServiceSid is the SID of the default Conversation Service (IS…).
func (s *Server) DefaultServiceSid() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.defaultService
}

// Conversations returns every conversation in creation order.
func (s *Server) Conversations() []Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]Conversation, 0, len(s.st.convOrder))
	for _, sid := range s.st.convOrder {
		c := s.st.conversations[sid]
		s.st.applyTimers(c, now)
		out = append(out, c.Conversation)
	}
	return out
}

// Conversation returns one conversation by CH sid.
func (s *Server) Conversation(sid string) (Conversation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.conversations[sid]
	if !ok {
		return Conversation{}, false
	}
	s.st.applyTimers(c, s.now())
	return c.Conversation, true
}

// Participants returns the participants of conversation chSid.
func (s *Server) Participants(chSid string) []Participant {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.conversations[chSid]
	if !ok {
		return nil
	}
	out := make([]Participant, len(c.participants))
	for i, p := range c.participants {
		out[i] = p.clone()
	}
	return out
}

// Messages returns the messages of conversation chSid in index order.
func (s *Server) Messages(chSid string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.conversations[chSid]
	if !ok {
		return nil
	}
	out := make([]Message, len(c.messages))
	for i, m := range c.messages {
		out[i] = m.clone()
	}
	return out
}

// ScopedWebhooks returns the conversation-scoped webhooks of chSid.
func (s *Server) ScopedWebhooks(chSid string) []ScopedWebhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.conversations[chSid]
	if !ok {
		return nil
	}
	out := make([]ScopedWebhook, len(c.webhooks))
	for i, w := range c.webhooks {
		out[i] = w.clone()
	}
	return out
}

// AddressConfigurations returns every address configuration.
func (s *Server) AddressConfigurations() []AddressConfiguration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AddressConfiguration, 0, len(s.st.addressOrder))
	for _, sid := range s.st.addressOrder {
		out = append(out, s.st.addresses[sid].clone())
	}
	return out
}

// OutboxFilter selects outbound messages; empty fields match everything.
type OutboxFilter struct {
	// Address matches the recipient (To) or the sender (From).
	Address         string
	ConversationSid string
}

// Outbox returns the outbound SMS/WhatsApp messages matching f, oldest first.
func (s *Server) Outbox(f OutboxFilter) []OutboundMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []OutboundMessage
	for _, m := range s.st.outbox {
		if f.Address != "" && m.To != f.Address && m.From != f.Address {
			continue
		}
		if f.ConversationSid != "" && m.ConversationSid != f.ConversationSid {
			continue
		}
		m.Media = slices.Clone(m.Media)
		out = append(out, m)
	}
	return out
}

// WebhookAttempts returns every webhook delivery attempt, oldest first.
func (s *Server) WebhookAttempts() []WebhookAttempt { return s.rec.attempts() }

// Requests returns the API requests received (the newest 10,000), oldest first.
func (s *Server) Requests() []RecordedRequest { return s.rec.requests() }

// WaitWebhooks blocks until every queued webhook delivery has finished or ctx ends.
func (s *Server) WaitWebhooks(ctx context.Context) error { return s.dispatcher().wait(ctx) }

package runner_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	conversationsv1 "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/internal/pgtest"
	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
	"github.com/convoflow/convoflow/services/flow/store/postgres"
	"github.com/convoflow/convoflow/services/flow/store/sqlite"
)

// Addresses of the simulated SMS side.
const (
	customer = "+15551230001"
	agentSMS = "+15551230002"
	proxy    = "+15550001111"
)

// functionsHost is the run-function host of the support-agent export, mapped
// to a test handler with Config.FunctionMap.
const functionsHost = "https://support-1234-dev.twil.io"

type harnessOptions struct {
	timerInterval time.Duration
	// wrap decorates the Conversations messenger (failure simulations).
	wrap func(engine.Messenger) engine.Messenger
	// wrapStore decorates the store the runner uses (crash simulations);
	// the harness inspects the real one.
	wrapStore func(store.Store) store.Store
	clock     func() time.Time
	// leaseTTL and rescan shorten takeovers of dead replicas' queues.
	leaseTTL, rescan time.Duration
	// onFunction runs in every run-function call before it answers.
	onFunction func()
	// postgres runs the harness on PostgreSQL (a schema of its own)
	// instead of an SQLite file.
	postgres bool
}

// harness runs a Runner on a SQLite file against the Conversations fake,
// with the fake's studio webhooks delivered to the runner by a small
// receiver, and run-function calls answered by a test handler.
type harness struct {
	t    testing.TB
	opts harnessOptions
	fake *conversations.Server
	rc   *twilio.RestClient
	// dbPath is the SQLite file, dsn the PostgreSQL schema's DSN: the one
	// the options chose.
	dbPath, dsn string

	st   store.Store
	r    atomic.Pointer[runner.Runner]
	stop func()

	studio *httptest.Server
	fn     *httptest.Server

	mu           sync.Mutex
	fnCalls      []map[string]string
	dispositions []runner.Disposition
}

func newHarness(tb testing.TB, opts harnessOptions) *harness {
	tb.Helper()
	if opts.timerInterval == 0 {
		opts.timerInterval = 20 * time.Millisecond
	}
	h := &harness{t: tb, opts: opts}
	if opts.postgres {
		h.dsn = pgtest.NewSchema(tb)
	} else {
		h.dbPath = filepath.Join(tb.TempDir(), "flow.db")
	}
	h.studio = httptest.NewServer(http.HandlerFunc(h.receiveStudio))
	tb.Cleanup(h.studio.Close)
	h.fn = httptest.NewServer(http.HandlerFunc(h.receiveFunction))
	tb.Cleanup(h.fn.Close)
	fake, err := conversations.NewServer(conversations.Options{StudioURL: h.studio.URL})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fake.Close() })
	h.fake = fake
	h.rc, err = twilioclient.New(twilioclient.Options{AccountSID: fake.AccountSid(), AuthToken: fake.AuthToken(), BaseURL: fake.URL()})
	if err != nil {
		tb.Fatal(err)
	}
	h.start()
	tb.Cleanup(h.shutdown)
	return h
}

func (h *harness) runner() *runner.Runner { return h.r.Load() }

// openStore opens another store on the harness's database, as another
// process (a replica, or the service restarted) would.
func (h *harness) openStore() store.Store {
	h.t.Helper()
	var st store.Store
	var err error
	if h.dsn != "" {
		st, err = postgres.Open(context.Background(), h.dsn, postgres.Options{Logger: slog.New(slog.DiscardHandler)})
	} else {
		st, err = sqlite.Open(context.Background(), h.dbPath, sqlite.Options{})
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// start opens the store and starts a runner on it.
func (h *harness) start() {
	h.t.Helper()
	st := h.openStore()
	var rst store.Store = st
	if h.opts.wrapStore != nil {
		rst = h.opts.wrapStore(st)
	}
	cfg := runner.Config{
		Store: rst, Clock: h.opts.clock, AccountSid: h.fake.AccountSid(), AuthToken: h.fake.AuthToken(), ConversationsURL: h.fake.URL(),
		FunctionMap:   []string{functionsHost + "=" + h.fn.URL + "/functions"},
		TimerInterval: h.opts.timerInterval, LeaseTTL: h.opts.leaseTTL, RescanInterval: h.opts.rescan,
		Owner: "replica-" + randomHex(4),
	}
	if h.opts.wrap != nil {
		client, err := twilioclient.New(twilioclient.Options{AccountSID: h.fake.AccountSid(), AuthToken: h.fake.AuthToken(), BaseURL: h.fake.URL()})
		if err != nil {
			h.t.Fatal(err)
		}
		cfg.Messenger = h.opts.wrap(runner.NewTwilioMessenger(client, runner.DefaultMessageAuthor))
	}
	r, err := runner.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	h.st = st
	h.r.Store(r)
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Start: %v", err)
		}
		if err := st.Close(); err != nil {
			h.t.Errorf("closing the store: %v", err)
		}
	}
}

func (h *harness) shutdown() {
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// restart stops the runner, closes the store, and starts a new runner on
// the same file, as a process restart would.
func (h *harness) restart() {
	h.t.Helper()
	h.shutdown()
	h.start()
}

// receiveStudio is the studio webhook receiver: what FlowService's webhook
// handler does after checking the signature.
func (h *harness) receiveStudio(w http.ResponseWriter, req *http.Request) {
	if err := req.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	f := req.PostForm.Get
	index, _ := strconv.Atoi(f("Index"))
	created, _ := time.Parse(time.RFC3339, f("DateCreated"))
	ev := runner.ConversationEvent{
		FlowSid: parts[len(parts)-1], IdempotencyToken: req.Header.Get("I-Twilio-Idempotency-Token"),
		AccountSid: f("AccountSid"), ChatServiceSid: f("ChatServiceSid"), ConversationSid: f("ConversationSid"),
		MessageSid: f("MessageSid"), MessagingServiceSid: f("MessagingServiceSid"), ParticipantSid: f("ParticipantSid"),
		Author: f("Author"), Body: f("Body"), Attributes: f("Attributes"), Media: f("Media"), Source: f("Source"),
		Index: index, DateCreated: created,
	}
	d, err := h.runner().HandleConversationEvent(req.Context(), ev)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h.mu.Lock()
	h.dispositions = append(h.dispositions, d)
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *harness) receiveFunction(w http.ResponseWriter, req *http.Request) {
	if err := req.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if h.opts.onFunction != nil {
		h.opts.onFunction()
	}
	call := map[string]string{"path": req.URL.Path}
	for k := range req.Form {
		call[k] = req.Form.Get(k)
	}
	h.mu.Lock()
	h.fnCalls = append(h.fnCalls, call)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"added":true}`))
}

func (h *harness) functionCalls() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]string(nil), h.fnCalls...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newSID(prefix string) string { return prefix + randomHex(16) }

// createFlow stores a published flow and returns its SID.
func (h *harness) createFlow(def []byte) string {
	h.t.Helper()
	sid := newSID(store.PrefixFlow)
	if _, err := h.st.CreateFlow(context.Background(), store.Flow{SID: sid, FriendlyName: "test", Status: store.FlowStatusPublished, Definition: def, Valid: true}); err != nil {
		h.t.Fatal(err)
	}
	return sid
}

// createDraftFlow stores a flow that was never published and returns its SID.
func (h *harness) createDraftFlow(def []byte) string {
	h.t.Helper()
	sid := newSID(store.PrefixFlow)
	if _, err := h.st.CreateFlow(context.Background(), store.Flow{SID: sid, FriendlyName: "draft", Status: store.FlowStatusDraft, Definition: def, Valid: true}); err != nil {
		h.t.Fatal(err)
	}
	return sid
}

// updateFlow saves a new published revision.
func (h *harness) updateFlow(sid string, def []byte) {
	h.t.Helper()
	if _, err := h.st.UpdateFlow(context.Background(), store.FlowUpdate{SID: sid, FriendlyName: "test", Status: store.FlowStatusPublished, Definition: def, Valid: true}); err != nil {
		h.t.Fatal(err)
	}
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// waitFlow is testdata/wait-reply.json with the given timeout in seconds.
func waitFlow(tb testing.TB, timeout string) []byte {
	return []byte(strings.Replace(string(readFile(tb, "testdata/wait-reply.json")), "TIMEOUT", timeout, 1))
}

// conversation creates a conversation with the customer as SMS participant
// and, when flowSid is set, the flow attached as a studio webhook.
func (h *harness) conversation(flowSid, attributes string) string {
	h.t.Helper()
	return h.conversationWith(flowSid, attributes, customer)
}

// conversationWith is conversation with another customer address.
func (h *harness) conversationWith(flowSid, attributes, customer string) string {
	h.t.Helper()
	p := &conversationsv1.CreateConversationParams{}
	if attributes != "" {
		p.SetAttributes(attributes)
	}
	c, err := h.rc.ConversationsV1.CreateConversation(p)
	if err != nil {
		h.t.Fatal(err)
	}
	ch := *c.Sid
	pp := &conversationsv1.CreateConversationParticipantParams{}
	pp.SetMessagingBindingAddress(customer)
	pp.SetMessagingBindingProxyAddress(proxy)
	if _, err := h.rc.ConversationsV1.CreateConversationParticipant(ch, pp); err != nil {
		h.t.Fatal(err)
	}
	if flowSid != "" {
		wp := &conversationsv1.CreateConversationScopedWebhookParams{}
		wp.SetTarget("studio")
		wp.SetConfigurationFlowSid(flowSid)
		if _, err := h.rc.ConversationsV1.CreateConversationScopedWebhook(ch, wp); err != nil {
			h.t.Fatal(err)
		}
	}
	return ch
}

// addAgent adds a second, chat participant.
func (h *harness) addAgent(ch, identity string) {
	h.t.Helper()
	pp := &conversationsv1.CreateConversationParticipantParams{}
	pp.SetIdentity(identity)
	if _, err := h.rc.ConversationsV1.CreateConversationParticipant(ch, pp); err != nil {
		h.t.Fatal(err)
	}
}

// text simulates the customer texting body, and waits until the runner has
// processed what it was delivered.
func (h *harness) text(ch, body string) conversations.InboundResult {
	h.t.Helper()
	return h.textFrom(ch, customer, body)
}

// textFrom is text from another customer address.
func (h *harness) textFrom(ch, from, body string) conversations.InboundResult {
	h.t.Helper()
	res, err := h.fake.Inbound(context.Background(), conversations.InboundMessage{From: from, To: proxy, Body: body})
	if err != nil {
		h.t.Fatal(err)
	}
	if res.ConversationSid != ch {
		h.t.Fatalf("the message went to %s, not %s", res.ConversationSid, ch)
	}
	h.settle(ch)
	return res
}

// post writes a message as a chat participant through the REST API with
// webhooks enabled (as a client SDK message would fire them).
func (h *harness) post(ch, author, body string) {
	h.t.Helper()
	p := &conversationsv1.CreateConversationMessageParams{}
	p.SetAuthor(author)
	p.SetBody(body)
	p.SetXTwilioWebhookEnabled("true")
	if _, err := h.rc.ConversationsV1.CreateConversationMessage(ch, p); err != nil {
		h.t.Fatal(err)
	}
	h.settle(ch)
}

// settle waits for the fake's webhooks and the runner's processing.
func (h *harness) settle(ch string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.fake.WaitWebhooks(ctx); err != nil {
		h.t.Fatal(err)
	}
	if err := h.runner().WaitIdle(ctx, ch); err != nil {
		h.t.Fatal(err)
	}
}

// executions lists a flow's executions, newest first.
func (h *harness) executions(flowSid string) []store.Execution {
	h.t.Helper()
	page, err := h.st.ListExecutions(context.Background(), store.ListExecutionsParams{FlowSID: flowSid})
	if err != nil {
		h.t.Fatal(err)
	}
	return page.Executions
}

// only returns the flow's single execution.
func (h *harness) only(flowSid string) store.Execution {
	h.t.Helper()
	xs := h.executions(flowSid)
	if len(xs) != 1 {
		h.t.Fatalf("%d executions, want 1: %+v", len(xs), xs)
	}
	return xs[0]
}

// path is a step's "from>to" for compact comparisons.
func (h *harness) path(executionSid string) []string {
	h.t.Helper()
	page, err := h.st.ListSteps(context.Background(), executionSid, store.PageParams{PageSize: store.MaxPageSize})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, s := range page.Steps {
		out = append(out, s.TransitionedFrom+">"+s.TransitionedTo)
	}
	return out
}

// bodies lists the bodies of the conversation's messages.
func (h *harness) bodies(ch string) []string {
	var out []string
	for _, m := range h.fake.Messages(ch) {
		out = append(out, m.Author+": "+m.Body)
	}
	return out
}

// eventually polls cond until it holds or 10 s passed.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errSimulatedCrash = errors.New("simulated crash after the send")

// faultyStore fails chosen commits: fail is called after a transaction's
// function succeeded, with a key naming the engine result it commits
// ("<execution SID>/<first step sequence>", "" for transactions without
// steps); an error rolls the transaction back as a crash before the commit
// would.
type faultyStore struct {
	store.Store
	fail func(commit string) error
}

func (s *faultyStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.InTx(ctx, func(tx store.Tx) error {
		w := &stepSpy{Tx: tx}
		if err := fn(w); err != nil {
			return err
		}
		return s.fail(w.key)
	})
}

type stepSpy struct {
	store.Tx
	key string
}

func (w *stepSpy) AppendStep(ctx context.Context, st store.Step) (store.Step, error) {
	if w.key == "" {
		w.key = st.ExecutionSID + "/" + strconv.FormatInt(st.Sequence, 10)
	}
	return w.Tx.AppendStep(ctx, st)
}

func (w *stepSpy) AppendStepsLater(ctx context.Context, steps []store.Step) error {
	if w.key == "" && len(steps) > 0 {
		w.key = steps[0].ExecutionSID + "/" + strconv.FormatInt(steps[0].Sequence, 10)
	}
	return w.Tx.AppendStepsLater(ctx, steps)
}

// eachStore runs test once on SQLite and once on PostgreSQL, in parallel
// subtests; test builds its harness with harnessOptions.postgres = pg.
func eachStore(t *testing.T, test func(t *testing.T, pg bool)) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, pg)
		})
	}
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

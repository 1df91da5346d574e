package flow

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	convapi "github.com/twilio/twilio-go/rest/conversations/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/convoflow/convoflow/fakes/conversations"
	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/internal/shared"
	"github.com/convoflow/convoflow/internal/twilioclient"
)

const (
	proxyNumber = "+15550000000"
	customer    = "+15551230001"
	colleague   = "+15551230002"
)

// stack is flowservice wired to the Conversations fake as in production:
// the fake posts target=studio webhooks to the service's public URL (a
// reverse proxy in front of it, so the public URL differs from the
// address it listens on, and the service can restart on a new port) and
// the service calls the fake's REST API through twilio-go.
type stack struct {
	fake      *conversations.Server
	api       *twilio.RestClient
	publicURL string
	svc       *testService
	db        string
	target    atomic.Pointer[url.URL]
	// functionCalls records the form of every call to the support-agent
	// Function.
	mu            sync.Mutex
	functionCalls []url.Values
	// traceparents are the W3C traceparent headers of the Function calls.
	traceparents []string
	functionURL  string
	// env is more environment for the service (see serviceOptions).
	env map[string]string
}

func startStack(tb testing.TB) *stack { return startStackWith(tb, nil) }

// startStackWith is startStack with more environment for the service.
func startStackWith(tb testing.TB, env map[string]string) *stack {
	tb.Helper()
	s := &stack{env: env}
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(s.target.Load())
		r.Out.Host = r.In.Host
	}})
	tb.Cleanup(proxy.Close)
	s.publicURL = proxy.URL
	fake, err := conversations.NewServer(conversations.Options{StudioURL: proxy.URL})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = fake.Close() })
	s.fake = fake
	s.api, err = twilioclient.New(twilioclient.Options{AccountSID: fake.AccountSid(), AuthToken: fake.AuthToken(), BaseURL: fake.URL()})
	if err != nil {
		tb.Fatal(err)
	}
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A protected Function: FlowService signs as Twilio does, for the
		// URL it calls (the --function-map target).
		body, _ := io.ReadAll(r.Body)
		v := client.NewRequestValidator(fake.AuthToken())
		if !v.ValidateBody(strings.TrimSuffix(s.functionURL, "/functions")+r.URL.Path, body, r.Header.Get("X-Twilio-Signature")) {
			http.Error(w, "bad X-Twilio-Signature", http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.URL.Path != "/functions/add-support-agent" {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		s.functionCalls = append(s.functionCalls, r.Form)
		s.traceparents = append(s.traceparents, r.Header.Get("Traceparent"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"participant_sid":"MB00000000000000000000000000000001"}`))
	}))
	tb.Cleanup(fn.Close)
	s.functionURL = fn.URL + "/functions"
	s.db = tb.TempDir() + "/flow.db"
	s.start(tb)
	return s
}

// start (re)starts flowservice on the stack's database.
func (s *stack) start(tb testing.TB) {
	tb.Helper()
	s.svc = startService(tb, serviceOptions{
		db: s.db, conversationsURL: s.fake.URL(), authToken: s.fake.AuthToken(), env: s.env,
		args: []string{"--public-url", s.publicURL, "--function-map", "https://support-1234-dev.twil.io=" + s.functionURL},
	})
	u, err := url.Parse(s.svc.url)
	if err != nil {
		tb.Fatal(err)
	}
	s.target.Store(u)
}

// conversation creates a conversation with the customer and the colleague
// as SMS participants, attached to the flow with a studio webhook.
func (s *stack) conversation(tb testing.TB, flowSid, customer, colleague string) string {
	tb.Helper()
	api := s.api.ConversationsV1
	c, err := api.CreateConversation(nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, addr := range []string{customer, colleague} {
		if _, err := api.CreateConversationParticipant(*c.Sid, (&convapi.CreateConversationParticipantParams{}).
			SetMessagingBindingAddress(addr).SetMessagingBindingProxyAddress(proxyNumber)); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := api.CreateConversationScopedWebhook(*c.Sid, (&convapi.CreateConversationScopedWebhookParams{}).
		SetTarget("studio").SetConfigurationFlowSid(flowSid)); err != nil {
		tb.Fatal(err)
	}
	return *c.Sid
}

// text simulates an SMS from a participant and waits until the service
// has answered the webhook (the event is recorded).
func (s *stack) text(tb testing.TB, from, body string) conversations.InboundResult {
	tb.Helper()
	res, err := s.fake.Inbound(tb.Context(), conversations.InboundMessage{From: from, To: proxyNumber, Body: body})
	if err != nil {
		tb.Fatalf("inbound %q from %s: %v", body, from, err)
	}
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	if err := s.fake.WaitWebhooks(ctx); err != nil {
		tb.Fatalf("webhooks: %v", err)
	}
	return res
}

// deploy creates a published flow from a definition.
func deploy(tb testing.TB, c flowClient, name string, def *structpb.Struct) string {
	tb.Helper()
	resp, err := c.CreateFlow(tb.Context(), &flowv1.CreateFlowRequest{FriendlyName: name, Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: def})
	if err != nil {
		tb.Fatalf("CreateFlow %s: %v", name, err)
	}
	return resp.GetFlow().GetSid()
}

// executionIn waits until the flow's execution in the conversation
// satisfies ok and returns it.
func executionIn(tb testing.TB, c flowClient, flowSid, conversationSid string, ok func(*flowv1.Execution) bool) *flowv1.Execution {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last []*flowv1.Execution
	for time.Now().Before(deadline) {
		resp, err := c.ListExecutions(tb.Context(), &flowv1.ListExecutionsRequest{FlowSid: flowSid})
		if err != nil {
			tb.Fatalf("ListExecutions: %v", err)
		}
		last = resp.GetExecutions()
		for _, e := range last {
			if e.GetConversationSid() == conversationSid && ok(e) {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("no matching execution of %s in %s; have %v", flowSid, conversationSid, last)
	return nil
}

func ended(e *flowv1.Execution) bool {
	return e.GetStatus() == flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED
}

// waiting reports an active execution that has reached the named widget.
func waitingIn(tb testing.TB, c flowClient, flowSid, widget string) func(*flowv1.Execution) bool {
	return func(e *flowv1.Execution) bool {
		if e.GetStatus() != flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE {
			return false
		}
		steps := stepsOf(tb, c, flowSid, e.GetSid())
		return len(steps) > 0 && steps[len(steps)-1].GetTransitionedTo() == widget
	}
}

func stepsOf(tb testing.TB, c flowClient, flowSid, execSid string) []*flowv1.ExecutionStep {
	tb.Helper()
	resp, err := c.ListExecutionSteps(tb.Context(), &flowv1.ListExecutionStepsRequest{FlowSid: flowSid, ExecutionSid: execSid})
	if err != nil {
		tb.Fatalf("ListExecutionSteps: %v", err)
	}
	return resp.GetSteps()
}

// path renders steps as "name:from->to" for comparison.
func path(steps []*flowv1.ExecutionStep) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.GetName()+":"+s.GetTransitionedFrom()+"->"+s.GetTransitionedTo())
	}
	return out
}

// smsBodies returns the bodies the fake "sent" to addr in the conversation.
func (s *stack) smsBodies(addr, conversationSid string) []string {
	var out []string
	for _, m := range s.fake.Outbox(conversations.OutboxFilter{ConversationSid: conversationSid}) {
		if m.To == addr {
			out = append(out, m.Body)
		}
	}
	return out
}

func readShared(tb testing.TB, rel string) *structpb.Struct {
	tb.Helper()
	b, err := os.ReadFile(shared.Path(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	return mustStruct(tb, string(b))
}

func TestE2E_supportAgent(t *testing.T) {
	t.Parallel()
	def := readShared(t, "flows/support-agent.json")
	s := startStack(t)
	c := s.svc.clients[0]
	flowSid := deploy(t, c, "support agent", def)

	ch := s.conversation(t, flowSid, customer, colleague)
	s.text(t, customer, "support")
	e := executionIn(t, c, flowSid, ch, ended)
	if e.GetEndedReason() != flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_FLOW_END || e.GetContactChannelAddress() != customer || e.GetFlowRevision() != 1 {
		t.Errorf("execution = %v", e)
	}
	checkSteps(t, "support-agent", stepsOf(t, c, flowSid, e.GetSid()))
	s.mu.Lock()
	calls := slices.Clone(s.functionCalls)
	s.mu.Unlock()
	if len(calls) != 1 || calls[0].Get("conversationID") != ch {
		t.Errorf("function calls = %v, want one with conversationID=%s", calls, ch)
	}
	for _, addr := range []string{customer, colleague} {
		if got := s.smsBodies(addr, ch); !slices.Contains(got, "Added support agent") {
			t.Errorf("SMS to %s = %q, want \"Added support agent\"", addr, got)
		}
	}
	// The message the flow posted fired no webhook back into the flow.
	if n := len(executionsOf(t, c, flowSid)); n != 1 {
		t.Errorf("%d executions, want 1", n)
	}

	// "hello" in another conversation ends at noMatch without a message.
	ch2 := s.conversation(t, flowSid, "+15551230003", "+15551230004")
	s.text(t, "+15551230003", "hello")
	e2 := executionIn(t, c, flowSid, ch2, ended)
	checkSteps(t, "support-agent-hello", stepsOf(t, c, flowSid, e2.GetSid()))
	if got := s.smsBodies("+15551230004", ch2); len(got) != 1 || got[0] != "hello" {
		t.Errorf("SMS to the colleague = %q, want only the customer's hello", got)
	}
}

func executionsOf(tb testing.TB, c flowClient, flowSid string) []*flowv1.Execution {
	tb.Helper()
	resp, err := c.ListExecutions(tb.Context(), &flowv1.ListExecutionsRequest{FlowSid: flowSid})
	if err != nil {
		tb.Fatal(err)
	}
	return resp.GetExecutions()
}

// waitDefinition is testdata/flows/wait.json with the given reply timeout.
func waitDefinition(tb testing.TB, timeout string) *structpb.Struct {
	tb.Helper()
	b, err := os.ReadFile("testdata/flows/wait.json")
	if err != nil {
		tb.Fatal(err)
	}
	return mustStruct(tb, strings.Replace(string(b), `"timeout": "10"`, `"timeout": "`+timeout+`"`, 1))
}

func TestE2E_sendAndWait(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	c := s.svc.clients[1]
	flowSid := deploy(t, c, "wait", waitDefinition(t, "3600"))

	t.Run("reply_from_second_participant", func(t *testing.T) {
		ch := s.conversation(t, flowSid, "+15551240001", "+15551240002")
		s.text(t, "+15551240001", "hi")
		e := executionIn(t, c, flowSid, ch, waitingIn(t, c, flowSid, "ask"))
		s.text(t, "+15551240002", "42")
		e = executionIn(t, c, flowSid, ch, ended)
		checkSteps(t, "wait-reply", stepsOf(t, c, flowSid, e.GetSid()))
		for _, addr := range []string{"+15551240001", "+15551240002"} {
			if got := s.smsBodies(addr, ch); !slices.Contains(got, "Got 42 from +15551240002") {
				t.Errorf("SMS to %s = %q, want the confirmation", addr, got)
			}
		}
		// The step context holds what the widget recorded.
		steps := stepsOf(t, c, flowSid, e.GetSid())
		sc, err := c.GetExecutionStepContext(t.Context(), &flowv1.GetExecutionStepContextRequest{FlowSid: flowSid, ExecutionSid: e.GetSid(), StepSid: steps[1].GetSid()})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sc.GetContext().String(), "42") {
			t.Errorf("step context %v lacks the reply", sc.GetContext())
		}
	})

	t.Run("restart_while_waiting", func(t *testing.T) {
		ch := s.conversation(t, flowSid, "+15551250001", "+15551250002")
		s.text(t, "+15551250001", "hi")
		waiting := executionIn(t, c, flowSid, ch, waitingIn(t, c, flowSid, "ask"))
		if err := s.svc.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		s.start(t)
		c2 := s.svc.clients[0]
		s.text(t, "+15551250001", "7")
		e := executionIn(t, c2, flowSid, ch, ended)
		if e.GetSid() != waiting.GetSid() {
			t.Errorf("execution %s ended, want the one waiting before the restart (%s)", e.GetSid(), waiting.GetSid())
		}
		if got := s.smsBodies("+15551250001", ch); !slices.Contains(got, "Got 7 from +15551250001") {
			t.Errorf("SMS = %q, want the confirmation", got)
		}
		c = c2
	})
}

func TestE2E_timeout(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	c := s.svc.clients[0]
	flowSid := deploy(t, c, "wait 1s", waitDefinition(t, "1"))
	ch := s.conversation(t, flowSid, customer, colleague)
	s.text(t, customer, "hi")
	e := executionIn(t, c, flowSid, ch, ended)
	checkSteps(t, "wait-timeout", stepsOf(t, c, flowSid, e.GetSid()))
	if got := s.smsBodies(customer, ch); !slices.Contains(got, "No answer, bye") {
		t.Errorf("SMS = %q, want the timeout message", got)
	}
}

func TestE2E_webhookSecurityAndRedelivery(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	c := s.svc.clients[0]
	flowSid := deploy(t, c, "echo", testdataStruct(t, "flows/echo.json"))
	ch := s.conversation(t, flowSid, customer, colleague)
	s.text(t, customer, "first")
	e := executionIn(t, c, flowSid, ch, ended)
	stepsBefore := path(stepsOf(t, c, flowSid, e.GetSid()))
	outboxBefore := len(s.fake.Outbox(conversations.OutboxFilter{}))

	var studio conversations.WebhookAttempt
	for _, a := range s.fake.WebhookAttempts() {
		if a.Kind == "scoped" && a.ConversationSid == ch && a.Status == http.StatusOK {
			studio = a
		}
	}
	if studio.URL == "" {
		t.Fatalf("no successful studio delivery among %v", s.fake.WebhookAttempts())
	}
	if want := s.publicURL + "/v1/Accounts/" + testAccountSid + "/Flows/" + flowSid; studio.URL != want {
		t.Errorf("delivered to %s, want the flow's webhook_url %s", studio.URL, want)
	}
	post := func(t *testing.T, rawURL string, params url.Values, sig, token string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rawURL, strings.NewReader(params.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		if token != "" {
			req.Header.Set("I-Twilio-Idempotency-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	// A new message nobody has seen, to check that rejected deliveries
	// record nothing.
	fresh := url.Values{}
	for k, v := range studio.Params {
		fresh[k] = slices.Clone(v)
	}
	fresh.Set("MessageSid", "IM0123456789abcdef0123456789abcdef")
	fresh.Set("ConversationSid", "CH0123456789abcdef0123456789abcdef")
	fresh.Set("Body", "forged")
	token := s.fake.AuthToken()
	otherAccount := "AC0123456789abcdef0123456789abcdef"
	otherURL := s.publicURL + "/v1/Accounts/" + otherAccount + "/Flows/" + flowSid
	updated := url.Values{}
	for k, v := range fresh {
		updated[k] = slices.Clone(v)
	}
	updated.Set("EventType", "onMessageUpdated")
	tests := []struct {
		name   string
		url    string
		params url.Values
		sig    string
		token  string
		status int
	}{
		{"redelivery", studio.URL, studio.Params, studio.Signature, studio.IdempotencyToken, http.StatusOK},
		{"redelivery_new_token", studio.URL, studio.Params, studio.Signature, "another-token", http.StatusOK},
		{"forged_signature", studio.URL, fresh, conversations.Signature("not-the-token", studio.URL, fresh), "t1", http.StatusForbidden},
		{"signature_of_other_params", studio.URL, fresh, studio.Signature, "t2", http.StatusForbidden},
		{"missing_signature", studio.URL, fresh, "", "t3", http.StatusForbidden},
		{"signed_for_other_url", studio.URL, fresh, conversations.Signature(token, "http://elsewhere.example/v1/Accounts/"+testAccountSid+"/Flows/"+flowSid, fresh), "t4", http.StatusForbidden},
		{"other_account", otherURL, fresh, conversations.Signature(token, otherURL, fresh), "t5", http.StatusNotFound},
		{"not_message_added", studio.URL, updated, conversations.Signature(token, studio.URL, updated), "t6", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := post(t, tt.url, tt.params, tt.sig, tt.token); got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
		})
	}
	// Anything recorded would be pending or processed by now: wait for the
	// queues to drain, then nothing but the original execution may exist.
	st := s.svc.openStore(t)
	for deadline := time.Now().Add(5 * time.Second); ; {
		pending, err := st.PendingConversations(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("conversations still pending: %v", pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	execs := executionsOf(t, c, flowSid)
	if len(execs) != 1 {
		t.Errorf("executions after rejected and repeated deliveries = %v, want only %s", execs, e.GetSid())
	}
	if diff := cmp.Diff(stepsBefore, path(stepsOf(t, c, flowSid, e.GetSid()))); diff != "" {
		t.Errorf("steps changed (-before +after):\n%s", diff)
	}
	if n := len(s.fake.Outbox(conversations.OutboxFilter{})); n != outboxBefore {
		t.Errorf("outbox grew from %d to %d messages", outboxBefore, n)
	}
}

func TestE2E_handleConversationEvent(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	flowSid := deploy(t, s.svc.clients[0], "echo", testdataStruct(t, "flows/echo.json"))
	for i, c := range s.svc.clients {
		t.Run(c.name, func(t *testing.T) {
			addr := "+1555126000" + string(rune('1'+2*i))
			ch := s.conversation(t, flowSid, addr, "+1555126000"+string(rune('2'+2*i)))
			ev := &flowv1.HandleConversationEventRequest{
				FlowSid: flowSid, IdempotencyToken: "tok-" + c.name, AccountSid: testAccountSid, ConversationSid: ch,
				MessageSid: "IM0123456789abcdef0123456789abcde" + string(rune('0'+i)), Author: addr, Body: "ping", Source: "SMS", Index: 0,
				Attributes: "{}", Media: []*flowv1.Media{{Sid: "ME0123456789abcdef0123456789abcdef", ContentType: "image/png", Size: 10}},
			}
			resp, err := c.HandleConversationEvent(t.Context(), ev)
			if err != nil {
				t.Fatalf("HandleConversationEvent: %v", err)
			}
			if resp.GetDisposition() != flowv1.EventDisposition_EVENT_DISPOSITION_STARTED || !strings.HasPrefix(resp.GetExecutionSid(), "FN") {
				t.Fatalf("first delivery = %v, want STARTED with an execution", resp)
			}
			again, err := c.HandleConversationEvent(t.Context(), ev)
			if err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if again.GetDisposition() != flowv1.EventDisposition_EVENT_DISPOSITION_DUPLICATE || again.GetExecutionSid() != resp.GetExecutionSid() {
				t.Errorf("redelivery = %v, want DUPLICATE of %s", again, resp.GetExecutionSid())
			}
			own, err := c.HandleConversationEvent(t.Context(), &flowv1.HandleConversationEventRequest{
				FlowSid: flowSid, ConversationSid: ch, MessageSid: "IM0123456789abcdef0123456789abcdee", Author: "system", Source: "API", Body: "echo: ping",
			})
			if err != nil {
				t.Fatalf("own message: %v", err)
			}
			if own.GetDisposition() != flowv1.EventDisposition_EVENT_DISPOSITION_IGNORED || own.GetExecutionSid() != "" {
				t.Errorf("own message = %v, want IGNORED", own)
			}
			if got := s.smsBodies(addr, ch); !slices.Contains(got, "echo: ping") {
				t.Errorf("SMS = %q, want the echo", got)
			}
			for _, tt := range []struct {
				name string
				req  *flowv1.HandleConversationEventRequest
				code connect.Code
			}{
				{"unknown_flow", &flowv1.HandleConversationEventRequest{FlowSid: "FW0123456789abcdef0123456789abcdef", ConversationSid: ch, MessageSid: "IM1"}, connect.CodeNotFound},
				{"no_message_sid", &flowv1.HandleConversationEventRequest{FlowSid: flowSid, ConversationSid: ch}, connect.CodeInvalidArgument},
				{"no_conversation", &flowv1.HandleConversationEventRequest{FlowSid: flowSid, MessageSid: "IM2"}, connect.CodeInvalidArgument},
			} {
				if _, err := c.HandleConversationEvent(t.Context(), tt.req); codeOf(err) != tt.code {
					t.Errorf("%s: %v, want %v", tt.name, err, tt.code)
				}
			}
		})
	}
}

// TestE2E_testUsers is Studio's test-user rule end to end: revision 1 is
// published, revision 2 is a draft that answers differently, and alice is
// the flow's test user. Her message runs revision 2, bob's revision 1.
func TestE2E_testUsers(t *testing.T) {
	t.Parallel()
	const (
		alice = "+15551280001"
		bob   = "+15551280002"
	)
	s := startStack(t)
	c := s.svc.clients[0]
	ctx := t.Context()
	flowSid := deploy(t, c, "echo", testdataStruct(t, "flows/echo.json"))
	b, err := os.ReadFile("testdata/flows/echo.json")
	if err != nil {
		t.Fatal(err)
	}
	draft := mustStruct(t, strings.Replace(string(b), `"echo: {{trigger.conversation.Body}}"`, `"draft echo: {{trigger.conversation.Body}}"`, 1))
	up, err := c.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{Sid: flowSid, Status: flowv1.FlowStatus_FLOW_STATUS_DRAFT, Definition: draft, CommitMessage: "try a new answer"})
	if err != nil || up.GetFlow().GetRevision() != 2 {
		t.Fatalf("UpdateFlow draft = %v, %v", up, err)
	}
	if _, err := c.UpdateFlowTestUsers(ctx, &flowv1.UpdateFlowTestUsersRequest{FlowSid: flowSid, TestUsers: []string{alice}}); err != nil {
		t.Fatalf("UpdateFlowTestUsers: %v", err)
	}

	for _, tt := range []struct {
		contact, colleague string
		revision           int32
		reply              string
	}{
		{alice, "+15551280011", 2, "draft echo: hi"},
		{bob, "+15551280012", 1, "echo: hi"},
	} {
		t.Run(tt.contact, func(t *testing.T) {
			ch := s.conversation(t, flowSid, tt.contact, tt.colleague)
			s.text(t, tt.contact, "hi")
			e := executionIn(t, c, flowSid, ch, ended)
			if e.GetFlowRevision() != tt.revision || e.GetContactChannelAddress() != tt.contact {
				t.Errorf("execution runs revision %d for %s, want %d for %s", e.GetFlowRevision(), e.GetContactChannelAddress(), tt.revision, tt.contact)
			}
			if got := s.smsBodies(tt.contact, ch); !slices.Contains(got, tt.reply) || len(got) != 1 {
				t.Errorf("SMS to %s = %q, want only %q", tt.contact, got, tt.reply)
			}
		})
	}
}

func TestE2E_restTriggerWatchAndEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	flowSid := deploy(t, s.svc.clients[0], "wait", waitDefinition(t, "3600"))
	for i, c := range s.svc.clients {
		t.Run(c.name, func(t *testing.T) {
			contact := "+1555127000" + string(rune('1'+2*i))
			// The REST execution's messages go into an open conversation
			// the contact takes part in.
			s.conversation(t, deploy(t, c, "unused", testdataStruct(t, "flows/echo.json")), contact, "+1555127000"+string(rune('2'+2*i)))
			created, err := c.CreateExecution(t.Context(), &flowv1.CreateExecutionRequest{
				FlowSid: flowSid, To: contact, From: proxyNumber, Parameters: mustStruct(t, `{"greeting":"hello"}`),
			})
			if err != nil {
				t.Fatalf("CreateExecution: %v", err)
			}
			e := created.GetExecution()
			if e.GetStatus() != flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE || e.GetContactChannelAddress() != contact || e.GetConversationSid() != "" {
				t.Fatalf("created = %v", e)
			}
			_, err = c.CreateExecution(t.Context(), &flowv1.CreateExecutionRequest{FlowSid: flowSid, To: contact, From: proxyNumber})
			if codeOf(err) != connect.CodeAlreadyExists {
				t.Fatalf("second CreateExecution: %v, want AlreadyExists", err)
			}
			if d := detailsOf(t, err); len(d) != 1 || !cmp.Equal(d[0].(*flowv1.ExecutionConflict).GetConflictingExecutionSid(), e.GetSid()) {
				t.Errorf("details = %v, want ExecutionConflict %s", d, e.GetSid())
			}
			flowData, err := c.GetExecutionContext(t.Context(), &flowv1.GetExecutionContextRequest{FlowSid: flowSid, ExecutionSid: e.GetSid()})
			if err != nil {
				t.Fatal(err)
			}
			if g := flowData.GetContext().GetFields()["flow"].GetStructValue().GetFields()["data"].GetStructValue().GetFields()["greeting"].GetStringValue(); g != "hello" {
				t.Errorf("flow.data.greeting = %q in %v", g, flowData.GetContext())
			}

			type result struct {
				msgs []*flowv1.WatchExecutionResponse
				err  error
			}
			watched := make(chan result, 1)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			go func() {
				msgs, err := c.watch(ctx, &flowv1.WatchExecutionRequest{FlowSid: flowSid, ExecutionSid: e.GetSid()})
				watched <- result{msgs, err}
			}()
			// Let the watch send the stored step before ending.
			time.Sleep(200 * time.Millisecond)
			endResp, err := c.EndExecution(t.Context(), &flowv1.EndExecutionRequest{FlowSid: flowSid, Sid: e.GetSid()})
			if err != nil {
				t.Fatalf("EndExecution: %v", err)
			}
			if g := endResp.GetExecution(); !ended(g) || g.GetEndedReason() != flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_API {
				t.Errorf("ended = %v", g)
			}
			r := <-watched
			if r.err != nil {
				t.Fatalf("watch: %v", r.err)
			}
			if len(r.msgs) != 2 || r.msgs[0].GetStep().GetTransitionedTo() != "ask" ||
				r.msgs[0].GetExecution().GetStatus() != flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE ||
				r.msgs[1].GetStep() != nil || r.msgs[1].GetExecution().GetEndedReason() != flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_API {
				t.Errorf("watch = %v, want the incomingRequest step then the execution ended by the API", r.msgs)
			}
			if _, err := c.EndExecution(t.Context(), &flowv1.EndExecutionRequest{FlowSid: flowSid, Sid: e.GetSid()}); codeOf(err) != connect.CodeFailedPrecondition {
				t.Errorf("second EndExecution: %v, want FailedPrecondition", err)
			}
			// Watching an ended execution replays it and ends at once.
			msgs, err := c.watch(ctx, &flowv1.WatchExecutionRequest{FlowSid: flowSid, ExecutionSid: e.GetSid()})
			if err != nil || len(msgs) != 2 || !ended(msgs[1].GetExecution()) {
				t.Errorf("watch of ended = %v, %v", msgs, err)
			}
			if _, err := c.CreateExecution(t.Context(), &flowv1.CreateExecutionRequest{FlowSid: flowSid, To: contact}); codeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("CreateExecution without from: %v, want InvalidArgument", err)
			}
		})
	}
}

func TestE2E_watchLive(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	c := s.svc.clients[0]
	flowSid := deploy(t, c, "wait", waitDefinition(t, "3600"))
	ch := s.conversation(t, flowSid, customer, colleague)
	s.text(t, customer, "hi")
	e := executionIn(t, c, flowSid, ch, waitingIn(t, c, flowSid, "ask"))
	type result struct {
		name string
		msgs []*flowv1.WatchExecutionResponse
		err  error
	}
	results := make(chan result, len(s.svc.clients))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, cl := range s.svc.clients {
		go func() {
			msgs, err := cl.watch(ctx, &flowv1.WatchExecutionRequest{FlowSid: flowSid, ExecutionSid: e.GetSid()})
			results <- result{cl.name, msgs, err}
		}()
	}
	// Reply once both watchers have (very likely) subscribed, so the later
	// steps reach them live; one that subscribes later still gets every
	// step, from the store.
	time.Sleep(300 * time.Millisecond)
	s.text(t, colleague, "5")
	for range s.svc.clients {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s watch: %v", r.name, r.err)
		}
		var got []*flowv1.ExecutionStep
		for _, m := range r.msgs {
			got = append(got, m.GetStep())
		}
		checkSteps(t, "wait-reply", got)
		if len(r.msgs) == 0 {
			continue
		}
		last := r.msgs[len(r.msgs)-1].GetExecution()
		if !ended(last) || last.GetEndedReason() != flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_FLOW_END {
			t.Errorf("%s: last message's execution = %v, want ended FLOW_END", r.name, last)
		}
		for _, m := range r.msgs[:len(r.msgs)-1] {
			if ended(m.GetExecution()) {
				t.Errorf("%s: execution ended before the last step: %v", r.name, m)
			}
		}
	}
}

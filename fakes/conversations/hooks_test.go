package conversations_test

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/convoflow/convoflow/fakes/conversations"
)

func validates(t *testing.T, token string, h receivedHook) {
	t.Helper()
	params := map[string]string{}
	for k := range h.Form {
		params[k] = h.Form.Get(k)
	}
	if strings.Contains(h.URL, "?") && h.Header.Get("Content-Type") == "" {
		params = nil // GET: the query is part of the signed URL
	}
	v := client.NewRequestValidator(token)
	if !v.Validate(h.URL, params, h.Header.Get("X-Twilio-Signature")) {
		t.Fatalf("signature does not validate for %s", h.URL)
	}
}

func TestAccountPreAndPostWebhooks(t *testing.T) {
	t.Parallel()
	pre := newHookReceiver(t, func(_ int, h receivedHook) (int, string) {
		switch {
		case strings.Contains(h.Form.Get("Body"), "forbidden"):
			return http.StatusForbidden, ""
		case h.Form.Get("EventType") == "onMessageAdd":
			return http.StatusOK, `{"body": "[redacted] ` + h.Form.Get("Body") + `", "author": "moderated", "attributes": "{\"checked\":true}"}`
		}
		return http.StatusOK, ""
	})
	post := newHookReceiver(t, nil)
	srv := startFake(t, conversations.Options{})
	mustCall(t, 200, srv, "POST", "/v1/Configuration/Webhooks", form(
		"PreWebhookUrl", pre.URL+"/pre", "PostWebhookUrl", post.URL+"/post", "Method", "POST",
		"Filters", "onMessageAdd", "Filters", "onMessageAdded", "Filters", "onConversationAdded", "Filters", "onParticipantAdded"))
	enabled := []string{"X-Twilio-Webhook-Enabled", "true"}
	conv := mustCall(t, 201, srv, "POST", "/v1/Conversations", nil, enabled...)
	sid := str(conv["sid"])

	m := mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "hello"), enabled...)
	if m["body"] != "[redacted] hello" || m["author"] != "moderated" || m["attributes"] != `{"checked":true}` {
		t.Fatalf("pre-hook changes not applied: %v", m)
	}
	r := call(t, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "forbidden words"), enabled...)
	if r.Status != 403 || r.JSON["code"] != float64(20403) {
		t.Fatalf("pre-hook rejection: %d %s", r.Status, r.Raw)
	}
	if got := len(srv.Messages(sid)); got != 1 {
		t.Fatalf("rejected message was stored: %d messages", got)
	}
	// Without the header nothing fires at all.
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "silent"))
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, h := range post.received() {
		validates(t, srv.AuthToken(), h)
		events = append(events, h.Form.Get("EventType"))
	}
	if want := "onConversationAdded,onMessageAdded"; strings.Join(events, ",") != want {
		t.Fatalf("post events %v, want %s", events, want)
	}
	if got := len(pre.received()); got != 2 {
		t.Fatalf("pre-hook called %d times, want 2", got)
	}
	if b := post.received()[1].Form.Get("Body"); b != "[redacted] hello" {
		t.Fatalf("post-event body %q", b)
	}
}

func TestScopedWebhookFiltersTriggersAndGet(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t, nil)
	srv := startFake(t, conversations.Options{})
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "webhook",
		"Configuration.Url", hook.URL+"/filtered", "Configuration.Method", "GET", "Configuration.Filters", "onParticipantAdded"))
	trig := mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "trigger",
		"Configuration.Url", hook.URL+"/trigger", "Configuration.Triggers", "help", "Configuration.Triggers", "agent"))
	cfg, _ := trig["configuration"].(map[string]any)
	if f, _ := cfg["filters"].([]any); len(f) != 2 || f[0] != "help" {
		t.Fatalf("trigger configuration %v", cfg)
	}
	enabled := []string{"X-Twilio-Webhook-Enabled", "true"}
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants", form("Identity", "bob"), enabled...)
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "nothing to see"), enabled...)
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "I need HELP!"), enabled...)
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := hook.received()
	if len(got) != 2 {
		t.Fatalf("got %d deliveries, want 2: %+v", len(got), got)
	}
	if got[0].Path != "/filtered" || got[0].Form.Get("EventType") != "onParticipantAdded" || got[0].Form.Get("Identity") != "bob" {
		t.Fatalf("filtered delivery %+v", got[0])
	}
	validates(t, srv.AuthToken(), got[0])
	if got[1].Path != "/trigger" || got[1].Form.Get("Body") != "I need HELP!" || got[1].Form.Get("WebhookType") != "trigger" {
		t.Fatalf("trigger delivery %+v", got[1])
	}
	validates(t, srv.AuthToken(), got[1])
}

func TestWebhookRetriesKeepIdempotencyToken(t *testing.T) {
	t.Parallel()
	flaky := newHookReceiver(t, func(n int, _ receivedHook) (int, string) {
		if n == 1 {
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusOK, ""
	})
	srv := startFake(t, conversations.Options{StudioURL: flaky.URL})
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "studio", "Configuration.FlowSid", "FW00000000000000000000000000000001"))
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "hi"), "X-Twilio-Webhook-Enabled", "true")
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := flaky.received()
	if len(got) != 2 {
		t.Fatalf("got %d attempts, want 2", len(got))
	}
	if a, b := got[0].Header.Get("I-Twilio-Idempotency-Token"), got[1].Header.Get("I-Twilio-Idempotency-Token"); a == "" || a != b {
		t.Fatalf("idempotency tokens %q and %q", a, b)
	}
	if got[1].Form.Get("RetryCount") != "1" {
		t.Fatalf("RetryCount on retry = %q", got[1].Form.Get("RetryCount"))
	}
	atts := srv.WebhookAttempts()
	if len(atts) != 2 || atts[0].Status != 503 || atts[1].Status != 200 || atts[1].Attempt != 2 {
		t.Fatalf("attempt log %+v", atts)
	}
}

func TestWebhookConnectionFailureRetriedOnce(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	srv := startFake(t, conversations.Options{})
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "webhook", "Configuration.Url", dead, "Configuration.Filters", "onMessageAdded"))
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "hi"), "X-Twilio-Webhook-Enabled", "true")
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	atts := srv.WebhookAttempts()
	if len(atts) != 2 || atts[0].Error == "" || atts[1].Attempt != 2 || atts[1].Status != 0 {
		t.Fatalf("attempts %+v", atts)
	}
}

func TestWebhooksDeliveredInOrderPerConversation(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t, func(n int, _ receivedHook) (int, string) {
		if n%3 == 0 {
			time.Sleep(5 * time.Millisecond) // a slow answer must not let later events overtake
		}
		return http.StatusOK, ""
	})
	srv := startFake(t, conversations.Options{})
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "webhook", "Configuration.Url", hook.URL, "Configuration.Filters", "onMessageAdded"))
	const n = 30
	for i := range n {
		mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", strconv.Itoa(i)), "X-Twilio-Webhook-Enabled", "true")
	}
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := hook.received()
	if len(got) != n {
		t.Fatalf("got %d deliveries, want %d", len(got), n)
	}
	for i, h := range got {
		if h.Form.Get("Index") != strconv.Itoa(i) {
			t.Fatalf("delivery %d carries index %s", i, h.Form.Get("Index"))
		}
	}
}

func TestConversationTimers(t *testing.T) {
	t.Parallel()
	clock := newClock()
	srv := startFake(t, conversations.Options{Clock: clock.Now})
	c := mustCall(t, 201, srv, "POST", "/v1/Conversations", form("Timers.Inactive", "PT5M", "Timers.Closed", "PT30M"))
	sid := str(c["sid"])
	timers, _ := c["timers"].(map[string]any)
	if timers["date_inactive"] != "2026-01-02T03:09:05Z" || timers["date_closed"] != "2026-01-02T03:34:05Z" {
		t.Fatalf("timers %v", timers)
	}
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants",
		form("MessagingBinding.Address", "+15550000001", "MessagingBinding.ProxyAddress", "+15559999999"))
	clock.Advance(6 * time.Minute)
	if got := mustCall(t, 200, srv, "GET", "/v1/Conversations/"+sid, nil); got["state"] != "inactive" {
		t.Fatalf("after 6m state %v", got["state"])
	}
	// Activity reactivates the conversation and restarts its timers.
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "ping"))
	if got := mustCall(t, 200, srv, "GET", "/v1/Conversations/"+sid, nil); got["state"] != "active" {
		t.Fatalf("after message state %v", got["state"])
	}
	clock.Advance(31 * time.Minute)
	if got := mustCall(t, 200, srv, "GET", "/v1/Conversations/"+sid, nil); got["state"] != "closed" {
		t.Fatalf("after 31m state %v", got["state"])
	}
	// Closing by timer releases the binding.
	other := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+other+"/Participants",
		form("MessagingBinding.Address", "+15550000001", "MessagingBinding.ProxyAddress", "+15559999999"))
	// Account default timers apply to new conversations.
	mustCall(t, 200, srv, "POST", "/v1/Configuration", form("DefaultInactiveTimer", "PT1M", "DefaultClosedTimer", "PT10M"))
	d := mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)
	if timers, _ := d["timers"].(map[string]any); timers["date_closed"] == nil {
		t.Fatalf("default timers not applied: %v", d["timers"])
	}
}

// TestTimerStateUpdatedEvents checks that a state change made by a
// conversation's timer sends onConversationStateUpdated with Reason TIMER,
// whether FireTimers or a read applies it first, and that two timers due at
// once send their changes in order.
func TestTimerStateUpdatedEvents(t *testing.T) {
	t.Parallel()
	type change struct{ From, To, State string }
	// A step advances the clock, then fires the timers (or reads the
	// conversation) and expects these changes.
	type timerStep struct {
		advance time.Duration
		read    bool // GET the conversation before calling FireTimers
		want    []change
	}
	tests := []struct {
		name  string
		steps []timerStep
	}{
		{"one_timer_at_a_time", []timerStep{
			{advance: 4 * time.Minute},
			{advance: 2 * time.Minute, want: []change{{"active", "inactive", "inactive"}}},
			{advance: 25 * time.Minute, want: []change{{"inactive", "closed", "closed"}}},
			{advance: time.Hour},
		}},
		{"both_due_at_once", []timerStep{
			{advance: 31 * time.Minute, want: []change{{"active", "inactive", "inactive"}, {"inactive", "closed", "closed"}}},
		}},
		{"read_first", []timerStep{
			{advance: 6 * time.Minute, read: true, want: []change{{"active", "inactive", "inactive"}}},
			{advance: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hook := newHookReceiver(t, nil)
			clock := newClock()
			// The fake's own loop must not fire timers behind the test's back.
			srv := startFake(t, conversations.Options{Clock: clock.Now, TimerInterval: time.Hour})
			sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", form("Timers.Inactive", "PT5M", "Timers.Closed", "PT30M"))["sid"])
			mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "webhook",
				"Configuration.Url", hook.URL, "Configuration.Filters", "onConversationStateUpdated"))
			seen := 0
			for i, step := range tt.steps {
				clock.Advance(step.advance)
				if step.read {
					mustCall(t, 200, srv, "GET", "/v1/Conversations/"+sid, nil)
				}
				wantFired := 0
				if !step.read {
					wantFired = len(step.want)
				}
				if n := srv.FireTimers(); n != wantFired {
					t.Errorf("step %d: FireTimers made %d changes, want %d", i, n, wantFired)
				}
				if err := srv.WaitWebhooks(t.Context()); err != nil {
					t.Fatal(err)
				}
				var got []change
				for _, h := range hook.received()[seen:] {
					f := h.Form
					if f.Get("EventType") != "onConversationStateUpdated" || f.Get("Reason") != "TIMER" || f.Get("ConversationSid") != sid {
						t.Errorf("step %d: webhook %v", i, f)
					}
					got = append(got, change{f.Get("StateFrom"), f.Get("StateTo"), f.Get("State")})
				}
				seen = len(hook.received())
				if !slices.Equal(step.want, got) {
					t.Errorf("step %d: state changes %+v, want %+v", i, got, step.want)
				}
			}
		})
	}
}

// TestTimersFireWithoutARead checks that a listening fake fires due timers
// by itself, every TimerInterval.
func TestTimersFireWithoutARead(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t, nil)
	clock := newClock()
	srv := startFake(t, conversations.Options{Clock: clock.Now, TimerInterval: 10 * time.Millisecond})
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", form("Timers.Closed", "PT10M"))["sid"])
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "webhook",
		"Configuration.Url", hook.URL, "Configuration.Filters", "onConversationStateUpdated"))
	clock.Advance(10 * time.Minute)
	for deadline := time.Now().Add(10 * time.Second); len(hook.received()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no onConversationStateUpdated within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if f := hook.received()[0].Form; f.Get("StateFrom") != "active" || f.Get("StateTo") != "closed" || f.Get("Reason") != "TIMER" {
		t.Errorf("webhook %v", f)
	}
}

func TestServiceLevelWebhooks(t *testing.T) {
	t.Parallel()
	pre := newHookReceiver(t, func(_ int, h receivedHook) (int, string) {
		if h.Form.Get("Identity") == "banned" {
			return http.StatusUnprocessableEntity, ""
		}
		return http.StatusOK, ""
	})
	post := newHookReceiver(t, nil)
	srv := startFake(t, conversations.Options{})
	svc := srv.DefaultServiceSid()
	cfg := mustCall(t, 200, srv, "POST", "/v1/Services/"+svc+"/Configuration/Webhooks", form(
		"PreWebhookUrl", pre.URL, "PostWebhookUrl", post.URL, "Method", "GET",
		"Filters", "onParticipantAdd", "Filters", "onParticipantAdded"))
	if cfg["chat_service_sid"] != svc || cfg["method"] != "GET" {
		t.Fatalf("service webhook configuration %v", cfg)
	}
	enabled := []string{"X-Twilio-Webhook-Enabled", "true"}
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Services/"+svc+"/Conversations", nil, enabled...)["sid"])
	if r := call(t, srv, "POST", "/v1/Services/"+svc+"/Conversations/"+sid+"/Participants", form("Identity", "banned"), enabled...); r.Status != 403 {
		t.Fatalf("rejected participant: %d %s", r.Status, r.Raw)
	}
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants", form("Identity", "carol"), enabled...)
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Participants(sid); len(got) != 1 || got[0].Identity != "carol" {
		t.Fatalf("participants %+v", got)
	}
	hooks := post.received()
	if len(hooks) != 1 || hooks[0].Form.Get("EventType") != "onParticipantAdded" || hooks[0].Form.Get("Identity") != "carol" {
		t.Fatalf("post hooks %+v", hooks)
	}
	validates(t, srv.AuthToken(), hooks[0])
	if got := len(pre.received()); got != 2 {
		t.Fatalf("pre-hook called %d times, want 2", got)
	}
}

func TestWebhookTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	slow := newHookReceiver(t, func(int, receivedHook) (int, string) {
		time.Sleep(300 * time.Millisecond)
		return http.StatusOK, ""
	})
	srv := startFake(t, conversations.Options{WebhookTimeout: 50 * time.Millisecond})
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "webhook", "Configuration.Url", slow.URL, "Configuration.Filters", "onMessageAdded"))
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "hi"), "X-Twilio-Webhook-Enabled", "true")
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	atts := srv.WebhookAttempts()
	if len(atts) != 2 {
		t.Fatalf("%d attempts, want 2", len(atts))
	}
	for _, a := range atts {
		if a.Status != 0 || !strings.Contains(a.Error, "deadline") {
			t.Fatalf("attempt %+v did not time out", a)
		}
	}
}

// TestDeliveryUpdatedFiresForRESTMessages: a delivery receipt is the
// channel's news, so onDeliveryUpdated fires for a message posted through
// the REST API without X-Twilio-Webhook-Enabled (which still keeps
// onMessageAdded quiet), once per SMS participant other than the author.
func TestDeliveryUpdatedFiresForRESTMessages(t *testing.T) {
	t.Parallel()
	post := newHookReceiver(t, nil)
	srv := startFake(t, conversations.Options{})
	mustCall(t, 200, srv, "POST", "/v1/Configuration/Webhooks", form(
		"PostWebhookUrl", post.URL+"/post", "Method", "POST", "Filters", "onDeliveryUpdated", "Filters", "onMessageAdded"))
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	sms := mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants", form(
		"MessagingBinding.Address", "+15550001111", "MessagingBinding.ProxyAddress", "+15550009999"))
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants", form("Identity", "agent"))
	m := mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "hi", "Author", "system"))
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := post.received()
	if len(got) != 1 {
		t.Fatalf("%d webhooks, want one onDeliveryUpdated: %+v", len(got), got)
	}
	h := got[0]
	validates(t, srv.AuthToken(), h)
	receipts := srv.Messages(sid)[0].Receipts
	if len(receipts) != 1 {
		t.Fatalf("receipts %+v", receipts)
	}
	want := map[string]string{
		"EventType": "onDeliveryUpdated", "AccountSid": srv.AccountSid(), "ConversationSid": sid,
		"MessageSid": str(m["sid"]), "DeliveryReceiptSid": receipts[0].Sid, "ChannelMessageSid": receipts[0].ChannelMessageSid,
		"ParticipantSid": str(sms["sid"]), "Status": "delivered", "ErrorCode": "0", "RetryCount": "0",
	}
	for k, v := range want {
		if h.Form.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Form.Get(k), v)
		}
	}
	for _, k := range []string{"ChatServiceSid", "DateCreated", "DateUpdated"} {
		if h.Form.Get(k) == "" {
			t.Errorf("%s missing: %v", k, h.Form)
		}
	}
}

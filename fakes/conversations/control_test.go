package conversations_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/internal/syncbuf"
)

func control(t *testing.T, method, u string, f url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, u, err, raw)
		}
	}
	return resp.StatusCode, out
}

func TestControlPlane(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	base := srv.URL() + "/_fake"
	if st, body := control(t, "GET", base+"/healthz", nil); st != 200 || body["status"] != "ok" {
		t.Fatalf("healthz %d %v", st, body)
	}
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	for _, p := range []url.Values{
		form("MessagingBinding.Address", "+15550000001", "MessagingBinding.ProxyAddress", "+15559999999"),
		form("MessagingBinding.Address", "whatsapp:+15550000002", "MessagingBinding.ProxyAddress", "whatsapp:+15559999998"),
	} {
		mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants", p)
	}
	st, res := control(t, "POST", base+"/inbound", form("From", " 15550000002", "To", "+15559999998", "Body", "via whatsapp", "Channel", "whatsapp"))
	if st != 201 || res["conversation_sid"] != sid || !strings.HasPrefix(str(res["message_sid"]), "IM") {
		t.Fatalf("inbound %d %v", st, res)
	}
	if st, res := control(t, "POST", base+"/inbound", form("From", "+15550000003", "To", "+15559999999", "Body", "nobody home")); st != 404 || res["code"] != float64(20404) {
		t.Fatalf("inbound without conversation %d %v", st, res)
	}
	st, out := control(t, "GET", base+"/outbox?Address=%2B15550000001", nil)
	msgs, _ := out["messages"].([]any)
	if st != 200 || len(msgs) != 1 {
		t.Fatalf("outbox %d %v", st, out)
	}
	first, _ := msgs[0].(map[string]any)
	if first["to"] != "+15550000001" || first["from"] != "+15559999999" || first["body"] != "via whatsapp" || first["channel"] != "sms" {
		t.Fatalf("outbox entry %v", first)
	}
	if _, out := control(t, "GET", base+"/outbox?ConversationSid=CH00000000000000000000000000000000", nil); len(out["messages"].([]any)) != 0 {
		t.Fatalf("outbox filter by conversation: %v", out)
	}
	_, reqs := control(t, "GET", base+"/requests", nil)
	if list, _ := reqs["requests"].([]any); len(list) != 3 {
		t.Fatalf("requests %v", reqs)
	}
	_, hooks := control(t, "GET", base+"/webhooks", nil)
	if _, ok := hooks["attempts"].([]any); !ok {
		t.Fatalf("webhooks %v", hooks)
	}
	if st, _ := control(t, "POST", base+"/reset", nil); st != 204 {
		t.Fatalf("reset %d", st)
	}
	if got := len(srv.Conversations()) + len(srv.Outbox(conversations.OutboxFilter{})) + len(srv.Requests()); got != 0 {
		t.Fatalf("state after reset: %d items", got)
	}
	// A reset fake hands out the same SIDs as a fresh one with the same seed.
	again := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	if again != sid {
		t.Fatalf("after reset the first SID is %s, want %s", again, sid)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	base := srv.URL() + "/_fake/faults"
	st, f := control(t, "POST", base, form("Method", "POST", "Path", "/v1/Conversations", "Status", "429", "Code", "20429", "Count", "2"))
	if st != 201 || f["id"] != float64(1) {
		t.Fatalf("inject %d %v", st, f)
	}
	for range 2 {
		r := call(t, srv, "POST", "/v1/Conversations", nil)
		if r.Status != 429 || r.JSON["code"] != float64(20429) {
			t.Fatalf("faulted request %d %s", r.Status, r.Raw)
		}
	}
	mustCall(t, 201, srv, "POST", "/v1/Conversations", nil) // the fault is used up
	if len(srv.Conversations()) != 1 {
		t.Fatal("a faulted request changed state")
	}

	control(t, "POST", base, form("Path", "/v1/Conversations/*", "Latency", "60ms"))
	sid := srv.Conversations()[0].Sid
	start := time.Now()
	mustCall(t, 200, srv, "GET", "/v1/Conversations/"+sid, nil)
	if time.Since(start) < 60*time.Millisecond {
		t.Fatal("latency fault not applied")
	}
	if st, _ := control(t, "DELETE", base, nil); st != 204 || len(srv.Faults()) != 0 {
		t.Fatal("faults not cleared")
	}

	control(t, "POST", base, form("Method", "GET", "Path", "/v1/Conversations", "Drop", "true", "Count", "1"))
	req, _ := http.NewRequest("GET", srv.URL()+"/v1/Conversations", nil)
	req.SetBasicAuth(srv.AccountSid(), srv.AuthToken())
	// A fresh connection: Go's transport silently retries a GET whose reused
	// connection closed, which would hide the drop.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped connection answered %d", resp.StatusCode)
	}
	if st, body := control(t, "POST", base, form("Status", "200")); st != 400 || body["code"] != float64(20001) {
		t.Fatalf("invalid fault accepted: %d %v", st, body)
	}
}

func TestProbabilisticFault(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	if _, err := srv.InjectFault(conversations.Fault{Path: "/v1/Conversations", Status: 503, Code: 20503, Probability: 0.5}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for range 200 {
		if call(t, srv, "GET", "/v1/Conversations", nil).Status == 503 {
			failed++
		}
	}
	if failed < 60 || failed > 140 {
		t.Fatalf("%d of 200 requests failed with probability 0.5", failed)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs syncbuf.Buffer
	env := map[string]string{"FAKECONVERSATIONS_AUTH_TOKEN": "envtoken1", "FAKECONVERSATIONS_SEED": "7"}
	done := make(chan error, 1)
	go func() {
		done <- conversations.Run(ctx, []string{"--listen", "127.0.0.1:0", "--log-level", "debug"}, func(k string) string { return env[k] }, &logs)
	}()
	var addr string
	deadline := time.Now().Add(5 * time.Second)
	re := regexp.MustCompile(`msg="listening on (127\.0\.0\.1:\d+)"`)
	for addr == "" && time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("no listening line in %q", logs.String())
	}
	if n := strings.Count(logs.String(), "listening on"); n != 1 {
		t.Fatalf("%d listening lines", n)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/Conversations", nil)
	req.SetBasicAuth(conversations.DefaultAccountSid, "envtoken1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("auth with the env token: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestRunHelpNamesEnvVars(t *testing.T) {
	t.Parallel()
	var out syncbuf.Buffer
	if err := conversations.Run(t.Context(), []string{"--help"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"FAKECONVERSATIONS_LISTEN", "FAKECONVERSATIONS_ACCOUNT_SID", "FAKECONVERSATIONS_AUTH_TOKEN",
		"FAKECONVERSATIONS_STUDIO_URL", "FAKECONVERSATIONS_SEED", "FAKECONVERSATIONS_LOG_LEVEL"} {
		if !strings.Contains(out.String(), env) {
			t.Errorf("--help does not name %s", env)
		}
	}
	if err := conversations.Run(t.Context(), []string{"--seed", "x"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("bad flag accepted")
	}
	err := conversations.Run(t.Context(), []string{"--account-sid", "nope", "--listen", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("bad account SID: %v", err)
	}
}

func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	sid := str(mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	const workers, each = 8, 25
	var wg sync.WaitGroup
	conflicts := make(chan int, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				call(t, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "m"))
				// Every worker races for the same binding; exactly one may win.
				r := call(t, srv, "POST", "/v1/Conversations/"+sid+"/Participants",
					form("MessagingBinding.Address", "+15550000001", "MessagingBinding.ProxyAddress", "+15559999999"))
				conflicts <- r.Status
			}
		}()
	}
	wg.Wait()
	close(conflicts)
	won := 0
	for st := range conflicts {
		if st == 201 {
			won++
		} else if st != 409 {
			t.Fatalf("binding race answered %d", st)
		}
	}
	if won != 1 {
		t.Fatalf("%d requests won the same binding", won)
	}
	msgs := srv.Messages(sid)
	if len(msgs) != workers*each {
		t.Fatalf("%d messages, want %d", len(msgs), workers*each)
	}
	for i, m := range msgs {
		if m.Index != i {
			t.Fatalf("message %d has index %d", i, m.Index)
		}
	}
}

// TestResetDuringDeliveries resets while webhooks are being delivered and
// requests are arriving; run with -race.
func TestResetDuringDeliveries(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t, func(int, receivedHook) (int, string) {
		time.Sleep(2 * time.Millisecond)
		return http.StatusOK, ""
	})
	srv := startFake(t, conversations.Options{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				r := call(t, srv, "POST", "/v1/Conversations", nil)
				sid := str(r.JSON["sid"])
				if sid == "" {
					continue
				}
				call(t, srv, "POST", "/v1/Conversations/"+sid+"/Webhooks", form("Target", "webhook", "Configuration.Url", hook.URL, "Configuration.Filters", "onMessageAdded"))
				call(t, srv, "POST", "/v1/Conversations/"+sid+"/Messages", form("Body", "x"), "X-Twilio-Webhook-Enabled", "true")
			}
		}()
	}
	for range 5 {
		time.Sleep(3 * time.Millisecond)
		srv.Reset()
	}
	wg.Wait()
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
}

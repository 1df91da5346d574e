package load_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/load"
	"github.com/convoflow/convoflow/services/flow"
)

const apiKey = "load-test-key-0123456789"

// stack is the fake and FlowService in this process, wired as make run
// wires the processes: the fake posts studio webhooks to FlowService, which
// answers through the fake's API.
type stack struct {
	fake    *conversations.Server
	fakeURL string
	flowURL string
}

var listening = regexp.MustCompile(`msg="listening on ([^"]+)"`)

func startStack(t *testing.T) *stack {
	t.Helper()
	// FlowService needs the fake's URL and the fake FlowService's: the
	// fake is reached through front, whose handler is set once both run.
	var inner atomic.Pointer[http.Handler]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := inner.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(front.Close)

	ctx, cancel := context.WithCancel(context.Background())
	logs, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- flow.Run(ctx, []string{
			"--listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "flow.db"),
			"--conversations-url", front.URL, "--account-sid", "AC00000000000000000000000000000000",
			"--auth-token", "faketoken123", "--api-key", apiKey,
		}, func(string) string { return "" }, w)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("flowservice: %v", err)
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	var flowURL string
	select {
	case a := <-addr:
		flowURL = "http://" + a
	case err := <-done:
		t.Fatalf("flowservice stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("flowservice did not start")
	}
	fake, err := conversations.NewServer(conversations.Options{StudioURL: flowURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	h := fake.Handler()
	inner.Store(&h)
	return &stack{fake: fake, fakeURL: front.URL, flowURL: flowURL}
}

// postWebhookURL reads the fake's account-level post-event webhook URL.
func (s *stack) postWebhookURL(t *testing.T) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.fakeURL+"/v1/Configuration/Webhooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.fake.AccountSid(), s.fake.AuthToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cfg struct {
		PostWebhookURL *string `json:"post_webhook_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.PostWebhookURL == nil {
		return ""
	}
	return *cfg.PostWebhookURL
}

func (s *stack) config(t *testing.T, args ...string) load.Config {
	t.Helper()
	args = append([]string{"--fake", s.fakeURL, "--flow-service", s.flowURL, "--api-key", apiKey}, args...)
	cfg, err := load.ParseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDrive runs both loops against the stack: every message gets its
// reply, learnt from the fake's delivery webhooks, and the fake's webhook
// configuration is as it was afterwards.
func TestDrive(t *testing.T) {
	s := startStack(t)
	for _, tc := range []struct {
		name  string
		args  []string
		count int
		mode  string
	}{
		{"closed", []string{"--concurrency", "8", "--count", "120", "--duration", "0"}, 120, "closed"},
		{"open_new_conversations", []string{"--rate", "200", "--customers", "0", "--count", "80", "--duration", "0"}, 80, "open"},
		{"open_cycling", []string{"--rate", "200", "--customers", "5", "--count", "60", "--duration", "0"}, 60, "open"},
		{"webhook_closed", []string{"--via", "webhook", "--concurrency", "4", "--count", "40", "--duration", "0"}, 40, "closed"},
		{"webhook_open", []string{"--via", "webhook", "--rate", "200", "--customers", "0", "--count", "30", "--duration", "0"}, 30, "open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var progress bytes.Buffer
			rep, err := load.Drive(t.Context(), s.config(t, tc.args...), &progress)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Mode != tc.mode || rep.Sent != tc.count || rep.Replied != tc.count || len(rep.Errors) != 0 {
				t.Fatalf("report %+v, want %d sent and replied in a %s loop without errors", rep, tc.count, tc.mode)
			}
			l := rep.LatencyMS
			if !(l.P50 > 0 && l.P50 <= l.P99 && l.P99 <= l.Max) || rep.Throughput <= 0 {
				t.Errorf("latency %+v, throughput %v", l, rep.Throughput)
			}
			if !strings.HasPrefix(rep.FlowSid, "FW") {
				t.Errorf("flow %q", rep.FlowSid)
			}
		})
	}
	if got := s.postWebhookURL(t); got != "" {
		t.Errorf("post-event webhook left at %q", got)
	}
	// One reply reached a phone per message, no more.
	if n, want := len(s.fake.Outbox(conversations.OutboxFilter{})), 120+80+60+40+30; n != want {
		t.Errorf("outbox holds %d SMS, want %d (a reply each)", n, want)
	}
}

// TestRunReports prints the text and JSON reports.
func TestRunReports(t *testing.T) {
	s := startStack(t)
	var out bytes.Buffer
	args := []string{"--fake", s.fakeURL, "--flow-service", s.flowURL, "--count", "20", "--concurrency", "4", "--json"}
	getenv := func(k string) string {
		if k == "FLOWSERVICE_API_KEY" {
			return apiKey
		}
		return ""
	}
	if err := load.Run(t.Context(), args, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep load.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if rep.Sent != 20 || rep.Replied != 20 {
		t.Errorf("JSON report %+v", rep)
	}
	out.Reset()
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"closed loop, 4 customers", "20 sent, 20 replied", "replies/s", "p99", "errors        none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunRefusesAWrongKey: FlowService refuses to publish without the key,
// and the error says so before anything is sent.
func TestRunRefusesAWrongKey(t *testing.T) {
	s := startStack(t)
	err := load.Run(t.Context(), []string{"--fake", s.fakeURL, "--flow-service", s.flowURL, "--api-key", "wrong-key-0123456789abcdef", "--count", "1"},
		func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unauthenticated") {
		t.Fatalf("err = %v, want unauthenticated", err)
	}
	if n := len(s.fake.Outbox(conversations.OutboxFilter{})); n != 0 {
		t.Errorf("%d SMS sent", n)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "-1"}, "--rate"},
		{[]string{"--concurrency", "0"}, "--concurrency"},
		{[]string{"--duration", "0"}, "--duration or --count"},
		{[]string{"--timeout", "0s"}, "--timeout"},
		{[]string{"--fake", "ftp://x"}, "--fake"},
		{[]string{"--flow", "f.json", "--flow-sid", "FW00000000000000000000000000000001"}, "exclude"},
		{[]string{"--flow-sid", "FW1"}, "--flow-sid"},
		{[]string{"--number", "5550100"}, "--number"},
		{[]string{"--pid", "flowservice"}, "NAME=PID"},
		{[]string{"--customers", "-3"}, "--customers"},
		{[]string{"--via", "sms"}, "--via"},
		{[]string{"extra"}, "unexpected"},
	} {
		_, err := load.ParseConfig(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}

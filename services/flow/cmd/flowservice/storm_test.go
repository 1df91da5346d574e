package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/conversations/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/convoflow/convoflow/fakes/conversations"
	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/pgtest"
	"github.com/convoflow/convoflow/internal/syncbuf"
	"github.com/convoflow/convoflow/internal/twilioclient"
)

// The storm tests run flowservice as it is deployed, as separate processes,
// and kill them with SIGKILL while customers text a flow whose Function
// call takes 300 ms: every message the Conversations side accepted must be
// acknowledged and answered exactly once, and a killed replica's
// conversations must move on within seconds.

const (
	stormNumber   = "+15005550100"
	functionsHost = "https://support-1234-dev.twil.io"
	// functionDelay is how long the flow's Function call takes: long
	// enough that kills land in the middle of executions.
	functionDelay = 300 * time.Millisecond
)

// stormFlow calls a slow Function and then replies with the message's body.
const stormFlow = `{
  "description": "storm: a slow Function call, then a reply",
  "initial_state": "Trigger",
  "flags": {"allow_concurrent_calls": true},
  "states": [
    {"name": "Trigger", "type": "trigger", "properties": {"offset": {"x": 0, "y": 0}},
     "transitions": [{"event": "incomingMessage"}, {"event": "incomingCall"},
       {"next": "lookup", "event": "incomingConversationMessage"}, {"event": "incomingRequest"}, {"event": "incomingParent"}]},
    {"name": "lookup", "type": "run-function",
     "properties": {"offset": {"x": 0, "y": 200}, "service_sid": "ZS00000000000000000000000000000001",
       "environment_sid": "ZE00000000000000000000000000000001", "function_sid": "ZH00000000000000000000000000000001",
       "url": "https://support-1234-dev.twil.io/lookup",
       "parameters": [{"key": "body", "value": "{{trigger.conversation.Body}}"}]},
     "transitions": [{"next": "reply", "event": "success"}, {"next": "reply", "event": "fail"}]},
    {"name": "reply", "type": "send-message",
     "properties": {"offset": {"x": 0, "y": 400}, "body": "Got {{trigger.conversation.Body}}"},
     "transitions": [{"event": "sent"}, {"event": "failed"}]}
  ]
}`

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// flowserviceBinary builds this command once per test binary.
func flowserviceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flowservice-storm-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "flowservice")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// replica is one flowservice process; kill and start may be repeated.
type replica struct {
	t      *testing.T
	name   string
	addr   string
	args   []string
	bin    string
	log    *syncbuf.Buffer
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func (r *replica) url() string { return "http://" + r.addr }

// start runs the process and waits until it answers /healthz.
func (r *replica) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, append([]string{"--listen", r.addr}, r.args...)...)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("%s: %v", r.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(r.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			r.t.Fatalf("%s exited while starting:\n%s", r.name, r.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s did not become healthy in 30 s:\n%s", r.name, r.log.String())
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *replica) kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop sends SIGTERM and waits, killing after 30 s.
func (r *replica) stop() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		r.t.Errorf("%s did not stop on SIGTERM within 30 s", r.name)
		r.kill()
	}
}

// roundRobin is the plain load balancer in front of the replicas: each
// request goes to the next replica in turn; a replica that refuses the
// connection is skipped (as nginx's default proxy_next_upstream error does),
// and while none accepts, the balancer keeps trying for a while, as a
// balancer with connect retries would. A request that reached a replica
// which then died is answered 502, and Twilio retries it.
type roundRobin struct {
	backends []string
	next     atomic.Uint64
	client   *http.Client
}

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := p.next.Add(1)
	for giveUp := time.Now().Add(10 * time.Second); time.Now().Before(giveUp); time.Sleep(50 * time.Millisecond) {
		if p.forward(w, r, body, start) {
			return
		}
	}
	http.Error(w, "no replica is reachable", http.StatusBadGateway)
}

// forward tries each backend once from start on, and reports false when
// none accepted the connection.
func (p *roundRobin) forward(w http.ResponseWriter, r *http.Request, body []byte, start uint64) bool {
	for i := range len(p.backends) {
		b := p.backends[(start+uint64(i))%uint64(len(p.backends))]
		req, err := http.NewRequestWithContext(r.Context(), r.Method, b+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return true
		}
		req.Header = r.Header.Clone()
		resp, err := p.client.Do(req)
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			continue
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return true
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return true
	}
	return false
}

// stormOptions shapes one storm.
type stormOptions struct {
	// db returns the --db of the replicas.
	db        string
	replicas  int
	customers int
	// messages is how many texts each customer sends, spread over
	// duration.
	messages int
	duration time.Duration
	// kills is how many SIGKILLs land during the traffic, one replica at
	// a time, each restarted after restartAfter.
	kills        int
	restartAfter time.Duration
}

// stormResult is what the storm measured.
type stormResult struct {
	sent        int
	lastSent    time.Time
	lastReply   time.Time
	maxLatency  time.Duration
	kills       int
	duplicates  []string
	missing     []string
	unacked     []string
	latencies   []time.Duration
	replicaLogs string
}

// storm runs the scenario and reports what it saw.
func storm(t *testing.T, o stormOptions) stormResult {
	t.Helper()
	bin := flowserviceBinary(t)
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(functionDelay)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(fn.Close)

	// Fixed ports, so a restarted replica comes back where the proxy
	// expects it.
	replicas := make([]*replica, o.replicas)
	backends := make([]string, o.replicas)
	for i := range replicas {
		replicas[i] = &replica{t: t, name: fmt.Sprintf("replica-%d", i), addr: freeAddr(t), bin: bin, log: &syncbuf.Buffer{}}
		backends[i] = replicas[i].url()
	}
	proxy := httptest.NewServer(&roundRobin{backends: backends, client: &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second,
	}})
	t.Cleanup(proxy.Close)

	fake, err := conversations.NewServer(conversations.Options{StudioURL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })

	args := []string{
		"--db", o.db,
		"--conversations-url", fake.URL(),
		"--account-sid", fake.AccountSid(), "--auth-token", fake.AuthToken(),
		"--public-url", proxy.URL,
		"--function-map", functionsHost + "=" + fn.URL,
		"--log-level", "warn",
	}
	for _, r := range replicas {
		r.args = args
		r.start()
	}
	t.Cleanup(func() {
		for _, r := range replicas {
			r.stop()
		}
	})

	// Publish the flow through one replica and point the number at it.
	var def structpb.Struct
	if err := def.UnmarshalJSON([]byte(stormFlow)); err != nil {
		t.Fatal(err)
	}
	fc := flowv1connect.NewFlowServiceClient(http.DefaultClient, replicas[0].url())
	created, err := fc.CreateFlow(t.Context(), &flowv1.CreateFlowRequest{FriendlyName: "storm", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: &def})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := twilioclient.New(twilioclient.Options{AccountSID: fake.AccountSid(), AuthToken: fake.AuthToken(), BaseURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ConversationsV1.CreateConfigurationAddress(new(openapi.CreateConfigurationAddressParams).
		SetType("sms").SetAddress(stormNumber).SetAutoCreationEnabled(true).SetAutoCreationType("studio").
		SetAutoCreationStudioFlowSid(created.GetFlow().GetSid()).SetAutoCreationStudioRetryCount(3)); err != nil {
		t.Fatal(err)
	}

	// The killer: one replica at a time, at random moments of the traffic,
	// the last shortly before the last message.
	res := stormResult{}
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		gap := o.duration / time.Duration(o.kills+1)
		for k := range o.kills {
			time.Sleep(gap/2 + time.Duration(rng.Int64N(int64(gap/2))))
			r := replicas[rng.IntN(len(replicas))]
			r.kill()
			res.kills = k + 1
			time.Sleep(o.restartAfter)
			r.start()
		}
	}()

	// The customers, paced over the duration, and an observer noting when
	// each reply first appears.
	type sent struct {
		conv string
		at   time.Time
	}
	var mu sync.Mutex
	bodies := map[string]sent{}
	seen := map[string]time.Time{}
	counts := map[string]int{}
	look := func() {
		mu.Lock()
		convs := map[string]bool{}
		for _, s := range bodies {
			convs[s.conv] = true
		}
		mu.Unlock()
		now := time.Now()
		n := map[string]int{}
		for conv := range convs {
			for _, msg := range fake.Messages(conv) {
				if b, ok := strings.CutPrefix(msg.Body, "Got "); ok && msg.Author == "system" {
					n[b]++
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		counts = n
		for b := range n {
			if _, ok := seen[b]; !ok {
				seen[b] = now
			}
		}
	}
	stopLooking := make(chan struct{})
	lookerDone := make(chan struct{})
	go func() {
		defer close(lookerDone)
		for {
			select {
			case <-stopLooking:
				return
			case <-time.After(50 * time.Millisecond):
				look()
			}
		}
	}()
	total := o.customers * o.messages
	interval := o.duration / time.Duration(total)
	next := time.Now()
	for m := range o.messages {
		for c := range o.customers {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
			body := fmt.Sprintf("c%03d-m%d", c, m)
			at := time.Now()
			in, err := fake.Inbound(t.Context(), conversations.InboundMessage{From: fmt.Sprintf("+1555%07d", c), To: stormNumber, Body: body})
			if err != nil {
				t.Fatalf("inbound %s: %v", body, err)
			}
			mu.Lock()
			bodies[body] = sent{conv: in.ConversationSid, at: at}
			mu.Unlock()
		}
	}
	res.sent = total
	res.lastSent = time.Now()
	<-killerDone

	// Wait for every reply, then a moment longer for duplicates that
	// come late.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		done := len(seen) >= len(bodies)
		mu.Unlock()
		if done {
			break
		}
	}
	time.Sleep(time.Second)
	close(stopLooking)
	<-lookerDone
	look()
	for b, s := range bodies {
		switch n := counts[b]; {
		case n == 0:
			res.missing = append(res.missing, b)
		case n > 1:
			res.duplicates = append(res.duplicates, fmt.Sprintf("%s ×%d", b, n))
		}
		if at, ok := seen[b]; ok {
			lat := at.Sub(s.at)
			res.latencies = append(res.latencies, lat)
			res.maxLatency = max(res.maxLatency, lat)
			if at.After(res.lastReply) {
				res.lastReply = at
			}
		}
	}
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })

	// Every delivery was acknowledged in the end: each message's last
	// studio attempt answered 200.
	final := map[string]conversations.WebhookAttempt{}
	for _, a := range fake.WebhookAttempts() {
		if a.EventType != "onMessageAdded" || a.Kind != "scoped" {
			continue
		}
		if prev, ok := final[a.IdempotencyToken]; !ok || a.Attempt > prev.Attempt {
			final[a.IdempotencyToken] = a
		}
	}
	for _, a := range final {
		if a.Status != http.StatusOK {
			res.unacked = append(res.unacked, fmt.Sprintf("%s attempt %d: %d %s", a.Params.Get("Body"), a.Attempt, a.Status, a.Error))
		}
	}
	if len(final) < total {
		res.unacked = append(res.unacked, fmt.Sprintf("only %d of %d messages were delivered to the flow", len(final), total))
	}
	var logs strings.Builder
	for _, r := range replicas {
		fmt.Fprintf(&logs, "--- %s\n%s", r.name, tail(r.log.String(), 40))
	}
	res.replicaLogs = logs.String()
	return res
}

// check fails t unless the storm lost, duplicated and left unacknowledged
// nothing, and the last reply came within within of the last message.
func (res stormResult) check(t *testing.T, within time.Duration) {
	t.Helper()
	p := func(q float64) time.Duration {
		if len(res.latencies) == 0 {
			return 0
		}
		return res.latencies[int(q*float64(len(res.latencies)-1))]
	}
	t.Logf("%d messages, %d SIGKILLs; reply latency p50 %v, p99 %v, max %v; last reply %v after the last message",
		res.sent, res.kills, p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), res.maxLatency.Round(time.Millisecond),
		res.lastReply.Sub(res.lastSent).Round(time.Millisecond))
	if len(res.missing) > 0 {
		t.Errorf("%d messages never answered: %v", len(res.missing), first(res.missing, 10))
	}
	if len(res.duplicates) > 0 {
		t.Errorf("%d messages answered more than once: %v", len(res.duplicates), first(res.duplicates, 10))
	}
	if len(res.unacked) > 0 {
		t.Errorf("%d deliveries not acknowledged: %v", len(res.unacked), first(res.unacked, 10))
	}
	if d := res.lastReply.Sub(res.lastSent); d > within {
		t.Errorf("the last reply came %v after the last message, want within %v", d, within)
	}
	if t.Failed() {
		t.Logf("replica logs:\n%s", res.replicaLogs)
	}
}

func first(s []string, n int) []string {
	sort.Strings(s)
	if len(s) > n {
		return s[:n]
	}
	return s
}

func tail(s string, lines int) string {
	ls := strings.SplitAfter(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestSQLiteSurvivesSIGKILL is one FlowService on SQLite killed eight times
// while customers text: nothing acknowledged is lost or answered twice, and
// after each restart the conversations move on within a lease's TTL.
func TestSQLiteSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes for about 30 s")
	}
	res := storm(t, stormOptions{
		db: filepath.Join(t.TempDir(), "flow.db"), replicas: 1,
		customers: 100, messages: 2, duration: 20 * time.Second,
		kills: 8, restartAfter: 300 * time.Millisecond,
	})
	res.check(t, 10*time.Second)
}

// TestPostgresReplicasSurviveSIGKILL is three replicas on one PostgreSQL
// behind a round-robin balancer, one at a time killed and restarted about
// ten times while hundreds of customers text: every accepted message is
// acknowledged and answered exactly once, and the last reply comes within
// 10 s of the last message (a lease's TTL is 5 s).
func TestPostgresReplicasSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes for about 40 s")
	}
	res := storm(t, stormOptions{
		db: pgtest.NewDatabase(t), replicas: 3,
		customers: 200, messages: 2, duration: 25 * time.Second,
		kills: 10, restartAfter: 500 * time.Millisecond,
	})
	res.check(t, 10*time.Second)
}

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

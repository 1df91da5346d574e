package flow

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	convapi "github.com/twilio/twilio-go/rest/conversations/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/internal/cputime"
	"github.com/convoflow/convoflow/internal/pgtest"
	"github.com/convoflow/convoflow/internal/twilioclient"
)

// benchStack is flowservice in front of the Conversations fake, with a
// wrapper around the fake's API that reports when each conversation's
// message has been posted (the flow's send-message done).
type benchStack struct {
	svc     *testService
	token   string
	hookURL string
	client  *http.Client
	mu      sync.Mutex
	posted  map[string]chan time.Time
	convs   []string
	api     *convapi.ApiService
	flowSid string
}

func startBenchStack(b *testing.B) *benchStack {
	return startBenchStackWith(b, testdataStruct(b, "flows/bench.json"))
}

// startBenchStackWith is startBenchStack publishing def.
func startBenchStackWith(b *testing.B, def *structpb.Struct) *benchStack {
	b.Helper()
	fake, err := conversations.NewServer(conversations.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = fake.Close() })
	bs := &benchStack{token: fake.AuthToken(), posted: map[string]chan time.Time{}}
	inner := fake.Handler()
	wrapper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		// POST /v1/Conversations/{CH}/Messages is the flow's send.
		parts := strings.Split(r.URL.Path, "/")
		if r.Method == http.MethodPost && len(parts) == 5 && parts[2] == "Conversations" && parts[4] == "Messages" {
			bs.mu.Lock()
			ch := bs.posted[parts[3]]
			bs.mu.Unlock()
			if ch != nil {
				select {
				case ch <- time.Now():
				default:
				}
			}
		}
	}))
	b.Cleanup(wrapper.Close)
	bs.svc = startService(b, serviceOptions{db: benchDB(b), conversationsURL: wrapper.URL, authToken: fake.AuthToken(), args: []string{"--log-level", "info"}, quiet: true})
	rest, err := twilioclient.New(twilioclient.Options{AccountSID: fake.AccountSid(), AuthToken: fake.AuthToken(), BaseURL: wrapper.URL})
	if err != nil {
		b.Fatal(err)
	}
	bs.api = rest.ConversationsV1
	bs.flowSid = deploy(b, bs.svc.clients[0], "bench", def)
	bs.hookURL = bs.svc.url + webhookPath(testAccountSid, bs.flowSid)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 512
	bs.client = &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	return bs
}

// prepare creates n conversations (outside the timed part) for n events.
func (bs *benchStack) prepare(b *testing.B, n int) {
	b.Helper()
	bs.convs = bs.convs[:0]
	for range n {
		c, err := bs.api.CreateConversation(nil)
		if err != nil {
			b.Fatal(err)
		}
		bs.mu.Lock()
		bs.posted[*c.Sid] = make(chan time.Time, 1)
		bs.mu.Unlock()
		bs.convs = append(bs.convs, *c.Sid)
	}
}

// deliver posts conversation i's first customer message as Conversations
// would (signed onMessageAdded form) and returns when the service has
// recorded it.
func (bs *benchStack) deliver(i int) error { return bs.deliverMessage(i, 0) }

// deliverMessage posts message number index of conversation i.
func (bs *benchStack) deliverMessage(i, index int) error {
	ch := bs.convs[i]
	sid := "IM" + ch[2:]
	if index > 0 {
		// Another message of the conversation: another SID of the same
		// shape, unique per conversation as the runner's dedup needs.
		sid = "IM" + ch[2:30] + fmt.Sprintf("%04x", index)
	}
	form := url.Values{
		"EventType": {"onMessageAdded"}, "AccountSid": {testAccountSid}, "ConversationSid": {ch},
		"MessageSid": {sid}, "Index": {strconv.Itoa(index)}, "Author": {"+15550001111"}, "Body": {"order " + strconv.Itoa(i)},
		"Source": {"SMS"}, "Attributes": {"{}"}, "DateCreated": {time.Now().UTC().Format(time.RFC3339)}, "RetryCount": {"0"},
	}
	req, err := http.NewRequest(http.MethodPost, bs.hookURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", conversations.Signature(bs.token, bs.hookURL, form))
	resp, err := bs.client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

// deliverAll delivers the first message of conversations 0…n-1 from 64
// concurrent senders and returns once every webhook is acknowledged.
func (bs *benchStack) deliverAll(b *testing.B, n int) {
	b.Helper()
	const senders = 64
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			for i := range next {
				if err := bs.deliver(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// wait blocks until conversation i's reply was posted and returns when.
func (bs *benchStack) wait(ctx context.Context, i int) (time.Time, error) {
	bs.mu.Lock()
	ch := bs.posted[bs.convs[i]]
	bs.mu.Unlock()
	select {
	case t := <-ch:
		return t, nil
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("conversation %d: no reply posted: %w", i, ctx.Err())
	}
}

// benchStore is the store BenchmarkWebhookToMessage runs on: BENCH_STORE
// is sqlite (the default) or postgres.
func benchStore(b *testing.B) string {
	switch s := os.Getenv("BENCH_STORE"); s {
	case "", "sqlite":
		return "sqlite"
	case "postgres":
		return s
	default:
		b.Fatalf("BENCH_STORE=%q: want sqlite or postgres", s)
		return ""
	}
}

// benchDB is the --db of a benchmark's service: an SQLite file, or a fresh
// database on internal/pgtest's PostgreSQL.
func benchDB(b *testing.B) string {
	if benchStore(b) == "postgres" {
		return pgtest.NewDatabase(b)
	}
	return filepath.Join(b.TempDir(), "flow.db")
}

// BenchmarkWebhookToMessage measures webhook → durable event → execution
// → send-message posted to the Conversations fake, over loopback, with the
// store BENCH_STORE names (SQLite on disk by default, or PostgreSQL; the
// benchmark logs which). The sub-benchmarks are named for the workload
// alone, so that -bench 'BenchmarkWebhookToMessage/(throughput|paced_500)$'
// selects the same runs on either store.
//
//   - throughput: 64 concurrent senders, executions/s.
//   - paced_100, paced_500: events sent at 100/s and 500/s; latency from
//     posting the webhook to its acknowledgement and to the fake receiving
//     the flow's message, p50 and p99.
func BenchmarkWebhookToMessage(b *testing.B) {
	b.Logf("store: %s (BENCH_STORE)", benchStore(b))
	b.Run("throughput", func(b *testing.B) {
		bs := startBenchStack(b)
		bs.prepare(b, b.N)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		b.ResetTimer()
		start, cpu0 := time.Now(), cputime.Process()
		bs.deliverAll(b, b.N)
		for i := range b.N {
			if _, err := bs.wait(ctx, i); err != nil {
				b.Fatal(err)
			}
		}
		elapsed, cpu := time.Since(start), cputime.Process()-cpu0
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "execs/s")
		// CPU of the whole process (service, fake and senders) per
		// execution: steadier than throughput on a shared machine.
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/exec")
	})
	for _, rate := range []int{100, 500} {
		b.Run(fmt.Sprintf("paced_%d", rate), func(b *testing.B) { benchPaced(b, rate) })
	}
}

// benchPaced sends events at rate per second (open loop: event i goes out
// at start + i/rate whatever happened to the earlier ones) and reports the
// latency from posting the webhook to its 200 (ack: the event is durable)
// and to the flow's message reaching the fake (done).
func benchPaced(b *testing.B, rate int) {
	bs := startBenchStack(b)
	bs.prepare(b, b.N)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	interval := time.Second / time.Duration(rate)
	acks := make([]time.Duration, b.N)
	dones := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	errs := make(chan error, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			sent := time.Now()
			if err := bs.deliver(i); err != nil {
				errs <- err
				return
			}
			acks[i] = time.Since(sent)
			done, err := bs.wait(ctx, i)
			if err != nil {
				errs <- err
				return
			}
			dones[i] = done.Sub(sent)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	pct := func(ds []time.Duration, p float64) float64 {
		return float64(ds[int(p*float64(len(ds)-1))]) / float64(time.Millisecond)
	}
	slices.Sort(acks)
	slices.Sort(dones)
	b.ReportMetric(pct(acks, 0.50), "ack-p50-ms")
	b.ReportMetric(pct(acks, 0.99), "ack-p99-ms")
	b.ReportMetric(pct(dones, 0.50), "p50-ms")
	b.ReportMetric(pct(dones, 0.99), "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "execs/s")
}

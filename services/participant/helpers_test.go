package participant_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"github.com/twilio/twilio-go"
	twconv "github.com/twilio/twilio-go/rest/conversations/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/convoflow/convoflow/fakes/conversations"
	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/internal/twiliosig"
	"github.com/convoflow/convoflow/services/participant"
)

// Numbers used throughout: customers, agents and the service's Twilio number.
const (
	twilioNumber  = "+15017122661"
	twilioNumber2 = "+15017122662"
)

// numbers hands out distinct phone numbers: tests share a fake, and a
// binding may sit in only one open conversation (50416).
var numbers atomic.Int64

// number returns a phone number no other test uses.
func number() string { return fmt.Sprintf("+1555%07d", numbers.Add(1)) }

// startFake starts an in-process Conversations fake with deterministic SIDs.
func startFake(tb testing.TB) *conversations.Server {
	tb.Helper()
	fake, err := conversations.NewServer(conversations.Options{Seed: 7})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = fake.Close() })
	return fake
}

// sdk is a twilio-go client on the fake, for setting up state the way any
// other Conversations client would.
func sdk(tb testing.TB, fake *conversations.Server) *twilio.RestClient {
	tb.Helper()
	rc, err := twilioclient.New(twilioclient.Options{AccountSID: fake.AccountSid(), AuthToken: fake.AuthToken(), BaseURL: fake.URL()})
	if err != nil {
		tb.Fatal(err)
	}
	return rc
}

// newConversation creates an active conversation in the fake.
func newConversation(tb testing.TB, fake *conversations.Server) string {
	tb.Helper()
	c, err := sdk(tb, fake).ConversationsV1.CreateConversation(&twconv.CreateConversationParams{})
	if err != nil {
		tb.Fatal(err)
	}
	return *c.Sid
}

// closeConversation moves a conversation to its final closed state.
func closeConversation(tb testing.TB, fake *conversations.Server, sid string) {
	tb.Helper()
	if _, err := sdk(tb, fake).ConversationsV1.UpdateConversation(sid, (&twconv.UpdateConversationParams{}).SetState("closed")); err != nil {
		tb.Fatal(err)
	}
}

// addBinding puts an SMS participant into a conversation directly, as
// another system (or a person in the console) would.
func addBinding(tb testing.TB, fake *conversations.Server, conv, addr, proxy string) string {
	tb.Helper()
	p, err := sdk(tb, fake).ConversationsV1.CreateConversationParticipant(conv,
		(&twconv.CreateConversationParticipantParams{}).SetMessagingBindingAddress(addr).SetMessagingBindingProxyAddress(proxy))
	if err != nil {
		tb.Fatal(err)
	}
	return *p.Sid
}

// requestsFor counts the fake's recorded API requests whose path mentions s.
func requestsFor(fake *conversations.Server, method, s string) int {
	n := 0
	for _, r := range fake.Requests() {
		if strings.Contains(r.Path, s) && (method == "" || r.Method == method) {
			n++
		}
	}
	return n
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// sink, when set, receives the writes instead of buf.
	sink io.Writer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sink != nil {
		return b.sink.Write(p)
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testService is a running participantservice.
type testService struct {
	main *participant.Main
	url  string
	addr string
	logs *syncBuffer
}

// writeRoster writes a roster file and returns its path.
func writeRoster(tb testing.TB, yaml string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "agents.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// startService runs participantservice (the same Main the binary runs) on
// 127.0.0.1:0 against fake, after edit adjusts the configuration.
func startService(tb testing.TB, fake *conversations.Server, edit func(*participant.Config)) *testService {
	tb.Helper()
	cfg := participant.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.ConversationsURL = fake.URL()
	cfg.AccountSID, cfg.AuthToken = fake.AccountSid(), fake.AuthToken()
	cfg.DefaultProxyAddress = twilioNumber
	if edit != nil {
		edit(&cfg)
	}
	logs := &syncBuffer{}
	m, err := participant.NewMain(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		cancel()
		tb.Fatalf("Run: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return &testService{main: m, url: m.URL(), addr: m.Addr().String(), logs: logs}
}

// h2cClient speaks HTTP/2 with prior knowledge, as gRPC clients do.
func h2cClient(tb testing.TB) *http.Client {
	tb.Helper()
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p, MaxIdleConnsPerHost: 100}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// clients returns the service's client through each stack the tests drive
// it with: connect-go speaking the Connect protocol, and grpc-go.
func clients(tb testing.TB, ts *testService) map[string]participantv1connect.ParticipantServiceClient {
	tb.Helper()
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return map[string]participantv1connect.ParticipantServiceClient{
		"connect": participantv1connect.NewParticipantServiceClient(h2cClient(tb), ts.url),
		"grpc_go": grpcClient{participantv1.NewParticipantServiceClient(conn)},
	}
}

// grpcClient adapts the grpc-go stub to the connect client interface, so
// one test body drives both.
type grpcClient struct {
	c participantv1.ParticipantServiceClient
}

func (g grpcClient) AddParticipant(ctx context.Context, r *participantv1.AddParticipantRequest) (*participantv1.AddParticipantResponse, error) {
	return g.c.AddParticipant(ctx, r)
}

func (g grpcClient) GetParticipant(ctx context.Context, r *participantv1.GetParticipantRequest) (*participantv1.GetParticipantResponse, error) {
	return g.c.GetParticipant(ctx, r)
}

func (g grpcClient) ListParticipants(ctx context.Context, r *participantv1.ListParticipantsRequest) (*participantv1.ListParticipantsResponse, error) {
	return g.c.ListParticipants(ctx, r)
}

func (g grpcClient) UpdateParticipant(ctx context.Context, r *participantv1.UpdateParticipantRequest) (*participantv1.UpdateParticipantResponse, error) {
	return g.c.UpdateParticipant(ctx, r)
}

func (g grpcClient) RemoveParticipant(ctx context.Context, r *participantv1.RemoveParticipantRequest) (*participantv1.RemoveParticipantResponse, error) {
	return g.c.RemoveParticipant(ctx, r)
}

func (g grpcClient) AddSupportAgent(ctx context.Context, r *participantv1.AddSupportAgentRequest) (*participantv1.AddSupportAgentResponse, error) {
	return g.c.AddSupportAgent(ctx, r)
}

func (g grpcClient) ListAgents(ctx context.Context, r *participantv1.ListAgentsRequest) (*participantv1.ListAgentsResponse, error) {
	return g.c.ListAgents(ctx, r)
}

// rpcError is an RPC error as either stack reports it.
type rpcError struct {
	code     connect.Code
	message  string
	twilio   *participantv1.TwilioError
	conflict *participantv1.BindingConflict
}

// errorOf decodes a connect-go or grpc-go error with its details.
func errorOf(tb testing.TB, err error) rpcError {
	tb.Helper()
	if err == nil {
		tb.Fatal("call succeeded, want an error")
	}
	var out rpcError
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		out.code, out.message = cerr.Code(), cerr.Message()
		for _, d := range cerr.Details() {
			m, derr := d.Value()
			if derr != nil {
				tb.Fatalf("error detail: %v", derr)
			}
			out.add(m)
		}
		return out
	}
	st, ok := status.FromError(err)
	if !ok {
		tb.Fatalf("not an RPC error: %v", err)
	}
	out.code, out.message = connect.Code(st.Code()), st.Message()
	for _, d := range st.Details() {
		if derr, isErr := d.(error); isErr {
			tb.Fatalf("error detail: %v", derr)
		}
		out.add(d)
	}
	return out
}

func (e *rpcError) add(m any) {
	switch m := m.(type) {
	case *participantv1.TwilioError:
		e.twilio = m
	case *participantv1.BindingConflict:
		e.conflict = m
	}
}

// quietLogger discards logs.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// postSigned POSTs body to rawURL signed with X-Twilio-Signature under
// authToken, as FlowService's run-function and Twilio sign: form bodies with
// their parameters, other bodies with the bodySHA256 query parameter.
func postSigned(tb testing.TB, authToken, rawURL, contentType, body string) *http.Response {
	tb.Helper()
	var params url.Values
	if contentType == "application/x-www-form-urlencoded" {
		var err error
		if params, err = url.ParseQuery(body); err != nil {
			tb.Fatal(err)
		}
	} else {
		sum := sha256.Sum256([]byte(body))
		rawURL += "?bodySHA256=" + hex.EncodeToString(sum[:])
	}
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, rawURL, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(twiliosig.Header, twiliosig.Sign(authToken, rawURL, params))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// participants lists a conversation's participants through the SDK.
func participants(tb testing.TB, fake *conversations.Server, conv string) []twconv.ConversationsV1ConversationParticipant {
	tb.Helper()
	ps, err := sdk(tb, fake).ConversationsV1.ListConversationParticipant(conv, &twconv.ListConversationParticipantParams{})
	if err != nil {
		tb.Fatal(err)
	}
	return ps
}

package flow

import (
	"context"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/convoflow/convoflow/internal/syncbuf"
	"github.com/convoflow/convoflow/services/flow/store/sqlite"
)

// testService is flowservice started by Run on 127.0.0.1:0, as the binary
// runs, with its own SQLite file.
type testService struct {
	logs    *logWatch
	url     string
	addr    string
	db      string
	clients []namedClient
	// stop shuts the service down and returns Run's error; Cleanup calls
	// it too.
	stop func() error
}

// serviceOptions tunes startService.
type serviceOptions struct {
	// db is the SQLite file; empty means a new one in a temporary directory.
	db string
	// conversationsURL is the Conversations API (the fake); empty means an
	// address nothing listens on, for tests that send nothing.
	conversationsURL string
	authToken        string
	args             []string
	// env holds more environment variables (OTEL_…, say).
	env map[string]string
	// quiet drops the log once the service listens (benchmarks, whose
	// request log would otherwise grow without bound).
	quiet bool
}

var listeningRE = regexp.MustCompile(`msg="listening on ([^"]+)"`)

// logWatch collects Run's log and reports the address it listens on.
type logWatch struct {
	buf   syncbuf.Buffer
	mu    sync.Mutex
	addr  string
	ready chan struct{}
	quiet bool
}

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.quiet && l.addr != "" {
		return len(p), nil
	}
	n, err := l.buf.Write(p)
	if l.addr == "" {
		if m := listeningRE.FindStringSubmatch(l.buf.String()); m != nil {
			l.addr = m[1]
			close(l.ready)
		}
	}
	return n, err
}

func startService(tb testing.TB, o serviceOptions) *testService {
	tb.Helper()
	if o.db == "" {
		o.db = filepath.Join(tb.TempDir(), "flow.db")
	}
	if o.conversationsURL == "" {
		o.conversationsURL = "http://127.0.0.1:9"
	}
	if o.authToken == "" {
		o.authToken = "testtoken"
	}
	args := append([]string{
		"--listen", "127.0.0.1:0", "--db", o.db, "--conversations-url", o.conversationsURL,
		"--account-sid", testAccountSid, "--log-level", "debug",
	}, o.args...)
	// The auth token comes from the environment, as deployments pass
	// secrets.
	env := map[string]string{"FLOWSERVICE_AUTH_TOKEN": o.authToken}
	for k, v := range o.env {
		env[k] = v
	}
	logs := &logWatch{ready: make(chan struct{}), quiet: o.quiet}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, args, func(k string) string { return env[k] }, logs) }()
	select {
	case <-logs.ready:
	case err := <-done:
		cancel()
		tb.Fatalf("Run: %v\n%s", err, logs.buf.String())
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatalf("flowservice did not log 'listening on'\n%s", logs.buf.String())
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("Run: %v", err)
		}
		if tb.Failed() {
			tb.Logf("flowservice log:\n%s", logs.buf.String())
		}
	})
	return &testService{logs: logs, url: "http://" + logs.addr, addr: logs.addr, db: o.db, clients: clientsFor(tb, logs.addr), stop: stop}
}

// openStore opens a second store on the service's SQLite file, for tests
// that record or inspect rows directly (SQLite serialises the writers).
func (ts *testService) openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), ts.db, sqlite.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

// startHandler starts a service for the tests that need no Conversations
// API.
func startHandler(tb testing.TB) *handlerServer {
	tb.Helper()
	ts := startService(tb, serviceOptions{})
	return &handlerServer{testService: ts, store: ts.openStore(tb)}
}

type handlerServer struct {
	*testService
	store *sqlite.Store
}

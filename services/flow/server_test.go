package flow

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store/sqlite"
)

// handlerServer is the FlowService handler served in-process over h2c with
// a fresh SQLite store, for the RPCs that need no runner.
type handlerServer struct {
	url     string
	store   *sqlite.Store
	clients []namedClient
}

type failingMessenger struct{}

func (failingMessenger) Send(context.Context, engine.OutboundMessage) (engine.SentMessage, error) {
	return engine.SentMessage{}, errors.New("this test server sends no messages")
}

func startHandler(tb testing.TB) *handlerServer {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "flow.db"), sqlite.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	eng, err := engine.New(engine.Options{Clock: engine.SystemClock{}, IDs: engine.RandomIDs{}, Messenger: failingMessenger{}})
	if err != nil {
		tb.Fatal(err)
	}
	hs := &handlerServer{store: st}
	svc, err := New(Deps{Store: st, Engine: eng, AccountSid: testAccountSid, PublicURL: func() string { return hs.url }, Logger: testLogger(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	path, h := flowv1connect.NewFlowServiceHandler(svc, serve.HandlerOptions(0)...)
	srv, err := serve.New(serve.Config{
		Name:     "flowservice",
		Addr:     "127.0.0.1:0",
		Logger:   testLogger(tb),
		Services: []serve.Service{{Name: flowv1connect.FlowServiceName, Path: path, Handler: h}},
		Routes:   []serve.Route{{Pattern: "GET /unused", Handler: http.NotFoundHandler()}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		tb.Fatalf("Run: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
		if err := st.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	hs.url = srv.URL()
	hs.clients = clientsFor(tb, srv.Addr().String())
	return hs
}

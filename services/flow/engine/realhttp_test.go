package engine

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/internal/shared"
)

// clientDoer is the HTTPDoer FlowService is expected to write: net/http
// underneath, with Function URLs of an export mapped to a local server.
type clientDoer struct {
	client *http.Client
	// rewrite maps a URL prefix to another.
	from, to string
}

func (d *clientDoer) Do(ctx context.Context, r *HTTPRequest) (*HTTPResponse, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, strings.Replace(r.URL, d.from, d.to, 1), bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	return &HTTPResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: resp.Body}, nil
}

// TestRealHTTP runs the support-agent flow with its Function answered by
// an httptest server through a net/http client, and checks that a body
// streamed past 64 kB is cut off and fails the widget.
func TestRealHTTP(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(shared.Path(t, "flows/support-agent.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch r.Form.Get("conversationID") {
		case "CH00000000000000000000000000000001":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"agent":"agent-7"}`)
		default:
			// An endless body: the engine must stop reading after 64 kB + 1.
			w.Header().Set("Content-Type", "text/plain")
			chunk := bytes.Repeat([]byte("x"), 4096)
			for range 1024 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name, conversation, wantLast string
		wantErr                      bool
	}{
		{"function_answers", "CH00000000000000000000000000000001", "sent", false},
		{"function_body_too_large", "CH00000000000000000000000000000002", "fail", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Options{Clock: &testClock{now: testStart}, IDs: &seqIDs{}, Messenger: &fakeMessenger{},
				HTTP: &clientDoer{client: srv.Client(), from: "https://support-1234-dev.twil.io", to: srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			def, err := e.Read(t.Context(), data)
			if err != nil {
				t.Fatal(err)
			}
			tr := (&triggerSpec{}).trigger()
			tr.Conversation.Body = "support"
			tr.Conversation.ConversationSid = tt.conversation
			res, err := e.Start(t.Context(), def, tr)
			if err != nil {
				t.Fatal(err)
			}
			last := res.Steps[len(res.Steps)-1]
			if last.Name != tt.wantLast || (last.Error != nil) != tt.wantErr {
				t.Fatalf("last step %s %+v, want %s (error %v)", last.Name, last.Error, tt.wantLast, tt.wantErr)
			}
			if !tt.wantErr {
				fn := res.Execution.Context.Widgets["add-support-agent"].(map[string]any)
				if got := fn["parsed"].(map[string]any)["agent"]; got != "agent-7" {
					t.Errorf("parsed.agent = %v", got)
				}
			}
		})
	}
}

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
	"github.com/convoflow/convoflow/services/flow/store/sqlite"
)

func TestParseFunctionMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []string
		wantErr bool
	}{
		{"none", nil, false},
		{"one", []string{"https://support-1234-dev.twil.io=http://127.0.0.1:8082/functions"}, false},
		{"spaces", []string{" https://a.twil.io = http://127.0.0.1:1 "}, false},
		{"no_equals", []string{"https://a.twil.io"}, true},
		{"empty_target", []string{"https://a.twil.io="}, true},
		{"not_http", []string{"ftp://a=http://b"}, true},
		{"no_host", []string{"https://=http://b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ParseFunctionMap(tt.entries); (err != nil) != tt.wantErr {
				t.Errorf("ParseFunctionMap(%q) = %v, want error %v", tt.entries, err, tt.wantErr)
			}
		})
	}
}

func TestHTTPDoerRewritesAndAuth(t *testing.T) {
	t.Parallel()
	type seen struct {
		path, query, user, pass, body, ctype string
		auth                                 bool
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, ok := r.BasicAuth()
		got <- seen{r.URL.Path, r.URL.RawQuery, u, p, string(b), r.Header.Get("Content-Type"), ok}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	d, err := newHTTPDoer(srv.Client(), []string{
		"https://fn.twil.io=" + srv.URL + "/short",
		"https://fn.twil.io/deep=" + srv.URL + "/long",
	}, "AC1", "secret")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  engine.HTTPRequest
		want seen
	}{
		{
			name: "longest_prefix_wins",
			req:  engine.HTTPRequest{Method: "POST", URL: "https://fn.twil.io/deep/x?a=1", Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: []byte("k=v")},
			want: seen{path: "/long/x", query: "a=1", body: "k=v", ctype: "application/x-www-form-urlencoded"},
		},
		{
			name: "shorter_prefix",
			req:  engine.HTTPRequest{Method: "GET", URL: "https://fn.twil.io/add"},
			want: seen{path: "/short/add"},
		},
		{
			name: "unmapped_url_and_twilio_auth",
			req:  engine.HTTPRequest{Method: "GET", URL: srv.URL + "/direct", TwilioAuth: true},
			want: seen{path: "/direct", user: "AC1", pass: "secret", auth: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := d.Do(context.Background(), &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status %d", resp.StatusCode)
			}
			if s := <-got; s != tt.want {
				t.Errorf("request %+v, want %+v", s, tt.want)
			}
		})
	}
	if _, err := d.Do(context.Background(), &engine.HTTPRequest{Method: "GET", Widget: "fn"}); err == nil {
		t.Error("an empty URL was called")
	}
}

// TestOutboundClientHonoursTheContext checks that the default client,
// which has no timeout of its own, ends a call when the context the engine
// gives it ends: before the response, and while reading its body.
func TestOutboundClientHonoursTheContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "partial")
			http.NewResponseController(w).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c, err := outboundClient([]string{"127.0.0.1/32"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newHTTPDoer(c, nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"before_the_response": "/headers", "reading_the_body": "/body"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			resp, err := d.Do(ctx, &engine.HTTPRequest{Method: "GET", URL: srv.URL + path})
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("GET %s: %v, want the context's deadline", path, err)
			}
		})
	}
}

func TestFireTimeRoundsUp(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in, want time.Time
	}{
		{base, base},
		{base.Add(1500 * time.Nanosecond), base.Add(2 * time.Microsecond)},
		{base.Add(3 * time.Microsecond), base.Add(3 * time.Microsecond)},
	}
	for _, tt := range tests {
		if got := fireTime(tt.in); !got.Equal(tt.want) {
			t.Errorf("fireTime(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestEventExecutionSIDIsStable(t *testing.T) {
	t.Parallel()
	a := eventExecutionSID("FW00000000000000000000000000000001", 7)
	if a != eventExecutionSID("FW00000000000000000000000000000001", 7) {
		t.Error("not deterministic")
	}
	if a == eventExecutionSID("FW00000000000000000000000000000001", 8) || a == eventExecutionSID("FW00000000000000000000000000000002", 7) {
		t.Error("collides across events or flows")
	}
	if err := store.CheckSID("execution", store.PrefixExecution, a); err != nil {
		t.Error(err)
	}
}

func TestSubflowResolver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const sid = "FW00000000000000000000000000000001"
	def := func(d string) []byte {
		return []byte(`{"description":"` + d + `","initial_state":"Trigger","states":[{"name":"Trigger","type":"trigger","transitions":[],"properties":{}}]}`)
	}
	if _, err := st.CreateFlow(ctx, store.Flow{SID: sid, FriendlyName: "sub", Status: store.FlowStatusPublished, Definition: def("one"), Valid: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateFlow(ctx, store.FlowUpdate{SID: sid, FriendlyName: "sub", Status: store.FlowStatusDraft, Definition: def("two"), Valid: true}); err != nil {
		t.Fatal(err)
	}
	res := &subflowResolver{st: st, defs: newDefCache()}
	tests := []struct {
		flow, revision string
		want           int
		wantDesc       string
		wantErr        error
	}{
		{sid, "LatestPublished", 1, "one", nil},
		{sid, "LatestRevision", 2, "two", nil},
		{sid, "LatestDraft", 2, "two", nil},
		{sid, "1", 1, "one", nil},
		{sid, "2", 2, "two", nil},
		{sid, "3", 0, "", engine.ErrSubflowNotFound},
		{sid, "latest", 0, "", engine.ErrSubflowNotFound},
		{"FW00000000000000000000000000000009", "LatestPublished", 0, "", engine.ErrSubflowNotFound},
	}
	for _, tt := range tests {
		got, err := res.ResolveSubflow(ctx, tt.flow, tt.revision)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s@%s: %v, want %v", tt.flow, tt.revision, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Revision != tt.want || got.Definition.Description != tt.wantDesc {
			t.Errorf("%s@%s: %+v, %v; want revision %d (%s)", tt.flow, tt.revision, got, err, tt.want, tt.wantDesc)
		}
	}
}

// TestStoredStateLayouts checks that encodeState keeps the context out of
// the state, and that decodeExecution reads both layouts: the current one
// (context in its column) and rows written before 2026-12-07, whose state
// held the context too (which then wins over the column).
func TestStoredStateLayouts(t *testing.T) {
	t.Parallel()
	x := &engine.Execution{
		Sid: "FN00000000000000000000000000000001", FlowSid: "FW00000000000000000000000000000001", Status: engine.StatusActive,
		TriggerEvent: "incomingConversationMessage", StepCount: 2, Wait: &engine.Wait{Widget: "ask", Until: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)},
		Context: engine.Context{
			Trigger: map[string]any{"conversation": map[string]any{"Body": "hi", "Index": int64(1)}},
			Flow:    engine.FlowContext{FlowSid: "FW00000000000000000000000000000001", Data: map[string]any{}, Variables: map[string]any{"n": int64(3)}},
			Widgets: map[string]any{"ask": map[string]any{"outbound": map[string]any{"Body": "name?"}}},
		},
		DateCreated: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), DateUpdated: time.Date(2026, 12, 7, 0, 0, 1, 0, time.UTC),
	}
	state, xctx, err := encodeState(x)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), `"context"`) {
		t.Errorf("the state repeats the context: %s", state)
	}
	got, err := decodeExecution(store.Execution{SID: x.Sid, State: state, Context: xctx})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Errorf("current layout:\n got %#v\nwant %#v", got, x)
	}

	old, err := json.Marshal(x) // the state as it was: the whole execution
	if err != nil {
		t.Fatal(err)
	}
	got, err = decodeExecution(store.Execution{SID: x.Sid, State: old, Context: json.RawMessage(`{"trigger":{"stale":true}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Errorf("old layout:\n got %#v\nwant %#v", got, x)
	}

	if _, err := decodeExecution(store.Execution{SID: x.Sid, State: state, Context: json.RawMessage(`{"trigger":`)}); err == nil {
		t.Error("a truncated context decoded")
	}
}

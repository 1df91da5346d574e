package conversations_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"

	"github.com/convoflow/convoflow/fakes/conversations"
)

// fixedClock is a settable test clock.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fixedClock {
	return &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startFake starts a fake on a loopback port and stops it with the test.
func startFake(tb testing.TB, opts conversations.Options) *conversations.Server {
	tb.Helper()
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	srv, err := conversations.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	return srv
}

// sdk is an official twilio-go client whose transport sends every request
// to srv (reference shape A: only the dial address changes).
func sdk(srv *conversations.Server) *twilio.RestClient {
	base := &client.Client{
		Credentials: client.NewCredentials(srv.AccountSid(), srv.AuthToken()),
		HTTPClient:  srv.HTTPClient(),
	}
	base.SetAccountSid(srv.AccountSid())
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: base})
}

// apiResponse is a raw HTTP answer from the fake.
type apiResponse struct {
	Status int
	Header http.Header
	Raw    []byte
	JSON   map[string]any
}

// call sends one authenticated request: form in the body for POST, in the
// query otherwise.
func call(tb testing.TB, srv *conversations.Server, method, path string, form url.Values, header ...string) apiResponse {
	tb.Helper()
	var body io.Reader
	u := srv.URL() + path
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if len(form) > 0 {
		u += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(srv.AccountSid(), srv.AuthToken())
	for i := 0; i+1 < len(header); i += 2 {
		switch header[i] {
		case "Authorization":
			req.Header.Del("Authorization")
		case "Host":
			req.Host = header[i+1] // Go sends req.Host, not a Host header
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	r := apiResponse{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.JSON); err != nil {
			tb.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return r
}

// mustCall is call that fails the test unless the status is want.
func mustCall(tb testing.TB, want int, srv *conversations.Server, method, path string, form url.Values, header ...string) map[string]any {
	tb.Helper()
	r := call(tb, srv, method, path, form, header...)
	if r.Status != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r.JSON
}

// receivedHook is one request a test webhook receiver got.
type receivedHook struct {
	Path   string
	Header http.Header
	Form   url.Values
	URL    string
}

// hookReceiver is a webhook endpoint that records requests and answers with
// the status (and body) its respond function chooses.
type hookReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []receivedHook
	respond func(n int, h receivedHook) (int, string)
}

func newHookReceiver(tb testing.TB, respond func(n int, h receivedHook) (int, string)) *hookReceiver {
	tb.Helper()
	hr := &hookReceiver{respond: respond}
	hr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		h := receivedHook{Path: r.URL.Path, Header: r.Header.Clone(), Form: r.PostForm, URL: "http://" + r.Host + r.URL.RequestURI()}
		if r.Method == http.MethodGet {
			h.Form = r.URL.Query()
		}
		hr.mu.Lock()
		hr.got = append(hr.got, h)
		n := len(hr.got)
		hr.mu.Unlock()
		status, body := http.StatusOK, ""
		if hr.respond != nil {
			status, body = hr.respond(n, h)
		}
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	tb.Cleanup(hr.Close)
	return hr
}

func (hr *hookReceiver) received() []receivedHook {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return append([]receivedHook(nil), hr.got...)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

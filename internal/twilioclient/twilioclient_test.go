package twilioclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twilio/twilio-go/client"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/convoflow/convoflow/internal/twilioclient"
)

const (
	accountSID = "AC00000000000000000000000000000000"
	authToken  = "faketoken123"
	convSID    = "CH00000000000000000000000000000001"
)

// seen is one request as it arrived at the test server.
type seen struct {
	Method, Path, Query, Host, User, Password, ContentType string
	Form                                                   url.Values
	BasicAuth                                              bool
}

// recordingServer starts an httptest server on 127.0.0.1 that records each
// request and answers with handle.
func recordingServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, func() []seen) {
	t.Helper()
	var mu sync.Mutex
	var reqs []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		mu.Lock()
		reqs = append(reqs, seen{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host,
			User: user, Password: pass, BasicAuth: ok, ContentType: r.Header.Get("Content-Type"), Form: form,
		})
		mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), reqs...)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func participantJSON(sid, address string) map[string]any {
	return map[string]any{
		"sid": sid, "account_sid": accountSID, "conversation_sid": convSID,
		"identity": nil, "attributes": "{}", "role_sid": "RL00000000000000000000000000000001",
		"messaging_binding": map[string]any{"type": "sms", "address": address, "proxy_address": "+15550000000"},
		"date_created":      "2026-11-25T10:00:00Z", "date_updated": "2026-11-25T10:00:00Z",
	}
}

func TestNew_createParticipantReachesBaseURL(t *testing.T) {
	t.Parallel()
	srv, requests := recordingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusCreated, participantJSON("MB00000000000000000000000000000001", "+15551230001"))
	})
	for _, base := range []string{srv.URL, srv.URL + "/"} {
		rc, err := twilioclient.New(twilioclient.Options{AccountSID: accountSID, AuthToken: authToken, BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		params := &conversations.CreateConversationParticipantParams{}
		params.SetMessagingBindingAddress("+15551230001").SetMessagingBindingProxyAddress("+15550000000")
		p, err := rc.ConversationsV1.CreateConversationParticipant(convSID, params)
		if err != nil {
			t.Fatalf("base %q: CreateConversationParticipant: %v", base, err)
		}
		if p.Sid == nil || *p.Sid != "MB00000000000000000000000000000001" {
			t.Errorf("base %q: participant SID = %v", base, p.Sid)
		}
	}
	want := seen{
		Method: http.MethodPost, Path: "/v1/Conversations/" + convSID + "/Participants",
		// The Host header keeps the product host: only the connection is
		// redirected.
		Host: "conversations.twilio.com", User: accountSID, Password: authToken, BasicAuth: true,
		ContentType: "application/x-www-form-urlencoded",
		Form: url.Values{
			"MessagingBinding.Address":      {"+15551230001"},
			"MessagingBinding.ProxyAddress": {"+15550000000"},
		},
	}
	for _, got := range requests() {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request mismatch (-want +got):\n%s", diff)
		}
	}
	if n := len(requests()); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
}

func TestNew_pathPrefix(t *testing.T) {
	t.Parallel()
	srv, requests := recordingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, participantJSON("MB00000000000000000000000000000001", "+15551230001"))
	})
	rc, err := twilioclient.New(twilioclient.Options{AccountSID: accountSID, AuthToken: authToken, BaseURL: srv.URL + "/fake/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ConversationsV1.FetchConversationParticipant(convSID, "MB00000000000000000000000000000001"); err != nil {
		t.Fatal(err)
	}
	got := requests()
	if len(got) != 1 || got[0].Method != http.MethodGet ||
		got[0].Path != "/fake/v1/Conversations/"+convSID+"/Participants/MB00000000000000000000000000000001" {
		t.Errorf("requests = %+v, want one GET under /fake/v1/…", got)
	}
}

// TestNewHTTPClient_leavesTheRequestAlone checks that redirecting a request
// changes only the copy sent on: a RoundTripper must not modify its
// caller's request, which twilio-go may look at again (to follow a page
// link, say).
func TestNewHTTPClient_leavesTheRequestAlone(t *testing.T) {
	t.Parallel()
	srv, requests := recordingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	hc, err := twilioclient.NewHTTPClient(srv.URL+"/fake", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	const target = "https://conversations.twilio.com/v1/Conversations/" + convSID + "/Participants?PageSize=5"
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Twilio-Test", "1")
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if got := req.URL.String(); got != target {
		t.Errorf("caller's URL became %q, want %q", got, target)
	}
	if len(req.Header) != 1 || req.Header.Get("X-Twilio-Test") != "1" {
		t.Errorf("caller's headers became %v", req.Header)
	}
	got := requests()
	if len(got) != 1 || got[0].Path != "/fake/v1/Conversations/"+convSID+"/Participants" || got[0].Query != "PageSize=5" {
		t.Errorf("requests = %+v, want one GET of /fake/v1/…/Participants?PageSize=5", got)
	}
}

// TestNew_pagingFollowsNextPageURL checks that next_page_url links, which
// name the real Twilio host, are redirected too.
func TestNew_pagingFollowsNextPageURL(t *testing.T) {
	t.Parallel()
	const pageURL = "https://conversations.twilio.com/v1/Conversations/" + convSID + "/Participants"
	srv, requests := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		page := map[string]any{
			"meta": map[string]any{
				"page": 0, "page_size": 1, "key": "participants",
				"url":            pageURL + "?PageSize=1&Page=0",
				"first_page_url": pageURL + "?PageSize=1&Page=0",
				"next_page_url":  pageURL + "?PageSize=1&Page=1&PageToken=PT1",
			},
			"participants": []any{participantJSON("MB00000000000000000000000000000001", "+15551230001")},
		}
		if r.URL.Query().Get("PageToken") == "PT1" {
			page = map[string]any{
				"meta": map[string]any{
					"page": 1, "page_size": 1, "key": "participants",
					"url":               pageURL + "?PageSize=1&Page=1&PageToken=PT1",
					"first_page_url":    pageURL + "?PageSize=1&Page=0",
					"previous_page_url": pageURL + "?PageSize=1&Page=0",
					"next_page_url":     nil,
				},
				"participants": []any{participantJSON("MB00000000000000000000000000000002", "+15551230002")},
			}
		}
		writeJSON(w, http.StatusOK, page)
	})
	rc, err := twilioclient.New(twilioclient.Options{AccountSID: accountSID, AuthToken: authToken, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	params := &conversations.ListConversationParticipantParams{}
	params.SetPageSize(1)
	list, err := rc.ConversationsV1.ListConversationParticipant(convSID, params)
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, p := range list {
		sids = append(sids, *p.Sid)
	}
	if diff := cmp.Diff([]string{"MB00000000000000000000000000000001", "MB00000000000000000000000000000002"}, sids); diff != "" {
		t.Errorf("participants (-want +got):\n%s", diff)
	}
	got := requests()
	if len(got) != 2 {
		t.Fatalf("server saw %d requests, want 2: %+v", len(got), got)
	}
	if got[1].Query != "PageSize=1&Page=1&PageToken=PT1" || !got[1].BasicAuth {
		t.Errorf("second page request = %+v, want the next_page_url query with Basic auth", got[1])
	}
}

// roundTripFunc lets a test stand in for the network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNew_defaultBaseURLIsNotRedirected(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"", twilioclient.DefaultBaseURL, twilioclient.DefaultBaseURL + "/"} {
		var gotURL string
		rc, err := twilioclient.New(twilioclient.Options{
			AccountSID: accountSID, AuthToken: authToken, BaseURL: base,
			Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				gotURL = r.URL.String()
				return &http.Response{
					StatusCode: http.StatusNoContent, Body: http.NoBody, Header: http.Header{}, Request: r,
				}, nil
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.ConversationsV1.DeleteConversationParticipant(convSID, "MB00000000000000000000000000000001", nil); err != nil {
			t.Fatalf("base %q: %v", base, err)
		}
		want := "https://conversations.twilio.com/v1/Conversations/" + convSID + "/Participants/MB00000000000000000000000000000001"
		if gotURL != want {
			t.Errorf("base %q: request URL = %q, want %q", base, gotURL, want)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handle     func(w http.ResponseWriter)
		wantCode   int
		wantStatus int
		wantRetry  time.Duration
		retryOK    bool
	}{
		{
			name: "twilio_404",
			handle: func(w http.ResponseWriter) {
				writeJSON(w, http.StatusNotFound, map[string]any{
					"code": 20404, "status": 404, "more_info": "https://www.twilio.com/docs/errors/20404",
					"message": "The requested resource /Conversations/" + convSID + "/Participants was not found",
				})
			},
			wantCode: 20404, wantStatus: 404,
		},
		{
			name: "twilio_409_binding_with_details",
			handle: func(w http.ResponseWriter) {
				writeJSON(w, http.StatusConflict, map[string]any{
					"code": 50416, "status": 409, "message": "A binding for this participant and proxy address already exists in Conversation CH1",
					"details": map[string]any{"conversation_sid": "CH1"},
				})
			},
			wantCode: 50416, wantStatus: 409,
		},
		{
			name: "too_many_requests_retry_after_seconds",
			handle: func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "3")
				writeJSON(w, http.StatusTooManyRequests, map[string]any{"code": 20429, "status": 429, "message": "Too Many Requests"})
			},
			wantCode: 20429, wantStatus: 429, wantRetry: 3 * time.Second, retryOK: true,
		},
		{
			name: "proxy_html_502",
			handle: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, "<html>bad gateway</html>")
			},
			wantCode: 0, wantStatus: 502,
		},
		{
			name: "empty_503_with_retry_after",
			handle: func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
			},
			wantCode: 0, wantStatus: 503, wantRetry: time.Second, retryOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := recordingServer(t, func(w http.ResponseWriter, _ *http.Request) { tt.handle(w) })
			rc, err := twilioclient.New(twilioclient.Options{AccountSID: accountSID, AuthToken: authToken, BaseURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = rc.ConversationsV1.FetchConversationParticipant(convSID, "MB00000000000000000000000000000001")
			if err == nil {
				t.Fatal("no error")
			}
			// Wrapping, as the services do, must not hide the code.
			wrapped := fmt.Errorf("add participant: %w", err)
			code, status, ok := twilioclient.ErrorCode(wrapped)
			if !ok || code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("ErrorCode = %d, %d, %v; want %d, %d, true (err %v)", code, status, ok, tt.wantCode, tt.wantStatus, err)
			}
			retry, retryOK := twilioclient.RetryAfter(wrapped)
			if retryOK != tt.retryOK || retry != tt.wantRetry {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", retry, retryOK, tt.wantRetry, tt.retryOK)
			}
		})
	}
}

func TestErrorCode_notTwilio(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		code int
		stat int
		ok   bool
	}{
		{"nil", nil, 0, 0, false},
		{"plain", errors.New("boom"), 0, 0, false},
		{"rest_error", &client.TwilioRestError{Code: 20404, Status: 404}, 20404, 404, true},
		{"rest_error_v1", fmt.Errorf("x: %w", &client.RestErrorV1{Code: 20001, HttpStatusCode: 400}), 20001, 400, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, status, ok := twilioclient.ErrorCode(tt.err)
			if code != tt.code || status != tt.stat || ok != tt.ok {
				t.Errorf("ErrorCode = %d, %d, %v; want %d, %d, %v", code, status, ok, tt.code, tt.stat, tt.ok)
			}
		})
	}
}

func TestRetryAfter_httpDate(t *testing.T) {
	t.Parallel()
	when := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	err := &client.TwilioRestError{Status: 429, Details: map[string]any{"convoflow_retry_after": when}}
	d, ok := twilioclient.RetryAfter(err)
	if !ok || d < 59*time.Minute || d > time.Hour {
		t.Errorf("RetryAfter(%q) = %v, %v; want about 1h", when, d, ok)
	}
	for _, bad := range []string{"", "soon", "-1"} {
		err := &client.TwilioRestError{Details: map[string]any{"convoflow_retry_after": bad}}
		if d, ok := twilioclient.RetryAfter(err); ok {
			t.Errorf("RetryAfter(%q) = %v, true; want false", bad, d)
		}
	}
	if _, ok := twilioclient.RetryAfter(errors.New("x")); ok {
		t.Errorf("RetryAfter(non-Twilio error) ok")
	}
}

// The timeout bounds each request, reading its response included, as
// http.Client.Timeout would: a server that never answers, and one that
// stalls half-way through the body.
func TestNew_timeout(t *testing.T) {
	t.Parallel()
	for name, partial := range map[string]bool{"no_answer": false, "stalled_body": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			srv, _ := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
				if partial {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusOK)
					_, _ = w.Write([]byte(`{"sid":`))
					http.NewResponseController(w).Flush()
				}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			})
			t.Cleanup(func() { close(release) })
			rc, err := twilioclient.New(twilioclient.Options{
				AccountSID: accountSID, AuthToken: authToken, BaseURL: srv.URL, Timeout: 50 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = rc.ConversationsV1.FetchConversationParticipant(convSID, "MB00000000000000000000000000000001")
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error = %v, want the deadline", err)
			}
			if _, _, ok := twilioclient.ErrorCode(err); ok {
				t.Errorf("ErrorCode reports a timeout as a Twilio error")
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}
}

func TestNew_invalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts twilioclient.Options
		want string
	}{
		{"no_sid", twilioclient.Options{AuthToken: authToken}, "required"},
		{"no_token", twilioclient.Options{AccountSID: accountSID}, "required"},
		{"sid_chars", twilioclient.Options{AccountSID: "AC-1", AuthToken: authToken}, "letters and digits"},
		{"token_chars", twilioclient.Options{AccountSID: accountSID, AuthToken: "a b"}, "letters and digits"},
		{"scheme", twilioclient.Options{AccountSID: accountSID, AuthToken: authToken, BaseURL: "ftp://x"}, "scheme"},
		{"no_host", twilioclient.Options{AccountSID: accountSID, AuthToken: authToken, BaseURL: "http://"}, "no host"},
		{"relative", twilioclient.Options{AccountSID: accountSID, AuthToken: authToken, BaseURL: "127.0.0.1:8083"}, "base URL"},
		{"query", twilioclient.Options{AccountSID: accountSID, AuthToken: authToken, BaseURL: "http://h/?a=1"}, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := twilioclient.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

package flow

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const consoleKey = "console-test-key-0123456789"

// TestConsole_apiKeys checks that with API keys configured the console,
// whose routes the server's key check does not cover, refuses requests
// without a valid key and lets the login form keep one in a cookie.
func TestConsole_apiKeys(t *testing.T) {
	t.Parallel()
	ts := startService(t, serviceOptions{args: []string{"--api-key", consoleKey}})
	base := ts.url + "/console/"
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(noRedirect.CloseIdleConnections)
	get := func(t *testing.T, u string, edit func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(req)
		}
		return do(t, noRedirect, req)
	}
	login := func(t *testing.T, key, next string) *http.Response {
		t.Helper()
		form := url.Values{"key": {key}, "next": {next}}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"login", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, _ := do(t, noRedirect, req)
		return res
	}

	tests := []struct {
		name       string
		path       string
		edit       func(*http.Request)
		wantStatus int
		wantBody   string
	}{
		{"no_key_gets_the_login_form", "", nil, http.StatusUnauthorized, `name="key"`},
		{"no_key_on_a_flow_page", "flows/FW00000000000000000000000000000000", nil, http.StatusUnauthorized, `name="key"`},
		{"no_key_on_the_event_stream", "flows/FW00000000000000000000000000000000/executions/FN00000000000000000000000000000000/events", nil, http.StatusUnauthorized, "API key is required"},
		{"wrong_bearer", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong-key-0123456789abc") }, http.StatusUnauthorized, `name="key"`},
		{"wrong_cookie", "", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "convoflow_console_key", Value: "wrong-key-0123456789abc"})
		}, http.StatusUnauthorized, `name="key"`},
		{"bearer", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+consoleKey) }, http.StatusOK, "No flows yet"},
		{"static_needs_no_key", "static/console.js", nil, http.StatusOK, "EventSource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, base+tt.path, tt.edit)
			if res.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d, want %d with %q:\n%s", tt.path, res.StatusCode, tt.wantStatus, tt.wantBody, body)
			}
			if res.StatusCode == http.StatusOK && strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") &&
				!strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Errorf("no Content-Security-Policy: %v", res.Header)
			}
		})
	}

	t.Run("wrong_key_in_the_form", func(t *testing.T) {
		res := login(t, "wrong-key-0123456789abc", "/console/")
		if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
			t.Errorf("login with a wrong key = %d, cookies %v; want 401 and none", res.StatusCode, res.Cookies())
		}
	})
	t.Run("login_keeps_the_key_for_the_session", func(t *testing.T) {
		res := login(t, consoleKey, "/console/flows/FW00000000000000000000000000000000?revision=2")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/flows/FW00000000000000000000000000000000?revision=2" {
			t.Fatalf("login = %d to %q, want 303 back to the page asked for", res.StatusCode, res.Header.Get("Location"))
		}
		cookies := res.Cookies()
		if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Path != "/console/" || !cookies[0].Expires.IsZero() || cookies[0].MaxAge != 0 {
			t.Fatalf("cookies = %+v, want one HttpOnly SameSite=Strict session cookie for /console/", cookies)
		}
		res, body := get(t, base, func(r *http.Request) { r.AddCookie(cookies[0]) })
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "No flows yet") {
			t.Errorf("GET /console/ with the cookie = %d:\n%s", res.StatusCode, body)
		}
	})
	t.Run("login_never_redirects_elsewhere", func(t *testing.T) {
		for _, next := range []string{"https://evil.example/", "//evil.example/console/", "/elsewhere", `/console/\evil`} {
			res := login(t, consoleKey, next)
			if got := res.Header.Get("Location"); got != "/console/" {
				t.Errorf("login with next=%q redirects to %q, want /console/", next, got)
			}
		}
	})
}

// TestConsole_errors checks the console's answers to bad requests.
func TestConsole_errors(t *testing.T) {
	t.Parallel()
	ts := startService(t, serviceOptions{})
	c := ts.clients[0]
	flowSid := deploy(t, c, "echo", testdataStruct(t, "flows/echo.json"))
	tests := []struct {
		name, path string
		wantStatus int
		wantBody   string
	}{
		{"unknown_flow", "flows/FW00000000000000000000000000000000", http.StatusNotFound, "not found"},
		{"malformed_flow_sid", "flows/nope", http.StatusNotFound, "flow nope: not found"},
		{"bad_revision", "flows/" + flowSid + "?revision=x", http.StatusBadRequest, "revision must be"},
		{"missing_revision", "flows/" + flowSid + "?revision=7", http.StatusNotFound, "not found"},
		{"bad_status_filter", "flows/" + flowSid + "/executions?status=gone", http.StatusBadRequest, "status must be"},
		{"bad_date_filter", "flows/" + flowSid + "/executions?from=yesterday", http.StatusBadRequest, "from must be"},
		{"unknown_execution", "flows/" + flowSid + "/executions/FN00000000000000000000000000000000", http.StatusNotFound, "not found"},
		{"unknown_execution_events", "flows/" + flowSid + "/executions/FN00000000000000000000000000000000/events", http.StatusNotFound, "not found"},
		{"no_such_page", "nothing/here", http.StatusNotFound, "no console page"},
		{"flow_page", "flows/" + flowSid, http.StatusOK, `data-widget="Trigger"`},
		{"executions", "flows/" + flowSid + "/executions?status=active&contact=%2B1", http.StatusOK, "No executions match"},
	}
	hc := &http.Client{}
	t.Cleanup(hc.CloseIdleConnections)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.url+"/console/"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, body := do(t, hc, req)
			if res.StatusCode != tt.wantStatus || !strings.Contains(strings.ToLower(body), strings.ToLower(tt.wantBody)) {
				t.Errorf("GET %s = %d, want %d with %q:\n%s", tt.path, res.StatusCode, tt.wantStatus, tt.wantBody, body)
			}
		})
	}
}

func do(t *testing.T, hc *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// TestConsole_warnings checks that the flow page draws validation warnings
// (an unknown Liquid filter) on the widget they concern.
func TestConsole_warnings(t *testing.T) {
	t.Parallel()
	ts := startService(t, serviceOptions{})
	flowSid := deploy(t, ts.clients[0], "w", mustStruct(t, `{"description":"w","initial_state":"Trigger","states":[
		{"name":"Trigger","type":"trigger","properties":{"offset":{"x":0,"y":0}},"transitions":[{"event":"incomingConversationMessage","next":"say"}]},
		{"name":"say","type":"send-message","properties":{"body":"{{trigger.conversation.Body | shout}}","offset":{"x":0,"y":200}},"transitions":[{"event":"sent"},{"event":"failed"}]}]}`))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.url+"/console/flows/"+flowSid, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, body := do(t, http.DefaultClient, req)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-widget="say" data-type="send-message" data-warnings="1"`) ||
		!strings.Contains(body, "shout") || strings.Contains(body, `data-widget="Trigger" data-type="trigger" data-warnings`) {
		t.Errorf("GET the flow page = %d, want the warning on say only:\n%s", res.StatusCode, body)
	}
}

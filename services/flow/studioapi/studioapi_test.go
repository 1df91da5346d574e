package studioapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
	"github.com/convoflow/convoflow/internal/openapitest"
	"github.com/convoflow/convoflow/services/flow/studioapi"
)

const (
	accountSid = "AC0123456789abcdef0123456789abcdef"
	authToken  = "secrettoken123"
	apiKey     = "convoflow-test-key-0123456789"
	flowSid    = "FW0123456789abcdef0123456789abcdef"
)

// stubService answers GetFlow and the test-user methods with err; every
// other method is unimplemented, so a request the API should refuse before
// calling the service shows up as a 500.
type stubService struct {
	flowv1connect.UnimplementedFlowServiceHandler
	err error
}

func (s stubService) GetFlow(context.Context, *flowv1.GetFlowRequest) (*flowv1.GetFlowResponse, error) {
	return nil, s.err
}

func (s stubService) GetFlowTestUsers(context.Context, *flowv1.GetFlowTestUsersRequest) (*flowv1.GetFlowTestUsersResponse, error) {
	return nil, s.err
}

func (s stubService) UpdateFlowTestUsers(context.Context, *flowv1.UpdateFlowTestUsersRequest) (*flowv1.UpdateFlowTestUsersResponse, error) {
	return nil, s.err
}

// serve starts the API's routes on a loopback port; publicURL is what
// url and links are built from, the server's own URL when empty.
func serve(tb testing.TB, svc flowv1connect.FlowServiceHandler, publicURL string) string {
	tb.Helper()
	keys, err := apikey.New([]string{apiKey}, "")
	if err != nil {
		tb.Fatal(err)
	}
	var base string
	api, err := studioapi.New(studioapi.Config{Service: svc, AccountSid: accountSid, AuthToken: authToken, APIKeys: keys,
		PublicURL: func() string { return base }})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range api.Routes() {
		mux.Handle(rt.Pattern, http.MaxBytesHandler(rt.Handler, 1<<10))
	}
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	base = publicURL
	if base == "" {
		base = srv.URL
	}
	return srv.URL
}

type answer struct {
	raw    []byte
	status int
	code   int
	body   map[string]any
}

// do sends one request (form in the body for POST, in the query
// otherwise) with auth ("basic", "bearer", "wrong" or "") and checks the
// answer against the spec.
func do(tb testing.TB, spec *openapitest.Spec, base, method, path string, form url.Values, auth string) answer {
	tb.Helper()
	var body io.Reader
	u := base + path
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if len(form) > 0 {
		u += "?" + form.Encode()
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	switch auth {
	case "basic":
		req.SetBasicAuth(accountSid, authToken)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+apiKey)
	case "wrong":
		req.SetBasicAuth(accountSid, "nottheauthtoken")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.HasPrefix(path, "/v2/Unknown") {
		if _, err := spec.Check(req, res.StatusCode, res.Header, raw); err != nil {
			tb.Error(err)
		}
	}
	a := answer{raw: raw, status: res.StatusCode}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			tb.Fatalf("answer is not JSON: %v\n%s", err, raw)
		}
		code, _ := a.body["code"].(float64)
		a.code = int(code)
	}
	return a
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestRequests covers what the API answers before or instead of the
// service: authentication, malformed parameters, unknown paths, and how
// the service's errors become Twilio's.
func TestRequests(t *testing.T) {
	t.Parallel()
	spec := openapitest.Load(t, "specs/twilio_studio_v2.json")
	notFound := serve(t, stubService{err: connect.NewError(connect.CodeNotFound, errors.New("flow not found"))}, "")
	internal := serve(t, stubService{err: errors.New("disk on fire")}, "")
	unavailable := serve(t, stubService{err: connect.NewError(connect.CodeUnavailable, errors.New("draining"))}, "")
	invalid := serve(t, stubService{err: connect.NewError(connect.CodeInvalidArgument, errors.New("test_users[1] is empty"))}, "")
	def := `{"states":[],"initial_state":"Trigger"}`
	tests := []struct {
		name         string
		base         string
		method, path string
		form         url.Values
		auth         string
		status, code int
		message      string // a part of the message, when it matters
	}{
		{"no_credentials", notFound, "GET", "/v2/Flows/" + flowSid, nil, "", 401, 20003, "Authenticate"},
		{"wrong_token", notFound, "GET", "/v2/Flows/" + flowSid, nil, "wrong", 401, 20003, ""},
		{"basic_auth", notFound, "GET", "/v2/Flows/" + flowSid, nil, "basic", 404, 20404, "/v2/Flows/" + flowSid + " was not found"},
		{"api_key", notFound, "GET", "/v2/Flows/" + flowSid, nil, "bearer", 404, 20404, ""},
		{"internal_error_hidden", internal, "GET", "/v2/Flows/" + flowSid, nil, "basic", 500, 20500, "Internal server error"},
		{"unavailable", unavailable, "GET", "/v2/Flows/" + flowSid, nil, "basic", 503, 20503, ""},
		{"create_bad_status", internal, "POST", "/v2/Flows", form("FriendlyName", "x", "Status", "live", "Definition", def), "basic", 400, 20001, "Status"},
		{"create_definition_not_json", internal, "POST", "/v2/Flows", form("FriendlyName", "x", "Status", "draft", "Definition", "{states"), "basic", 400, 20001, "Definition must be a JSON object"},
		{"create_definition_string_not_object", internal, "POST", "/v2/Flows", form("FriendlyName", "x", "Status", "draft", "Definition", `"[1]"`), "basic", 400, 20001, "Definition"},
		{"create_definition_array", internal, "POST", "/v2/Flows", form("FriendlyName", "x", "Status", "draft", "Definition", "[]"), "basic", 400, 20001, ""},
		{"validate_without_status", internal, "POST", "/v2/Flows/Validate", form("FriendlyName", "x", "Definition", def), "basic", 400, 20001, "Status"},
		{"update_without_status", internal, "POST", "/v2/Flows/" + flowSid, form("FriendlyName", "x"), "basic", 400, 20001, "Status"},
		{"page_size_zero", internal, "GET", "/v2/Flows", form("PageSize", "0"), "basic", 400, 20001, "PageSize"},
		{"page_size_too_big", internal, "GET", "/v2/Flows", form("PageSize", "1001"), "basic", 400, 20001, "PageSize"},
		{"page_without_token", internal, "GET", "/v2/Flows", form("Page", "2"), "basic", 400, 20001, "PageToken"},
		{"revision_not_a_number", internal, "GET", "/v2/Flows/" + flowSid + "/Revisions/latest", nil, "basic", 400, 81021, ""},
		{"revision_zero", internal, "GET", "/v2/Flows/" + flowSid + "/Revisions/0", nil, "basic", 400, 81021, ""},
		{"execution_parameters_not_object", internal, "POST", "/v2/Flows/" + flowSid + "/Executions", form("To", "+15551230001", "From", "+15550000000", "Parameters", `"Zeke"`), "basic", 400, 20001, "Parameters"},
		{"list_bad_date", internal, "GET", "/v2/Flows/" + flowSid + "/Executions", form("DateCreatedFrom", "yesterday"), "basic", 400, 20001, "DateCreatedFrom"},
		{"list_bad_status", internal, "GET", "/v2/Flows/" + flowSid + "/Executions", form("status", "paused"), "basic", 400, 20001, "Status"},
		{"update_execution_active", internal, "POST", "/v2/Flows/" + flowSid + "/Executions/FN0123456789abcdef0123456789abcdef", form("Status", "active"), "basic", 400, 20001, "ended"},
		{"test_users_unknown_flow", notFound, "GET", "/v2/Flows/" + flowSid + "/TestUsers", nil, "basic", 404, 20404, ""},
		{"update_test_users_unknown_flow", notFound, "POST", "/v2/Flows/" + flowSid + "/TestUsers", form("TestUsers", "alice"), "basic", 404, 20404, ""},
		{"update_test_users_missing", internal, "POST", "/v2/Flows/" + flowSid + "/TestUsers", form("FriendlyName", "x"), "basic", 400, 20001, "TestUsers"},
		{"update_test_users_refused", invalid, "POST", "/v2/Flows/" + flowSid + "/TestUsers", form("TestUsers", "alice", "TestUsers", ""), "basic", 400, 20001, "test_users[1] is empty"},
		{"body_too_large", internal, "POST", "/v2/Flows", form("FriendlyName", strings.Repeat("x", 2<<10)), "basic", 413, 20001, "too large"},
		{"unknown_path", internal, "GET", "/v2/Unknown", nil, "basic", 404, 20404, "/v2/Unknown"},
		{"unknown_path_needs_auth", internal, "GET", "/v2/Unknown", nil, "", 401, 20003, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := do(t, spec, tt.base, tt.method, tt.path, tt.form, tt.auth)
			if a.status != tt.status || a.code != tt.code {
				t.Errorf("answer %d / %d, want %d / %d: %v", a.status, a.code, tt.status, tt.code, a.body)
			}
			if msg, _ := a.body["message"].(string); !strings.Contains(msg, tt.message) {
				t.Errorf("message %q does not mention %q", msg, tt.message)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	ok := studioapi.Config{Service: stubService{}, AccountSid: accountSid, AuthToken: authToken, PublicURL: func() string { return "" }}
	if _, err := studioapi.New(ok); err != nil {
		t.Fatalf("New: %v", err)
	}
	for name, mutate := range map[string]func(*studioapi.Config){
		"no_service":    func(c *studioapi.Config) { c.Service = nil },
		"no_public_url": func(c *studioapi.Config) { c.PublicURL = nil },
		"no_account":    func(c *studioapi.Config) { c.AccountSid = "" },
		"no_token":      func(c *studioapi.Config) { c.AuthToken = "" },
	} {
		c := ok
		mutate(&c)
		if _, err := studioapi.New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
}

// testUsersService records the list UpdateFlowTestUsers is given and
// answers with it.
type testUsersService struct {
	flowv1connect.UnimplementedFlowServiceHandler
	got chan []string
}

func (s testUsersService) UpdateFlowTestUsers(_ context.Context, req *flowv1.UpdateFlowTestUsersRequest) (*flowv1.UpdateFlowTestUsersResponse, error) {
	s.got <- req.GetTestUsers()
	return &flowv1.UpdateFlowTestUsersResponse{FlowTestUsers: &flowv1.FlowTestUsers{FlowSid: req.GetFlowSid(), TestUsers: req.GetTestUsers()}}, nil
}

// TestUpdateTestUsers_params: TestUsers is repeated, in order, and a single
// empty value is the empty list; anything else reaches the service as
// sent, which has the one set of rules for what it accepts.
func TestUpdateTestUsers_params(t *testing.T) {
	t.Parallel()
	spec := openapitest.Load(t, "specs/twilio_studio_v2.json")
	svc := testUsersService{got: make(chan []string, 1)}
	base := serve(t, svc, "")
	for _, tt := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"repeated", form("TestUsers", "+15551230001", "TestUsers", "whatsapp:+15551230002"), []string{"+15551230001", "whatsapp:+15551230002"}},
		{"one", form("TestUsers", "alice"), []string{"alice"}},
		{"empty_clears", form("TestUsers", ""), nil},
		{"empty_among_others", form("TestUsers", "alice", "TestUsers", ""), []string{"alice", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, spec, base, http.MethodPost, "/v2/Flows/"+flowSid+"/TestUsers", tt.form, "basic")
			if a.status != http.StatusOK {
				t.Fatalf("status %d: %v", a.status, a.body)
			}
			if diff := cmp.Diff(tt.want, <-svc.got); diff != "" {
				t.Errorf("list the service got (-want +got):\n%s", diff)
			}
			wantBody := map[string]any{"sid": flowSid, "test_users": []any{}, "url": base + "/v2/Flows/" + flowSid + "/TestUsers"}
			for _, u := range tt.want {
				wantBody["test_users"] = append(wantBody["test_users"].([]any), u)
			}
			if diff := cmp.Diff(wantBody, a.body); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

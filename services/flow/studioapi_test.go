package flow

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	studio "github.com/twilio/twilio-go/rest/studio/v2"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/internal/openapitest"
	"github.com/convoflow/convoflow/internal/twilioclient"
)

// studioClient is the official twilio-go client pointed at the stack's
// public URL, authenticated with token, whose every answer is checked
// against Studio's OpenAPI spec.
func studioClient(tb testing.TB, s *stack, spec *openapitest.Spec, token string) *twilio.RestClient {
	tb.Helper()
	c, err := twilioclient.New(twilioclient.Options{AccountSID: testAccountSid, AuthToken: token, BaseURL: s.publicURL, Transport: spec.Transport(tb, nil)})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// twilioError returns err's Twilio code and HTTP status.
func twilioError(tb testing.TB, err error) (code, status int) {
	tb.Helper()
	var terr *client.TwilioRestError
	if !errors.As(err, &terr) {
		tb.Fatalf("error %v (%T) is not a Twilio REST error", err, err)
	}
	return terr.Code, terr.Status
}

// definitionOf reads a testdata flow as the map a script would pass to
// SetDefinition.
func definitionOf(tb testing.TB, name string) map[string]any {
	tb.Helper()
	b, err := os.ReadFile("testdata/flows/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestStudioAPI_newUser is the "tried as a new user would": the
// official StudioV2 client, pointed at a running FlowService, manages a
// flow, its test users and its executions from start to end, and every
// answer, success or error, is valid against twilio_studio_v2.json.
func TestStudioAPI_newUser(t *testing.T) {
	t.Parallel()
	spec := openapitest.Load(t, "specs/twilio_studio_v2.json")
	s := startStack(t)
	api := studioClient(t, s, spec, s.fake.AuthToken()).StudioV2
	def := definitionOf(t, "wait.json")
	def["states"].([]any)[1].(map[string]any)["properties"].(map[string]any)["timeout"] = "3600"

	created, err := api.CreateFlow((&studio.CreateFlowParams{}).SetFriendlyName("Orders").SetStatus("published").SetDefinition(def))
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	flowSid := *created.Sid
	if created.Revision != 1 || *created.Status != "published" || !*created.Valid || *created.Url != s.publicURL+"/v2/Flows/"+flowSid {
		t.Errorf("created = revision %d, status %s, valid %v, url %s", created.Revision, *created.Status, *created.Valid, *created.Url)
	}
	// The gRPC API sees the same flow.
	got, err := s.svc.clients[0].GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: flowSid})
	if err != nil || got.GetFlow().GetRevision() != 1 || got.GetFlow().GetFriendlyName() != "Orders" {
		t.Fatalf("gRPC GetFlow = %v, %v", got, err)
	}

	fetched, err := api.FetchFlow(flowSid)
	if err != nil {
		t.Fatalf("FetchFlow: %v", err)
	}
	if diff := cmp.Diff(def, *fetched.Definition); diff != "" {
		t.Errorf("fetched definition (-sent +got):\n%s", diff)
	}
	if _, err := api.CreateFlow((&studio.CreateFlowParams{}).SetFriendlyName("Other").SetStatus("draft").SetDefinition(def)); err != nil {
		t.Fatal(err)
	}
	// One flow a page: twilio-go follows next_page_url to the second.
	flows, err := api.ListFlow((&studio.ListFlowParams{}).SetPageSize(1))
	if err != nil {
		t.Fatalf("ListFlow: %v", err)
	}
	if len(flows) != 2 || *flows[0].Sid != flowSid || flows[0].Definition != nil {
		t.Errorf("ListFlow = %d flows, first %s", len(flows), *flows[0].Sid)
	}

	updated, err := api.UpdateFlow(flowSid, (&studio.UpdateFlowParams{}).SetStatus("published").SetFriendlyName("Orders v2").SetCommitMessage("rename"))
	if err != nil {
		t.Fatalf("UpdateFlow: %v", err)
	}
	if updated.Revision != 2 || *updated.FriendlyName != "Orders v2" || *updated.CommitMessage != "rename" {
		t.Errorf("updated = revision %d, %s, %v", updated.Revision, *updated.FriendlyName, updated.CommitMessage)
	}
	revs, err := api.ListFlowRevision(flowSid, (&studio.ListFlowRevisionParams{}).SetPageSize(1))
	if err != nil {
		t.Fatalf("ListFlowRevision: %v", err)
	}
	if len(revs) != 2 || revs[0].Revision != 2 || revs[1].Revision != 1 {
		t.Errorf("revisions = %+v, want 2 then 1", revs)
	}
	for _, sel := range []string{"1", "LatestPublished", "LatestRevision"} {
		rev, err := api.FetchFlowRevision(flowSid, sel)
		if err != nil {
			t.Fatalf("FetchFlowRevision %s: %v", sel, err)
		}
		if want := map[string]int{"1": 1}[sel]; want == 0 && rev.Revision != 2 || want != 0 && rev.Revision != want {
			t.Errorf("revision %s = %d", sel, rev.Revision)
		}
	}
	if _, err := api.FetchFlowRevision(flowSid, "newest"); err != nil {
		if code, status := twilioError(t, err); code != 81021 || status != 400 {
			t.Errorf("revision newest: %d/%d, want 81021/400", code, status)
		}
	} else {
		t.Error("revision newest: no error")
	}

	// The service's own checks answer as Twilio errors.
	for name, params := range map[string]*studio.CreateFlowParams{
		"without_name":       (&studio.CreateFlowParams{}).SetStatus("draft").SetDefinition(def),
		"without_definition": (&studio.CreateFlowParams{}).SetFriendlyName("x").SetStatus("draft"),
		"invalid_definition": (&studio.CreateFlowParams{}).SetFriendlyName("x").SetStatus("draft").SetDefinition(definitionOf(t, "invalid.json")),
	} {
		want := map[string]int{"invalid_definition": 81022}[name]
		if want == 0 {
			want = 20001
		}
		if _, err := api.CreateFlow(params); err == nil {
			t.Errorf("CreateFlow %s: no error", name)
		} else if code, status := twilioError(t, err); code != want || status != 400 {
			t.Errorf("CreateFlow %s: %d/%d, want %d/400", name, code, status, want)
		}
	}

	valid, err := api.UpdateFlowValidate((&studio.UpdateFlowValidateParams{}).SetFriendlyName("check").SetStatus("draft").SetDefinition(def))
	if err != nil || !*valid.Valid {
		t.Fatalf("UpdateFlowValidate good = %v, %v", valid, err)
	}
	// A script that passes the file's text instead of the decoded object.
	text, err := os.ReadFile("testdata/flows/wait.json")
	if err != nil {
		t.Fatal(err)
	}
	if valid, err := api.UpdateFlowValidate((&studio.UpdateFlowValidateParams{}).SetFriendlyName("check").SetStatus("draft").SetDefinition(string(text))); err != nil || !*valid.Valid {
		t.Errorf("UpdateFlowValidate with the definition as text = %v, %v", valid, err)
	}
	_, err = api.UpdateFlowValidate((&studio.UpdateFlowValidateParams{}).SetFriendlyName("check").SetStatus("draft").SetDefinition(definitionOf(t, "invalid.json")))
	var terr *client.TwilioRestError
	if !errors.As(err, &terr) || terr.Code != 81022 || terr.Status != 400 {
		t.Fatalf("UpdateFlowValidate bad: %v, want 81022", err)
	}
	if problems, _ := terr.Details["errors"].([]any); len(problems) != 2 {
		t.Errorf("81022 details = %v, want the two problems of invalid.json", terr.Details)
	}

	// A REST execution's messages go into an open conversation the
	// contact takes part in.
	s.conversation(t, flowSid, customer, colleague)
	before := time.Now().Add(-time.Minute)
	exec, err := api.CreateExecution(flowSid, (&studio.CreateExecutionParams{}).SetTo(customer).SetFrom(proxyNumber).SetParameters(map[string]any{"name": "Zeke"}))
	if err != nil {
		t.Fatalf("CreateExecution: %v", err)
	}
	execSid := *exec.Sid
	if *exec.Status != "active" || *exec.FlowVersion != 2 || *exec.ContactChannelAddress != customer {
		t.Errorf("execution = %s, version %d, contact %s", *exec.Status, *exec.FlowVersion, *exec.ContactChannelAddress)
	}
	if _, err := api.CreateExecution(flowSid, (&studio.CreateExecutionParams{}).SetTo(customer)); err == nil {
		t.Error("CreateExecution without From: no error")
	} else if code, status := twilioError(t, err); code != 20001 || status != 400 {
		t.Errorf("CreateExecution without From: %d/%d, want 20001/400", code, status)
	}
	if _, err := api.CreateExecution(flowSid, (&studio.CreateExecutionParams{}).SetTo(customer).SetFrom(proxyNumber)); err == nil {
		t.Error("second CreateExecution for the contact: no error")
	} else if code, status := twilioError(t, err); code != 20409 || status != 409 {
		t.Errorf("second CreateExecution: %d/%d, want 20409/409", code, status)
	}
	if e, err := api.FetchExecution(flowSid, execSid); err != nil || *e.Sid != execSid {
		t.Fatalf("FetchExecution = %v, %v", e, err)
	}
	window, err := api.ListExecution(flowSid, (&studio.ListExecutionParams{}).SetDateCreatedFrom(before).SetDateCreatedTo(time.Now().Add(time.Minute)))
	if err != nil || len(window) != 1 || *window[0].Sid != execSid {
		t.Errorf("ListExecution in the window = %v, %v", window, err)
	}
	if past, err := api.ListExecution(flowSid, (&studio.ListExecutionParams{}).SetDateCreatedTo(before)); err != nil || len(past) != 0 {
		t.Errorf("ListExecution before it = %v, %v", past, err)
	}
	ctx, err := api.FetchExecutionContext(flowSid, execSid)
	if err != nil {
		t.Fatalf("FetchExecutionContext: %v", err)
	}
	flowData, _ := (*ctx.Context).(map[string]any)["flow"].(map[string]any)["data"].(map[string]any)
	if flowData["name"] != "Zeke" {
		t.Errorf("context flow.data = %v, want the Parameters", flowData)
	}
	steps, err := api.ListExecutionStep(flowSid, execSid, nil)
	if err != nil || len(steps) == 0 {
		t.Fatalf("ListExecutionStep = %v, %v", steps, err)
	}
	if *steps[0].Name != "incomingRequest" || *steps[0].TransitionedFrom != "Trigger" || *steps[0].TransitionedTo != "ask" {
		t.Errorf("first step = %s %s → %s", *steps[0].Name, *steps[0].TransitionedFrom, *steps[0].TransitionedTo)
	}
	for _, st := range steps {
		one, err := api.FetchExecutionStep(flowSid, execSid, *st.Sid)
		if err != nil || *one.Sid != *st.Sid {
			t.Fatalf("FetchExecutionStep %s = %v, %v", *st.Sid, one, err)
		}
		if _, err := api.FetchExecutionStepContext(flowSid, execSid, *st.Sid); err != nil {
			t.Fatalf("FetchExecutionStepContext %s: %v", *st.Sid, err)
		}
	}

	ended, err := api.UpdateExecution(flowSid, execSid, (&studio.UpdateExecutionParams{}).SetStatus("ended"))
	if err != nil || *ended.Status != "ended" {
		t.Fatalf("UpdateExecution ended = %v, %v", ended, err)
	}
	if _, err := api.UpdateExecution(flowSid, execSid, (&studio.UpdateExecutionParams{}).SetStatus("ended")); err == nil {
		t.Error("ending an ended execution: no error")
	} else if code, status := twilioError(t, err); code != 20409 || status != 409 {
		t.Errorf("ending an ended execution: %d/%d, want 20409/409", code, status)
	}
	if err := api.DeleteExecution(flowSid, execSid); err != nil {
		t.Fatalf("DeleteExecution: %v", err)
	}
	if _, err := api.FetchExecution(flowSid, execSid); err == nil {
		t.Error("FetchExecution after delete: no error")
	} else if code, status := twilioError(t, err); code != 20404 || status != 404 {
		t.Errorf("FetchExecution after delete: %d/%d, want 20404/404", code, status)
	}

	// Test users: the customer runs the draft saved next, the colleague
	// the published revision 2.
	users, err := api.FetchTestUser(flowSid)
	if err != nil || users.TestUsers == nil || len(*users.TestUsers) != 0 || *users.Sid != flowSid {
		t.Errorf("FetchTestUser before any = %+v, %v", users, err)
	}
	set, err := api.UpdateTestUser(flowSid, (&studio.UpdateTestUserParams{}).SetTestUsers([]string{customer, "whatsapp:" + customer, customer}))
	if err != nil {
		t.Fatalf("UpdateTestUser: %v", err)
	}
	wantUsers := []string{customer, "whatsapp:" + customer}
	if diff := cmp.Diff(wantUsers, *set.TestUsers); diff != "" || *set.Url != s.publicURL+"/v2/Flows/"+flowSid+"/TestUsers" {
		t.Errorf("UpdateTestUser = %s, users (-want +got):\n%s", *set.Url, diff)
	}
	if users, err := api.FetchTestUser(flowSid); err != nil || !cmp.Equal(wantUsers, *users.TestUsers) {
		t.Errorf("FetchTestUser = %+v, %v; want %q", users, err, wantUsers)
	}
	if _, err := api.UpdateTestUser(flowSid, (&studio.UpdateTestUserParams{}).SetTestUsers([]string{" " + customer[1:]})); err == nil {
		t.Error("UpdateTestUser with a space for the +: no error")
	} else if code, status := twilioError(t, err); code != 20001 || status != 400 {
		t.Errorf("UpdateTestUser with a space for the +: %d/%d, want 20001/400", code, status)
	}
	if _, err := api.UpdateFlow(flowSid, (&studio.UpdateFlowParams{}).SetStatus("draft").SetCommitMessage("try it")); err != nil {
		t.Fatalf("UpdateFlow draft: %v", err)
	}
	for contact, want := range map[string]int{customer: 3, colleague: 2} {
		e, err := api.CreateExecution(flowSid, (&studio.CreateExecutionParams{}).SetTo(contact).SetFrom(proxyNumber))
		if err != nil {
			t.Fatalf("CreateExecution for %s: %v", contact, err)
		}
		if *e.FlowVersion != want {
			t.Errorf("execution for %s runs revision %d, want %d", contact, *e.FlowVersion, want)
		}
	}
	if users, err := api.FetchTestUser(flowSid); err != nil || !cmp.Equal(wantUsers, *users.TestUsers) {
		t.Errorf("FetchTestUser after a new revision = %+v, %v; want %q", users, err, wantUsers)
	}

	intruder := studioClient(t, s, spec, "wrongtoken").StudioV2
	if _, err := intruder.FetchFlow(flowSid); err == nil {
		t.Error("wrong token: no error")
	} else if code, status := twilioError(t, err); code != 20003 || status != 401 {
		t.Errorf("wrong token: %d/%d, want 20003/401", code, status)
	}

	if err := api.DeleteFlow(flowSid); err != nil {
		t.Fatalf("DeleteFlow: %v", err)
	}
	if _, err := api.FetchFlow(flowSid); err == nil {
		t.Error("FetchFlow after delete: no error")
	} else if code, status := twilioError(t, err); code != 20404 || status != 404 {
		t.Errorf("FetchFlow after delete: %d/%d, want 20404/404", code, status)
	}
	if missing := spec.Missing(); len(missing) > 0 {
		t.Errorf("operations without a successful answer: %v", missing)
	}
}

// TestStudioAPI_apiKey: with --api-key the REST API accepts the key as a
// bearer token besides Twilio's basic auth, and refuses a wrong one.
func TestStudioAPI_apiKey(t *testing.T) {
	t.Parallel()
	const key = "studio-api-test-key-0123456789"
	svc := startService(t, serviceOptions{args: []string{"--api-key", key}})
	for _, tt := range []struct {
		name   string
		auth   func(*http.Request)
		status int
	}{
		{"bearer_key", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }, http.StatusOK},
		{"basic_auth", func(r *http.Request) { r.SetBasicAuth(testAccountSid, "testtoken") }, http.StatusOK},
		{"wrong_key", func(r *http.Request) { r.Header.Set("Authorization", "Bearer not-"+key) }, http.StatusUnauthorized},
		{"key_as_basic_password", func(r *http.Request) { r.SetBasicAuth(testAccountSid, key) }, http.StatusUnauthorized},
		{"none", func(*http.Request) {}, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, svc.url+"/v2/Flows", nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.auth(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Code int `json:"code"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status || tt.status == http.StatusUnauthorized && body.Code != 20003 {
				t.Errorf("answer %d / %d, want %d", res.StatusCode, body.Code, tt.status)
			}
		})
	}
}

// envRequireTwilioPython makes a missing twilio-python fail the test
// instead of skipping it; CI sets it.
const envRequireTwilioPython = "CONVOFLOW_REQUIRE_TWILIO_PYTHON"

// pythonWithTwilio returns a python3 that imports the official twilio
// package (Debian's python3-twilio, say), or skips the test (fails it
// under CONVOFLOW_REQUIRE_TWILIO_PYTHON=1): the SDK is not a dependency of
// the module.
func pythonWithTwilio(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(name)
		if err == nil && exec.Command(path, "-c", "import twilio").Run() == nil {
			return path
		}
	}
	if os.Getenv(envRequireTwilioPython) == "1" {
		tb.Fatalf("no python3 with the twilio package and %s=1: install it (apt-get install python3-twilio)", envRequireTwilioPython)
	}
	tb.Skipf("no python3 with the twilio package (apt-get install python3-twilio); set %s=1 to fail instead", envRequireTwilioPython)
	return ""
}

// TestStudioAPI_twilioPython runs the same scenario with the official
// twilio-python client (testdata/sdk/studio_v2.py), through a proxy that
// checks every answer against twilio_studio_v2.json. (twilio-node would
// do as well, but its npm package cannot be installed here.)
func TestStudioAPI_twilioPython(t *testing.T) {
	t.Parallel()
	python := pythonWithTwilio(t)
	spec := openapitest.Load(t, "specs/twilio_studio_v2.json")
	s := startStack(t)
	target, err := url.Parse(s.publicURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = spec.Transport(t, nil)
	checked := httptest.NewServer(proxy)
	t.Cleanup(checked.Close)
	def := filepath.Join(t.TempDir(), "wait.json")
	b, err := os.ReadFile("testdata/flows/wait.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(def, []byte(strings.Replace(string(b), `"timeout": "10"`, `"timeout": "3600"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The execution's messages go into a conversation the contact is in;
	// the flow is not known yet, so the conversation is attached to none.
	s.conversation(t, "FW00000000000000000000000000000000", customer, colleague)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/sdk/studio_v2.py")
	cmd.Env = append(os.Environ(), "STUDIO_URL="+checked.URL, "ACCOUNT_SID="+testAccountSid, "AUTH_TOKEN="+s.fake.AuthToken(),
		"DEFINITION="+def, "TO="+customer, "FROM="+proxyNumber)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "twilio-python: ok") {
		t.Fatalf("twilio-python: %v\n%s", err, out)
	}
}

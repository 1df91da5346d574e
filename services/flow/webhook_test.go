package flow

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/convoflow/convoflow/fakes/conversations"
	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
	"github.com/convoflow/convoflow/services/flow/store/sqlite"
)

// flakyStore fails every write while failing is set, as a full disk or a
// locked database would.
type flakyStore struct {
	store.Store
	failing atomic.Bool
}

var errDiskFull = errors.New("disk I/O error")

func (f *flakyStore) RecordEvent(ctx context.Context, e store.Event) (store.Event, bool, error) {
	if f.failing.Load() {
		return store.Event{}, false, errDiskFull
	}
	return f.Store.RecordEvent(ctx, e)
}

func (f *flakyStore) InTx(ctx context.Context, fn func(store.Tx) error) error {
	if f.failing.Load() {
		return errDiskFull
	}
	return f.Store.InTx(ctx, fn)
}

// TestWebhook_storeFailure checks that an event the store could not record
// is answered 5xx, which Twilio retries, and that the retry is accepted
// once the store recovers.
func TestWebhook_storeFailure(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	base, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "flow.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = base.Close() })
	st := &flakyStore{Store: base}
	rn, err := runner.New(runner.Config{Store: st, AccountSid: testAccountSid, AuthToken: "tok", ConversationsURL: "http://127.0.0.1:9", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var public string
	svc, err := newService(Deps{Store: st, Runner: rn, AccountSid: testAccountSid, PublicURL: func() string { return public }, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	wh, err := newWebhook(svc, "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(webhookPattern, wh)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	public = srv.URL
	created, err := svc.CreateFlow(ctx, &flowv1.CreateFlowRequest{FriendlyName: "echo", Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, Definition: testdataStruct(t, "flows/echo.json")})
	if err != nil {
		t.Fatal(err)
	}
	hook := srv.URL + webhookPath(testAccountSid, created.GetFlow().GetSid())
	form := url.Values{"EventType": {"onMessageAdded"}, "AccountSid": {testAccountSid}, "ConversationSid": {"CH0123456789abcdef0123456789abcdef"},
		"MessageSid": {"IM0123456789abcdef0123456789abcdef"}, "Author": {"+15551230001"}, "Body": {"hi"}, "Source": {"SMS"}, "Index": {"0"}}
	post := func() int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", conversations.Signature("tok", hook, form))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	st.failing.Store(true)
	if got := post(); got != http.StatusServiceUnavailable {
		t.Errorf("with the store failing: %d, want 503", got)
	}
	st.failing.Store(false)
	if got := post(); got != http.StatusOK {
		t.Errorf("retry after recovery: %d, want 200", got)
	}
	// The retry was recorded: it is still pending or has already started
	// an execution (the runner's worker starts on its own).
	pending, err := base.PendingConversations(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 {
		execs, err := base.ListExecutions(ctx, store.ListExecutionsParams{FlowSID: created.GetFlow().GetSid()})
		if err != nil {
			t.Fatal(err)
		}
		if len(execs.Executions) != 1 {
			t.Errorf("pending conversations %v and executions %v, want the one event recorded by the retry", pending, execs.Executions)
		}
	}
	// Malformed but signed deliveries are refused without recording.
	for _, tt := range []struct {
		name  string
		key   string
		value string
	}{
		{"bad_index", "Index", "first"},
		{"bad_date", "DateCreated", "yesterday"},
		{"no_conversation", "ConversationSid", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			saved := form.Get(tt.key)
			form.Set(tt.key, tt.value)
			defer form.Set(tt.key, saved)
			form.Set("MessageSid", "IM0123456789abcdef0123456789abcde0")
			if got := post(); got != http.StatusBadRequest {
				t.Errorf("status %d, want 400", got)
			}
		})
	}
}

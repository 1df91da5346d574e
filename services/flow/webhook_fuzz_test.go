package flow

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/internal/twiliosig"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store/sqlite"
)

// FuzzWebhook drives the webhook with arbitrary bodies, query strings and
// signatures. Whatever comes in: no panic; an unsigned or wrongly signed
// request is refused with 403 (before anything is parsed or recorded); a
// correctly signed one
// gets 200 or a 4xx, never a 5xx (the store is healthy), and 200 only for
// a body that parses as a form.
func FuzzWebhook(f *testing.F) {
	valid := url.Values{"EventType": {"onMessageAdded"}, "AccountSid": {testAccountSid}, "ConversationSid": {"CH0123456789abcdef0123456789abcdef"},
		"MessageSid": {"IM0123456789abcdef0123456789abcdef"}, "Author": {"+15551230001"}, "Body": {"hi"}, "Source": {"SMS"}, "Index": {"0"},
		"DateCreated": {"2026-12-07T10:00:00Z"}}.Encode()
	f.Add(valid, "", "")
	f.Add(valid, "a=b", "bm90IGEgc2lnbmF0dXJl")
	f.Add("EventType=onMessageAdded&ConversationSid=CH1&MessageSid=IM1&Index=x", "", "")
	f.Add("EventType=onConversationAdded", "", "")
	f.Add("%zz=1&Body=%", "q=%", "")
	f.Add("Body="+strings.Repeat("x", 100)+"&DateCreated=yesterday", "", "+/=")

	const token = "fuzztoken"
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "flow.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	rn, err := runner.New(runner.Config{Store: st, AccountSid: testAccountSid, AuthToken: token, ConversationsURL: "http://127.0.0.1:9"})
	if err != nil {
		f.Fatal(err)
	}
	const public = "https://flows.example.com"
	svc, err := newService(Deps{Store: st, Runner: rn, AccountSid: testAccountSid, PublicURL: func() string { return public }})
	if err != nil {
		f.Fatal(err)
	}
	hook, err := newWebhook(svc, token, nil)
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(webhookPattern, hook)
	path := webhookPath(testAccountSid, "FW0123456789abcdef0123456789abcdef")

	f.Fuzz(func(t *testing.T, body, query, sig string) {
		target := path
		if query != "" {
			target += "?" + url.PathEscape(query)
		}
		post := func(signature string) *httptest.ResponseRecorder {
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if signature != "" {
				req.Header.Set(twiliosig.Header, signature)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			return w
		}
		// The URL signed is the one Twilio called: the public base URL and
		// the request's path and query as the server sees them.
		signed := twiliosig.RequestURL(public, httptest.NewRequest(http.MethodPost, target, nil))
		form, formErr := url.ParseQuery(body)
		good := twiliosig.Sign(token, signed, form)
		if sig != good {
			if w := post(sig); w.Code != http.StatusForbidden {
				t.Fatalf("signature %q: status %d, want 403", sig, w.Code)
			}
		}
		if formErr != nil {
			// Twilio never sends a body that is not a form; what the
			// validator makes of one is its own affair, but never a 5xx.
			if w := post(good); w.Code >= 500 {
				t.Fatalf("unparsable body: status %d", w.Code)
			}
			return
		}
		w := post(good)
		switch {
		case w.Code >= 500:
			t.Fatalf("signed request: status %d %s", w.Code, w.Body)
		case w.Code != http.StatusOK && w.Code/100 != 4:
			t.Fatalf("signed request: status %d", w.Code)
		}
	})
}

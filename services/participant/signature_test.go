package participant_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/internal/twiliosig"
	"github.com/convoflow/convoflow/services/participant"
)

// TestFunctions_signature: the function endpoints serve only calls signed
// as Twilio signs calls to protected Functions, for the URL callers use.
func TestFunctions_signature(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, func(c *participant.Config) { c.PublicURL = "https://participants.example.com/" })
	conv := newConversation(t, fake)
	form := url.Values{"conversationID": {conv}, "address": {number()}}
	public := "https://participants.example.com" + participant.FunctionAddParticipant
	post := func(sig string, body string) (int, map[string]any) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.url+participant.FunctionAddParticipant, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set(twiliosig.Header, sig)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return res.StatusCode, out
	}
	refused := map[string]string{
		"unsigned":          "",
		"other_token":       twiliosig.Sign("not-the-token", public, form),
		"listen_address":    twiliosig.Sign(fake.AuthToken(), ts.url+participant.FunctionAddParticipant, form),
		"other_parameters":  twiliosig.Sign(fake.AuthToken(), public, url.Values{"conversationID": {conv}}),
		"garbage_signature": "bm90IGEgc2lnbmF0dXJl",
	}
	for name, sig := range refused {
		status, body := post(sig, form.Encode())
		if status != http.StatusUnauthorized || body["code"] != float64(20003) || body["status"] != float64(401) || body["more_info"] == nil {
			t.Errorf("%s: %d %v, want 401 with Twilio's error 20003", name, status, body)
		}
	}
	if n := len(participants(t, fake, conv)); n != 0 {
		t.Fatalf("refused calls added %d participants", n)
	}
	if status, body := post(twiliosig.Sign(fake.AuthToken(), public, form), form.Encode()); status != http.StatusOK {
		t.Fatalf("signed for the public URL: %d %v, want 200", status, body)
	}
	if n := len(participants(t, fake, conv)); n != 1 {
		t.Errorf("the signed call added %d participants, want 1", n)
	}
}

// TestFunctions_public: --functions-public serves unsigned calls.
func TestFunctions_public(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, func(c *participant.Config) { c.FunctionsPublic = true })
	conv := newConversation(t, fake)
	res, err := http.PostForm(ts.url+participant.FunctionAddParticipant, url.Values{"conversationID": {conv}, "address": {number()}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("unsigned call with --functions-public: %d, want 200", res.StatusCode)
	}
	if !strings.Contains(ts.logs.String(), "--functions-public") {
		t.Errorf("the log does not warn about --functions-public:\n%s", ts.logs.String())
	}
}

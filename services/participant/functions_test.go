package participant_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/services/participant"
)

// TestFunctions posts to the Run Function endpoints as Studio's widget does
// (form-encoded parameters) and checks the JSON that becomes `parsed`.
func TestFunctions(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, func(c *participant.Config) { c.Agents = writeRoster(t, teamRoster) })
	held := number()
	holder := newConversation(t, fake)
	addBinding(t, fake, holder, held, twilioNumber)

	type step struct {
		path        string
		form        func(conv string) url.Values
		contentType string // default form-encoded
		body        string // used instead of form when set
		status      int
		want        map[string]any // keys that must have these values
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "add_support_agent_twice", steps: []step{
			{path: participant.FunctionAddSupportAgent, form: func(conv string) url.Values { return url.Values{"conversationID": {conv}} },
				status: 200, want: map[string]any{"agent": "alice", "already_present": false, "address": alicePhone, "proxy_address": twilioNumber}},
			// A second agent joins: alice is in the conversation already.
			// bob's roster entry has no proxy: the default is used.
			{path: participant.FunctionAddSupportAgent, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "pool": {"support"}}
			}, status: 200, want: map[string]any{"agent": "bob", "already_present": false, "proxy_address": twilioNumber}},
		}},
		{name: "add_participant_then_remove", steps: []step{
			{path: participant.FunctionAddParticipant, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "address": {"+15557770001"}, "proxyAddress": {twilioNumber}}
			}, status: 200, want: map[string]any{"already_present": false, "address": "+15557770001"}},
			{path: participant.FunctionAddParticipant, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "address": {"+15557770001"}}
			}, status: 200, want: map[string]any{"already_present": true}},
			{path: participant.FunctionRemoveParticipant, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "address": {"+15557770001"}}
			}, status: 200, want: map[string]any{"already_absent": false}},
			{path: participant.FunctionRemoveParticipant, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "address": {"+15557770001"}}
			}, status: 200, want: map[string]any{"already_absent": true}},
		}},
		{name: "chat_participant_json_body", steps: []step{
			{path: participant.FunctionAddParticipant, contentType: "application/json", body: `{"conversationID":"%s","identity":"web-user-1"}`,
				status: 200, want: map[string]any{"identity": "web-user-1", "already_present": false}},
			{path: participant.FunctionRemoveParticipant, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "identity": {"web-user-1"}}
			}, status: 200, want: map[string]any{"already_absent": false}},
		}},
		{name: "binding_conflict_is_409", steps: []step{
			{path: participant.FunctionAddParticipant, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "address": {held}, "proxyAddress": {twilioNumber}}
			}, status: 409, want: map[string]any{"code": "failed_precondition", "twilio_code": float64(50416), "conflicting_conversation_sid": holder}},
		}},
		{name: "bad_requests", steps: []step{
			{path: participant.FunctionAddSupportAgent, form: func(string) url.Values { return url.Values{} },
				status: 400, want: map[string]any{"code": "invalid_argument", "error": "parameter conversationID is required"}},
			{path: participant.FunctionAddParticipant, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "address": {"555 1234"}}
			}, status: 400, want: map[string]any{"code": "invalid_argument"}},
			{path: participant.FunctionAddParticipant, form: func(conv string) url.Values { return url.Values{"conversationID": {conv}} },
				status: 400, want: map[string]any{"code": "invalid_argument"}},
			{path: participant.FunctionRemoveParticipant, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "address": {"+15557770002"}, "identity": {"x"}}
			}, status: 400, want: map[string]any{"code": "invalid_argument"}},
			{path: participant.FunctionAddParticipant, contentType: "application/json", body: `[1,2]`,
				status: 400, want: map[string]any{"code": "invalid_argument"}},
		}},
		{name: "unknown_conversation_is_404", steps: []step{
			{path: participant.FunctionAddSupportAgent, form: func(string) url.Values {
				return url.Values{"conversationID": {"CH" + strings.Repeat("e", 32)}}
			}, status: 404, want: map[string]any{"code": "not_found", "twilio_code": float64(20404)}},
		}},
		{name: "none_available_is_429", steps: []step{
			{path: participant.FunctionAddSupportAgent, form: func(conv string) url.Values {
				return url.Values{"conversationID": {conv}, "pool": {"nobody"}}
			}, status: 429, want: map[string]any{"code": "resource_exhausted"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the agent steps depend on the loads the others
			// leave behind.
			conv := newConversation(t, fake)
			for i, st := range tt.steps {
				body, ct := "", "application/x-www-form-urlencoded"
				if st.body != "" {
					body, ct = st.body, st.contentType
					if strings.Contains(body, "%s") {
						body = strings.Replace(body, "%s", conv, 1)
					}
				} else {
					body = st.form(conv).Encode()
				}
				res := postSigned(t, fake.AuthToken(), ts.url+st.path, ct, body)
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != st.status {
					t.Fatalf("step %d: %s → %d %s, want %d", i, st.path, res.StatusCode, raw, st.status)
				}
				if got := res.Header.Get("Content-Type"); got != "application/json" {
					t.Fatalf("step %d: Content-Type %q: Studio only parses application/json", i, got)
				}
				var got map[string]any
				if err := json.Unmarshal(raw, &got); err != nil {
					t.Fatalf("step %d: body %s is not a JSON object: %v", i, raw, err)
				}
				for k, v := range st.want {
					if got[k] != v {
						t.Fatalf("step %d: %s = %v, want %v (body %s)", i, k, got[k], v, raw)
					}
				}
				if sid, _ := got["participant_sid"].(string); st.status == 200 && !strings.HasPrefix(sid, "MB") && got["already_absent"] != true {
					t.Fatalf("step %d: no participant_sid in %s", i, raw)
				}
			}
		})
	}

	t.Run("get_not_allowed", func(t *testing.T) {
		res, err := http.Get(ts.url + participant.FunctionAddSupportAgent)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET → %d, want 405", res.StatusCode)
		}
	})
}

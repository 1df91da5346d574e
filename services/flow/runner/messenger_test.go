package runner_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/runner"
)

// loseFirstAnswer forwards every request but, for the first message create,
// throws the answer away and reports a broken connection: the message
// exists on the server while the client believes the post failed.
type loseFirstAnswer struct {
	base http.RoundTripper
	lost atomic.Bool
}

func (l *loseFirstAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/Messages") && l.lost.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return resp, err
}

func TestTwilioMessengerDeliversOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		faults    []conversations.Fault
		lose      bool
		attrs     string
		wantErr   bool
		wantCount int
	}{
		{
			name: "500_then_429_then_success",
			faults: []conversations.Fault{
				{Method: "POST", Path: "/v1/Conversations/*/Messages", Status: 500, Code: 20500, Count: 1},
				{Method: "POST", Path: "/v1/Conversations/*/Messages", Status: 429, Code: 20429, Count: 1},
			},
			wantCount: 1,
		},
		{name: "answer_lost_after_create", lose: true, wantCount: 1},
		{name: "flow_attributes_kept", lose: true, attrs: `{"topic":"billing"}`, wantCount: 1},
		{
			// Attributes that are not an object cannot carry the key, so an
			// ambiguous failure is not retried: the widget fails instead of
			// risking a second copy.
			name:      "unkeyed_not_retried_after_500",
			attrs:     `["not","an","object"]`,
			faults:    []conversations.Fault{{Method: "POST", Path: "/v1/Conversations/*/Messages", Status: 500, Code: 20500, Count: 1}},
			wantErr:   true,
			wantCount: 0,
		},
		{name: "4xx_is_final", faults: []conversations.Fault{{Method: "POST", Path: "/v1/Conversations/*/Messages", Status: 400, Code: 20001, Count: 1}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, err := conversations.NewServer(conversations.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = fake.Close() })
			var transport http.RoundTripper = http.DefaultTransport
			if tt.lose {
				transport = &loseFirstAnswer{base: http.DefaultTransport}
			}
			rc, err := twilioclient.New(twilioclient.Options{AccountSID: fake.AccountSid(), AuthToken: fake.AuthToken(), BaseURL: fake.URL(), Transport: transport})
			if err != nil {
				t.Fatal(err)
			}
			conv, err := rc.ConversationsV1.CreateConversation(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.faults {
				if _, err := fake.InjectFault(f); err != nil {
					t.Fatal(err)
				}
			}
			m := runner.NewTwilioMessenger(rc, "system")
			sent, err := m.Send(t.Context(), engine.OutboundMessage{
				IdempotencyKey: "FN00000000000000000000000000000001/3", ConversationSid: *conv.Sid,
				Body: "hello", Attributes: tt.attrs,
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send err = %v, wantErr %v", err, tt.wantErr)
			}
			msgs := fake.Messages(*conv.Sid)
			if len(msgs) != tt.wantCount {
				t.Fatalf("%d messages in the conversation, want %d", len(msgs), tt.wantCount)
			}
			if tt.wantErr || tt.wantCount == 0 {
				return
			}
			if sent.Sid != msgs[0].Sid || sent.Body != "hello" {
				t.Fatalf("Send reported %+v, the conversation holds %s", sent, msgs[0].Sid)
			}
			if !strings.Contains(msgs[0].Attributes, `"convoflow_send_key":"FN00000000000000000000000000000001/3"`) {
				t.Fatalf("attributes %s lack the send key", msgs[0].Attributes)
			}
			if tt.attrs != "" && !strings.Contains(msgs[0].Attributes, `"topic":"billing"`) {
				t.Fatalf("attributes %s lost the flow's own", msgs[0].Attributes)
			}
		})
	}
}

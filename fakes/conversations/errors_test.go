package conversations_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/fakes/conversations"
)

// errorFixture builds the state the error cases run against: conversation A
// (unique name "taken") with an SMS participant and a chat participant
// "alice", and a closed conversation C.
func errorFixture(t *testing.T, srv *conversations.Server) map[string]string {
	t.Helper()
	a := mustCall(t, 201, srv, "POST", "/v1/Conversations", form("UniqueName", "taken"))
	sid := str(a["sid"])
	sms := mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants",
		form("MessagingBinding.Address", "+15550000001", "MessagingBinding.ProxyAddress", "+15559999999"))
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants", form("Identity", "alice"))
	c := mustCall(t, 201, srv, "POST", "/v1/Conversations", form("State", "closed"))
	return map[string]string{"A": sid, "C": str(c["sid"]), "SMS": str(sms["sid"])}
}

// fillParticipants adds n participants to conversation A.
func fillParticipants(chat bool, n int) func(*testing.T, *conversations.Server, map[string]string) {
	return func(t *testing.T, srv *conversations.Server, v map[string]string) {
		for i := range n {
			f := form("Identity", fmt.Sprintf("user-%d", i))
			if !chat {
				f = form("MessagingBinding.Address", fmt.Sprintf("+1555100%04d", i), "MessagingBinding.ProxyAddress", "+15559999999")
			}
			mustCall(t, 201, srv, "POST", "/v1/Conversations/"+v["A"]+"/Participants", f)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 257)
	tests := []struct {
		name    string
		extra   func(*testing.T, *conversations.Server, map[string]string)
		method  string
		path    string // {A}, {C} and {SMS} are replaced by the fixture's SIDs
		form    url.Values
		header  []string
		status  int
		code    int
		message string // regexp; {A} replaced
	}{
		{name: "no_credentials", method: "GET", path: "/v1/Conversations", header: []string{"Authorization", ""}, status: 401, code: 20003, message: "^Authenticate$"},
		{name: "wrong_token", method: "GET", path: "/v1/Conversations", header: []string{"Authorization", basic(conversations.DefaultAccountSid, "nope")}, status: 401, code: 20003},
		{name: "unknown_api_key", method: "GET", path: "/v1/Conversations", header: []string{"Authorization", basic("SK00000000000000000000000000000009", "secret")}, status: 401, code: 20003},
		{name: "unknown_conversation", method: "GET", path: "/v1/Conversations/CH00000000000000000000000000000000", status: 404, code: 20404,
			message: "^The requested resource /Conversations/CH00000000000000000000000000000000 was not found$"},
		{name: "unknown_participant", method: "GET", path: "/v1/Conversations/{A}/Participants/bob", status: 404, code: 20404},
		{name: "invalid_message_sid", method: "GET", path: "/v1/Conversations/{A}/Messages/not-a-sid", status: 404, code: 20404},
		{name: "invalid_webhook_sid", method: "DELETE", path: "/v1/Conversations/{A}/Webhooks/IM00000000000000000000000000000000", status: 404, code: 20404},
		{name: "unknown_path", method: "GET", path: "/v1/Nope", status: 404, code: 20404},
		{name: "unknown_service", method: "GET", path: "/v1/Services/IS00000000000000000000000000000000/Conversations", status: 404, code: 20404},
		{name: "missing_target", method: "POST", path: "/v1/Conversations/{A}/Webhooks", status: 400, code: 20001, message: "^Missing required parameter Target in the post body$"},
		{name: "missing_flow_sid", method: "POST", path: "/v1/Conversations/{A}/Webhooks", form: form("Target", "studio"), status: 400, code: 20001, message: "Configuration.FlowSid"},
		{name: "missing_identity", method: "POST", path: "/v1/Conversations/{A}/Participants", status: 400, code: 20001, message: "^Missing required parameter Identity in the post body$"},
		{name: "missing_body", method: "POST", path: "/v1/Conversations/{A}/Messages", status: 400, code: 20001, message: "parameter Body"},
		{name: "missing_address_type", method: "POST", path: "/v1/Configuration/Addresses", form: form("Address", "+15550001111"), status: 400, code: 20001, message: "parameter Type"},
		{name: "missing_participant_conversations_filter", method: "GET", path: "/v1/ParticipantConversations", status: 400, code: 20001, message: "Identity"},
		{name: "update_closed", method: "POST", path: "/v1/Conversations/{C}", form: form("FriendlyName", "x"), status: 400, code: 50377,
			message: "^Can't update conversation as it's in final closed state$"},
		{name: "reopen_closed", method: "POST", path: "/v1/Conversations/{C}", form: form("State", "active"), status: 400, code: 50377},
		{name: "message_to_closed", method: "POST", path: "/v1/Conversations/{C}/Messages", form: form("Body", "hi"), status: 400, code: 50377},
		{name: "unique_name_taken", method: "POST", path: "/v1/Conversations", form: form("UniqueName", "taken"), status: 409, code: 50353,
			message: "^Conversation with provided unique name already exists$"},
		{name: "unique_name_taken_on_update", method: "POST", path: "/v1/Conversations/{A}", form: form("UniqueName", "taken-too"),
			extra: func(t *testing.T, srv *conversations.Server, _ map[string]string) {
				mustCall(t, 201, srv, "POST", "/v1/Conversations", form("UniqueName", "taken-too"))
			}, status: 409, code: 50353},
		{name: "duplicate_binding", method: "POST", path: "/v1/Conversations", form: nil, status: 0,
			extra: func(t *testing.T, srv *conversations.Server, v map[string]string) {
				other := mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)
				r := call(t, srv, "POST", "/v1/Conversations/"+str(other["sid"])+"/Participants",
					form("MessagingBinding.Address", "+15550000001", "MessagingBinding.ProxyAddress", "+15559999999"))
				want := "A binding for this participant and proxy address already exists in Conversation " + v["A"]
				if r.Status != 409 || r.JSON["code"] != float64(50416) || r.JSON["message"] != want {
					t.Fatalf("duplicate binding: %d %s", r.Status, r.Raw)
				}
			}},
		{name: "duplicate_identity", method: "POST", path: "/v1/Conversations/{A}/Participants", form: form("Identity", "alice"), status: 409, code: 50433, message: "^Participant already exists$"},
		{name: "invalid_address", method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("MessagingBinding.Address", "+111", "MessagingBinding.ProxyAddress", "+15559999999"), status: 400, code: 50407, message: "^Invalid messaging binding address$"},
		{name: "address_too_long", method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("MessagingBinding.Address", "+1"+strings.Repeat("5", 300), "MessagingBinding.ProxyAddress", "+15559999999"), status: 400, code: 50407},
		{name: "invalid_proxy", method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("MessagingBinding.Address", "+15550000009", "MessagingBinding.ProxyAddress", "not-a-number"), status: 400, code: 50408, message: "^Invalid participant proxy address$"},
		{name: "empty_proxy", method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("MessagingBinding.Address", "+15550000009"), status: 400, code: 50412},
		{name: "channel_mismatch", method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("MessagingBinding.Address", "whatsapp:+15550000009", "MessagingBinding.ProxyAddress", "+15559999999"), status: 400, code: 50414},
		{name: "identity_on_sms_participant", method: "POST", path: "/v1/Conversations/{A}/Participants/{SMS}", form: form("Identity", "sms-user"), status: 400, code: 50444,
			message: "^Failed to add an identity to a participant$"},
		{name: "proxy_on_chat_participant", method: "POST", path: "/v1/Conversations/{A}/Participants/alice", form: form("MessagingBinding.ProxyAddress", "+15559999990"), status: 400, code: 50441,
			message: "^Failed to add a proxy address to a participant$"},
		{name: "chat_participant_limit", extra: fillParticipants(true, 99), method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("Identity", "one-too-many"), status: 400, code: 50417, message: "^Participants limit exceeded$"},
		{name: "non_chat_participant_limit", extra: fillParticipants(false, 49), method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("MessagingBinding.Address", "+15552220000", "MessagingBinding.ProxyAddress", "+15559999999"), status: 400, code: 50422,
			message: "^Non-chat conversation participants limit exceeded$"},
		{name: "webhook_limit", method: "POST", path: "/v1/Conversations/{A}/Webhooks", form: form("Target", "webhook", "Configuration.Url", "https://example.com/6"),
			extra: func(t *testing.T, srv *conversations.Server, v map[string]string) {
				for i := range 5 {
					mustCall(t, 201, srv, "POST", "/v1/Conversations/"+v["A"]+"/Webhooks",
						form("Target", "webhook", "Configuration.Url", fmt.Sprintf("https://example.com/%d", i), "Configuration.Filters", "onMessageAdded"))
				}
			}, status: 400, code: 50361},
		{name: "friendly_name_too_long", method: "POST", path: "/v1/Conversations", form: form("FriendlyName", long), status: 400, code: 20001, message: "FriendlyName.*256"},
		{name: "identity_too_long", method: "POST", path: "/v1/Conversations/{A}/Participants", form: form("Identity", long), status: 400, code: 20001, message: "Identity.*256"},
		{name: "conversation_attributes_too_big", method: "POST", path: "/v1/Conversations", form: form("Attributes", `"`+strings.Repeat("a", 16<<10)+`"`), status: 400, code: 20001, message: "Attributes"},
		{name: "message_attributes_too_big", method: "POST", path: "/v1/Conversations/{A}/Messages", form: form("Body", "x", "Attributes", `"`+strings.Repeat("a", 4<<10)+`"`), status: 400, code: 20001, message: "Attributes"},
		{name: "attributes_not_json", method: "POST", path: "/v1/Conversations", form: form("Attributes", "{nope"), status: 400, code: 20001, message: "Attributes.*JSON"},
		{name: "page_size_not_integer", method: "GET", path: "/v1/Conversations", form: form("PageSize", "many"), status: 400, code: 20001, message: "PageSize"},
		{name: "page_size_zero", method: "GET", path: "/v1/Conversations", form: form("PageSize", "0"), status: 400, code: 20001, message: "PageSize"},
		{name: "bad_page_token", method: "GET", path: "/v1/Conversations", form: form("PageToken", "xyz"), status: 400, code: 20001, message: "PageToken"},
		{name: "state_not_enum", method: "POST", path: "/v1/Conversations", form: form("State", "sleeping"), status: 400, code: 20001, message: "State"},
		{name: "timer_not_duration", method: "POST", path: "/v1/Conversations", form: form("Timers.Inactive", "soon"), status: 400, code: 20001, message: "Timers.Inactive"},
		{name: "timer_too_short", method: "POST", path: "/v1/Conversations", form: form("Timers.Closed", "PT1M"), status: 400, code: 20001, message: "Timers.Closed.*PT10M"},
		{name: "messaging_service_not_sid", method: "POST", path: "/v1/Conversations", form: form("MessagingServiceSid", "IS00000000000000000000000000000000"), status: 400, code: 20001, message: "MessagingServiceSid"},
		{name: "date_not_iso", method: "POST", path: "/v1/Conversations", form: form("DateCreated", "yesterday"), status: 400, code: 20001, message: "DateCreated"},
		{name: "webhook_target_not_enum", method: "POST", path: "/v1/Conversations/{A}/Webhooks", form: form("Target", "email"), status: 400, code: 20001, message: "Target"},
		{name: "webhook_filter_unknown", method: "POST", path: "/v1/Conversations/{A}/Webhooks", form: form("Target", "webhook", "Configuration.Url", "https://example.com", "Configuration.Filters", "onEverything"), status: 400, code: 20001, message: "Configuration.Filters"},
		{name: "replay_after_not_integer", method: "POST", path: "/v1/Conversations/{A}/Webhooks", form: form("Target", "studio", "Configuration.FlowSid", "FW00000000000000000000000000000000", "Configuration.ReplayAfter", "x"), status: 400, code: 20001, message: "ReplayAfter"},
		{name: "body_too_large", method: "POST", path: "/v1/Conversations", form: form("FriendlyName", strings.Repeat("y", 1<<20)), status: 413, code: 20001, message: "1048576"},
		{name: "cwp_too_many", method: "POST", path: "/v1/ConversationWithParticipants", form: cwpForm(11), status: 400, code: 50426},
		{name: "cwp_binding_in_use", method: "POST", path: "/v1/ConversationWithParticipants",
			form: form("Participant", `{"messaging_binding":{"address":"+15550000001","proxy_address":"+15559999999"}}`), status: 400, code: 50425},
		{name: "cwp_binding_in_use_camel_case", method: "POST", path: "/v1/ConversationWithParticipants",
			form: form("Participant", `{"messagingBinding.address":"+15550000001","messagingBinding.proxyAddress":"+15559999999"}`), status: 400, code: 50425},
		{name: "cwp_participant_not_json", method: "POST", path: "/v1/ConversationWithParticipants", form: form("Participant", "alice"), status: 400, code: 20001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, conversations.Options{})
			v := errorFixture(t, srv)
			if tt.extra != nil {
				tt.extra(t, srv, v)
			}
			if tt.status == 0 {
				return // the extra step made its own assertions
			}
			before := snapshot(srv)
			path := strings.NewReplacer("{A}", v["A"], "{C}", v["C"], "{SMS}", v["SMS"]).Replace(tt.path)
			r := call(t, srv, tt.method, path, tt.form, tt.header...)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			keys := make([]string, 0, len(r.JSON))
			for k := range r.JSON {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !reflect.DeepEqual(keys, []string{"code", "message", "more_info", "status"}) {
				t.Fatalf("error body keys %v: %s", keys, r.Raw)
			}
			if r.JSON["code"] != float64(tt.code) || r.JSON["status"] != float64(tt.status) ||
				r.JSON["more_info"] != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", tt.code) {
				t.Fatalf("error body %s, want code %d", r.Raw, tt.code)
			}
			if tt.message != "" && !regexp.MustCompile(strings.ReplaceAll(tt.message, "{A}", v["A"])).MatchString(str(r.JSON["message"])) {
				t.Fatalf("message %q does not match %q", r.JSON["message"], tt.message)
			}
			if after := snapshot(srv); !reflect.DeepEqual(before, after) {
				t.Fatalf("a rejected request changed state:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func cwpForm(n int) url.Values {
	v := url.Values{}
	for i := range n {
		v.Add("Participant", fmt.Sprintf(`{"identity":"p%d"}`, i))
	}
	return v
}

// stateSnapshot is everything a rejected request must leave alone.
type stateSnapshot struct {
	Conversations []conversations.Conversation
	Participants  map[string][]conversations.Participant
	Messages      map[string][]conversations.Message
	Webhooks      map[string][]conversations.ScopedWebhook
	Addresses     []conversations.AddressConfiguration
}

func snapshot(srv *conversations.Server) stateSnapshot {
	s := stateSnapshot{
		Conversations: srv.Conversations(),
		Participants:  map[string][]conversations.Participant{},
		Messages:      map[string][]conversations.Message{},
		Webhooks:      map[string][]conversations.ScopedWebhook{},
		Addresses:     srv.AddressConfigurations(),
	}
	for _, c := range s.Conversations {
		s.Participants[c.Sid] = srv.Participants(c.Sid)
		s.Messages[c.Sid] = srv.Messages(c.Sid)
		s.Webhooks[c.Sid] = srv.ScopedWebhooks(c.Sid)
	}
	return s
}

func TestAPIKeyAuth(t *testing.T) {
	t.Parallel()
	const key, secret = "SKabcdefabcdefabcdefabcdefabcdefab", "s3cr3t"
	srv := startFake(t, conversations.Options{APIKeys: map[string]string{key: secret}})
	r := call(t, srv, "GET", "/v1/Conversations", nil, "Authorization", basic(key, secret))
	if r.Status != 200 {
		t.Fatalf("API key auth: %d %s", r.Status, r.Raw)
	}
}

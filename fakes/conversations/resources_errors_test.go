package conversations_test

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/fakes/conversations"
)

// resourceFixture builds the state the Services/Users/Roles/Credentials
// error cases run against: conversation A with participant "alice", user
// "alice-user", a custom conversation role held by alice, an fcm credential
// and a binding. It returns the SIDs by placeholder name.
func resourceFixture(t *testing.T, srv *conversations.Server) map[string]string {
	t.Helper()
	v := map[string]string{"IS": srv.DefaultServiceSid()}
	for _, r := range srv.Roles("") {
		v[strings.ReplaceAll(r.FriendlyName, " ", "_")] = r.Sid
	}
	role := mustCall(t, 201, srv, "POST", "/v1/Roles", form("FriendlyName", "custom", "Type", "conversation", "Permission", "sendMessage"))
	v["RL"] = str(role["sid"])
	a := mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)
	v["A"] = str(a["sid"])
	mustCall(t, 201, srv, "POST", "/v1/Conversations/"+v["A"]+"/Participants", form("Identity", "alice", "RoleSid", v["RL"]))
	u := mustCall(t, 201, srv, "POST", "/v1/Users", form("Identity", "alice-user"))
	v["US"] = str(u["sid"])
	cr := mustCall(t, 201, srv, "POST", "/v1/Credentials", form("Type", "fcm", "Secret", "k"))
	v["CR"] = str(cr["sid"])
	b, err := srv.AddBinding(conversations.BindingInput{Identity: "alice-user", BindingType: "fcm", CredentialSid: v["CR"]})
	if err != nil {
		t.Fatal(err)
	}
	v["BS"] = b.Sid
	return v
}

// resourceSnapshot is what a rejected request must leave alone.
type resourceSnapshot struct {
	Services     []conversations.Service
	Users        []conversations.User
	Roles        []conversations.Role
	Credentials  []conversations.Credential
	Bindings     []conversations.Binding
	Participants []conversations.Participant
}

func resourceState(srv *conversations.Server, conv string) resourceSnapshot {
	return resourceSnapshot{
		Services: srv.Services(), Users: srv.Users(""), Roles: srv.Roles(""), Credentials: srv.Credentials(),
		Bindings: srv.Bindings(""), Participants: srv.Participants(conv),
	}
}

func TestResourceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		method  string
		path    string // {NAME} is replaced by the fixture's SIDs
		form    url.Values
		status  int
		code    int
		message string // regexp
	}{
		{name: "service_missing_name", method: "POST", path: "/v1/Services", status: 400, code: 20001, message: "^Missing required parameter FriendlyName in the post body$"},
		{name: "service_unknown", method: "GET", path: "/v1/Services/IS00000000000000000000000000000000", status: 404, code: 20404},
		{name: "service_delete_default", method: "DELETE", path: "/v1/Services/{IS}", status: 400, code: 20001, message: "default Conversation Service"},
		{name: "service_config_wrong_role_type", method: "POST", path: "/v1/Services/{IS}/Configuration",
			form: form("DefaultChatServiceRoleSid", "{channel_user}"), status: 400, code: 20001, message: "DefaultChatServiceRoleSid.*service role is required"},
		{name: "service_config_unknown_role", method: "POST", path: "/v1/Services/{IS}/Configuration",
			form: form("DefaultConversationRoleSid", "RL00000000000000000000000000000000"), status: 400, code: 20001, message: "DefaultConversationRoleSid"},
		{name: "service_config_not_bool", method: "POST", path: "/v1/Services/{IS}/Configuration", form: form("ReachabilityEnabled", "maybe"), status: 400, code: 20001},
		{name: "notification_not_bool", method: "POST", path: "/v1/Services/{IS}/Configuration/Notifications",
			form: form("NewMessage.Template", "x", "AddedToConversation.Enabled", "maybe"), status: 400, code: 20001, message: "AddedToConversation.Enabled"},

		{name: "user_missing_identity", method: "POST", path: "/v1/Users", status: 400, code: 20001, message: "^Missing required parameter Identity in the post body$"},
		{name: "user_identity_taken", method: "POST", path: "/v1/Users", form: form("Identity", "alice-user"), status: 409, code: 50201, message: "^User already exists$"},
		{name: "user_identity_too_long", method: "POST", path: "/v1/Users", form: form("Identity", strings.Repeat("x", 257)), status: 400, code: 20001},
		{name: "user_attributes_not_json", method: "POST", path: "/v1/Users", form: form("Identity", "bob", "Attributes", "{oops"), status: 400, code: 20001},
		{name: "user_unknown_role", method: "POST", path: "/v1/Users", form: form("Identity", "bob", "RoleSid", "RL00000000000000000000000000000000"), status: 400, code: 20001, message: "RoleSid"},
		{name: "user_conversation_role", method: "POST", path: "/v1/Users", form: form("Identity", "bob", "RoleSid", "{channel_user}"), status: 400, code: 20001, message: "service role is required"},
		{name: "user_update_conversation_role", method: "POST", path: "/v1/Users/{US}", form: form("RoleSid", "{RL}"), status: 400, code: 20001},
		{name: "user_unknown", method: "GET", path: "/v1/Users/nobody", status: 404, code: 20404, message: "^The requested resource /Users/nobody was not found$"},
		{name: "user_delete_unknown", method: "DELETE", path: "/v1/Users/US00000000000000000000000000000000", status: 404, code: 20404},
		{name: "user_conversation_not_participant", method: "GET", path: "/v1/Users/{US}/Conversations/{A}", status: 404, code: 20404},
		{name: "user_conversation_unknown_conversation", method: "DELETE", path: "/v1/Users/alice/Conversations/CH00000000000000000000000000000000", status: 404, code: 20404},
		{name: "user_conversation_bad_level", method: "POST", path: "/v1/Users/alice-user/Conversations/{A}", form: form("NotificationLevel", "loud"), status: 400, code: 20001},
		{name: "user_conversation_bad_index", method: "POST", path: "/v1/Users/alice-user/Conversations/{A}", form: form("LastReadMessageIndex", "-1"), status: 400, code: 20001},

		{name: "role_missing_name", method: "POST", path: "/v1/Roles", form: form("Type", "service", "Permission", "joinConversation"), status: 400, code: 20001, message: "FriendlyName"},
		{name: "role_missing_type", method: "POST", path: "/v1/Roles", form: form("FriendlyName", "x", "Permission", "joinConversation"), status: 400, code: 20001, message: "parameter Type"},
		{name: "role_bad_type", method: "POST", path: "/v1/Roles", form: form("FriendlyName", "x", "Type", "global", "Permission", "sendMessage"), status: 400, code: 20001, message: "Type"},
		{name: "role_missing_permission", method: "POST", path: "/v1/Roles", form: form("FriendlyName", "x", "Type", "service"), status: 400, code: 20001, message: "^Missing required parameter Permission in the post body$"},
		{name: "role_service_permission_on_conversation_role", method: "POST", path: "/v1/Roles",
			form: form("FriendlyName", "x", "Type", "conversation", "Permission", "sendMessage", "Permission", "createConversation"), status: 400, code: 20001, message: `"createConversation" is not a conversation permission`},
		{name: "role_unknown_permission", method: "POST", path: "/v1/Roles", form: form("FriendlyName", "x", "Type", "service", "Permission", "doEverything"), status: 400, code: 20001, message: "doEverything"},
		{name: "role_update_no_permission", method: "POST", path: "/v1/Roles/{RL}", status: 400, code: 20001, message: "Permission"},
		{name: "role_update_bad_permission", method: "POST", path: "/v1/Roles/{RL}", form: form("Permission", "joinConversation"), status: 400, code: 20001},
		{name: "role_unknown", method: "GET", path: "/v1/Roles/RL00000000000000000000000000000000", status: 404, code: 20404},
		{name: "role_of_other_service", method: "GET", path: "/v1/Services/{OTHER}/Roles/{RL}", status: 404, code: 20404},
		{name: "role_delete_default", method: "DELETE", path: "/v1/Roles/{channel_user}", status: 400, code: 20001, message: "default role"},
		{name: "role_delete_held_by_participant", method: "DELETE", path: "/v1/Roles/{RL}", status: 400, code: 20001, message: "assigned to participant"},
		{name: "role_delete_held_by_user", method: "DELETE", path: "/v1/Roles/{service_admin}", status: 400, code: 20001, message: "assigned to user"},

		{name: "participant_unknown_role", method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("Identity", "bob", "RoleSid", "RL00000000000000000000000000000000"), status: 400, code: 20001, message: "RoleSid"},
		{name: "participant_service_role", method: "POST", path: "/v1/Conversations/{A}/Participants",
			form: form("Identity", "bob", "RoleSid", "{service_user}"), status: 400, code: 20001, message: "conversation role is required"},
		{name: "participant_update_unknown_role", method: "POST", path: "/v1/Conversations/{A}/Participants/alice",
			form: form("RoleSid", "RL00000000000000000000000000000000"), status: 400, code: 20001},
		{name: "cwp_participant_unknown_role", method: "POST", path: "/v1/ConversationWithParticipants",
			form: form("Participant", `{"identity":"bob","role_sid":"RL00000000000000000000000000000000"}`), status: 400, code: 20001},

		{name: "credential_missing_type", method: "POST", path: "/v1/Credentials", status: 400, code: 20001, message: "^Missing required parameter Type in the post body$"},
		{name: "credential_bad_type", method: "POST", path: "/v1/Credentials", form: form("Type", "sms"), status: 400, code: 20001},
		{name: "credential_fcm_without_secret", method: "POST", path: "/v1/Credentials", form: form("Type", "fcm"), status: 400, code: 20001, message: "parameter Secret"},
		{name: "credential_gcm_without_api_key", method: "POST", path: "/v1/Credentials", form: form("Type", "gcm"), status: 400, code: 20001, message: "parameter ApiKey"},
		{name: "credential_apn_without_key", method: "POST", path: "/v1/Credentials", form: form("Type", "apn", "Certificate", "c"), status: 400, code: 20001, message: "parameter PrivateKey"},
		{name: "credential_sandbox_not_bool", method: "POST", path: "/v1/Credentials", form: form("Type", "apn", "Certificate", "c", "PrivateKey", "k", "Sandbox", "maybe"), status: 400, code: 20001},
		{name: "credential_change_type", method: "POST", path: "/v1/Credentials/{CR}", form: form("Type", "apn"), status: 400, code: 20001, message: "Type"},
		{name: "credential_clear_secret", method: "POST", path: "/v1/Credentials/{CR}", form: form("Secret", ""), status: 400, code: 20001, message: "Secret"},
		{name: "credential_unknown", method: "GET", path: "/v1/Credentials/CR00000000000000000000000000000000", status: 404, code: 20404},

		{name: "binding_unknown", method: "GET", path: "/v1/Services/{IS}/Bindings/BS00000000000000000000000000000000", status: 404, code: 20404},
		{name: "binding_of_other_service", method: "DELETE", path: "/v1/Services/{OTHER}/Bindings/{BS}", status: 404, code: 20404},
		{name: "binding_bad_type_filter", method: "GET", path: "/v1/Services/{IS}/Bindings", form: form("BindingType", "sms"), status: 400, code: 20001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, conversations.Options{})
			v := resourceFixture(t, srv)
			// The service admin role is held by a user, for role_delete_held_by_user.
			mustCall(t, 201, srv, "POST", "/v1/Users", form("Identity", "admin", "RoleSid", v["service_admin"]))
			other := mustCall(t, 201, srv, "POST", "/v1/Services", form("FriendlyName", "other"))
			v["OTHER"] = str(other["sid"])
			pairs := make([]string, 0, 2*len(v))
			for k, sid := range v {
				pairs = append(pairs, "{"+k+"}", sid)
			}
			rep := strings.NewReplacer(pairs...)
			f := url.Values{}
			for k, vs := range tt.form {
				for _, x := range vs {
					f.Add(k, rep.Replace(x))
				}
			}
			before := resourceState(srv, v["A"])
			r := call(t, srv, tt.method, rep.Replace(tt.path), f)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			if r.JSON["code"] != float64(tt.code) || r.JSON["status"] != float64(tt.status) ||
				r.JSON["more_info"] != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", tt.code) {
				t.Fatalf("error body %s, want code %d", r.Raw, tt.code)
			}
			if tt.message != "" && !regexp.MustCompile(tt.message).MatchString(str(r.JSON["message"])) {
				t.Fatalf("message %q does not match %q", r.JSON["message"], tt.message)
			}
			if after := resourceState(srv, v["A"]); !reflect.DeepEqual(before, after) {
				t.Fatalf("a rejected request changed state:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

func TestAddBindingErrors(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	cr := mustCall(t, 201, srv, "POST", "/v1/Credentials", form("Type", "fcm", "Secret", "k"))
	crSid := str(cr["sid"])
	tests := []struct {
		name string
		in   conversations.BindingInput
		want string // substring of the error
	}{
		{name: "unknown_service", in: conversations.BindingInput{ChatServiceSid: "IS00000000000000000000000000000000", Identity: "a", BindingType: "twilsock"}, want: "ChatServiceSid"},
		{name: "missing_identity", in: conversations.BindingInput{BindingType: "twilsock"}, want: "Identity"},
		{name: "bad_type", in: conversations.BindingInput{Identity: "a", BindingType: "sms"}, want: "BindingType"},
		{name: "missing_credential", in: conversations.BindingInput{Identity: "a", BindingType: "fcm"}, want: "CredentialSid"},
		{name: "credential_of_other_type", in: conversations.BindingInput{Identity: "a", BindingType: "apn", CredentialSid: crSid}, want: "fcm credential cannot serve a apn binding"},
		{name: "bad_message_type", in: conversations.BindingInput{Identity: "a", BindingType: "fcm", CredentialSid: crSid, MessageTypes: []string{"typing"}}, want: "typing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := srv.AddBinding(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AddBinding(%+v) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
	if got := srv.Bindings(""); len(got) != 0 {
		t.Fatalf("rejected bindings were stored: %+v", got)
	}
	// twilsock bindings need no credential.
	if _, err := srv.AddBinding(conversations.BindingInput{Identity: "a", BindingType: "twilsock"}); err != nil {
		t.Fatal(err)
	}
}

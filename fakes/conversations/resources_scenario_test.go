package conversations_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	convapi "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/convoflow/convoflow/fakes/conversations"
)

// TestSDKUsersAndRoles drives users, roles and user conversations through
// twilio-go: default roles, role updates, identity uniqueness, paging over
// several pages, and the read horizon of a user conversation.
func TestSDKUsersAndRoles(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	api := sdk(srv).ConversationsV1

	roles, err := api.ListRole(nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]convapi.ConversationsV1Role{}
	for _, r := range roles {
		byName[*r.FriendlyName] = r
	}
	for name, typ := range map[string]string{"channel user": "conversation", "channel admin": "conversation", "service admin": "service", "service user": "service"} {
		if r, ok := byName[name]; !ok || *r.Type != typ || len(*r.Permissions) == 0 {
			t.Fatalf("default role %q: %+v (present %v)", name, r, ok)
		}
	}
	if !slices.Contains(*byName["channel user"].Permissions, "sendMessage") {
		t.Fatalf("channel user cannot send messages: %v", *byName["channel user"].Permissions)
	}

	role, err := api.CreateRole((&convapi.CreateRoleParams{}).SetFriendlyName("agent").SetType("conversation").
		SetPermission([]string{"sendMessage", "addParticipant"}))
	if err != nil {
		t.Fatal(err)
	}
	role, err = api.UpdateRole(*role.Sid, (&convapi.UpdateRoleParams{}).SetPermission([]string{"sendMessage", "removeParticipant"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := *role.Permissions; !slices.Equal(got, []string{"sendMessage", "removeParticipant"}) {
		t.Fatalf("update replaces permissions: got %v", got)
	}

	user, err := api.CreateUser((&convapi.CreateUserParams{}).SetIdentity("agent-0").SetFriendlyName("Agent Zero").SetAttributes(`{"team":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	if *user.RoleSid != *byName["service user"].Sid || user.IsOnline != nil || user.IsNotifiable != nil || *user.Attributes != `{"team":"a"}` {
		t.Fatalf("new user: role %s (want the service user role %s), online %v, notifiable %v, attributes %s",
			*user.RoleSid, *byName["service user"].Sid, user.IsOnline, user.IsNotifiable, *user.Attributes)
	}
	_, err = api.CreateUser((&convapi.CreateUserParams{}).SetIdentity("agent-0"))
	if te := restError(t, err); te.Code != 50201 || te.Status != 409 {
		t.Fatalf("duplicate identity: %+v", te)
	}

	for i := 1; i < 7; i++ {
		if _, err := api.CreateUser((&convapi.CreateUserParams{}).SetIdentity(fmt.Sprintf("agent-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	users, err := api.ListUser((&convapi.ListUserParams{}).SetPageSize(3))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range users {
		ids = append(ids, *u.Identity)
	}
	if want := []string{"agent-0", "agent-1", "agent-2", "agent-3", "agent-4", "agent-5", "agent-6"}; !slices.Equal(ids, want) {
		t.Fatalf("paged users %v, want %v", ids, want)
	}
	pages := 0
	for _, r := range srv.Requests() {
		if r.Operation == "ListUser" {
			pages++
		}
	}
	if pages != 3 {
		t.Fatalf("listing 7 users 3 at a time took %d requests, want 3", pages)
	}

	byIdentity, err := api.FetchUser("agent-0")
	if err != nil || *byIdentity.Sid != *user.Sid {
		t.Fatalf("fetch by identity: %v %v", byIdentity, err)
	}

	conv, err := api.CreateConversation((&convapi.CreateConversationParams{}).SetUniqueName("desk"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := api.CreateConversationParticipant(*conv.Sid, (&convapi.CreateConversationParticipantParams{}).SetIdentity("agent-0").SetRoleSid(*role.Sid))
	if err != nil {
		t.Fatal(err)
	}
	pcs, err := api.ListParticipantConversation((&convapi.ListParticipantConversationParams{}).SetIdentity("agent-0"))
	if err != nil || len(pcs) != 1 || pcs[0].ParticipantUserSid == nil || *pcs[0].ParticipantUserSid != *user.Sid {
		t.Fatalf("participant conversations link the user: %+v %v", pcs, err)
	}
	for _, body := range []string{"one", "two", "three"} {
		if _, err := api.CreateConversationMessage(*conv.Sid, (&convapi.CreateConversationMessageParams{}).SetBody(body)); err != nil {
			t.Fatal(err)
		}
	}
	read := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	uc, err := api.UpdateUserConversation("agent-0", "desk", (&convapi.UpdateUserConversationParams{}).
		SetNotificationLevel("muted").SetLastReadMessageIndex(0).SetLastReadTimestamp(read))
	if err != nil {
		t.Fatal(err)
	}
	if *uc.UnreadMessagesCount != 2 || *uc.NotificationLevel != "muted" || *uc.ParticipantSid != *p.Sid || *uc.UserSid != *user.Sid {
		t.Fatalf("user conversation after reading message 0: %+v", uc)
	}
	fetched, err := api.FetchConversationParticipant(*conv.Sid, *p.Sid)
	if err != nil {
		t.Fatal(err)
	}
	if *fetched.LastReadMessageIndex != 0 || *fetched.LastReadTimestamp != "2026-01-02T03:04:05Z" {
		t.Fatalf("the read horizon belongs to the participant: %+v", fetched)
	}
	list, err := api.ListUserConversation(*user.Sid, nil)
	if err != nil || len(list) != 1 || *list[0].ConversationSid != *conv.Sid {
		t.Fatalf("user conversations: %+v %v", list, err)
	}
	if err := api.DeleteUserConversation(*user.Sid, *conv.Sid); err != nil {
		t.Fatal(err)
	}
	if got := srv.Participants(*conv.Sid); len(got) != 0 {
		t.Fatalf("leaving the conversation removes the participant: %+v", got)
	}
	if err := api.DeleteRole(*role.Sid); err != nil {
		t.Fatal(err)
	}
	if err := api.DeleteUser(*user.Sid, nil); err != nil {
		t.Fatal(err)
	}
	_, err = api.FetchUser(*user.Sid)
	if te := restError(t, err); te.Status != 404 || te.Code != 20404 {
		t.Fatalf("deleted user: %+v", te)
	}
}

// TestSDKServiceLifecycle creates a service through twilio-go, configures
// it, seeds a push binding, and deletes it with everything inside.
func TestSDKServiceLifecycle(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	api := sdk(srv).ConversationsV1

	svc, err := api.CreateService((&convapi.CreateServiceParams{}).SetFriendlyName("support"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := api.FetchServiceConfiguration(*svc.Sid)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := api.ListServiceRole(*svc.Sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, r := range roles {
		names[*r.Sid] = *r.FriendlyName
	}
	if names[*cfg.DefaultChatServiceRoleSid] != "service user" || names[*cfg.DefaultConversationRoleSid] != "channel user" ||
		names[*cfg.DefaultConversationCreatorRoleSid] != "channel admin" || *cfg.ReachabilityEnabled {
		t.Fatalf("new service configuration %+v, roles %v", cfg, names)
	}
	if _, err := api.UpdateServiceConfiguration(*svc.Sid, (&convapi.UpdateServiceConfigurationParams{}).SetReachabilityEnabled(true)); err != nil {
		t.Fatal(err)
	}
	n, err := api.UpdateServiceNotification(*svc.Sid, (&convapi.UpdateServiceNotificationParams{}).
		SetNewMessageEnabled(true).SetNewMessageTemplate("New in ${CONVERSATION}").SetNewMessageWithMediaEnabled(true).SetLogEnabled(true))
	if err != nil {
		t.Fatal(err)
	}
	nm, _ := (*n.NewMessage).(map[string]any)
	media, _ := nm["with_media"].(map[string]any)
	if nm["enabled"] != true || nm["template"] != "New in ${CONVERSATION}" || media["enabled"] != true || !*n.LogEnabled {
		t.Fatalf("notifications after update: %+v", nm)
	}

	cred, err := api.CreateCredential((&convapi.CreateCredentialParams{}).SetType("apn").SetCertificate("CERT").SetPrivateKey("KEY").SetSandbox(true))
	if err != nil {
		t.Fatal(err)
	}
	if *cred.Sandbox != "True" {
		t.Fatalf("sandbox %q", *cred.Sandbox)
	}
	raw := mustCall(t, 200, srv, "GET", "/v1/Credentials/"+*cred.Sid, nil)
	for _, secret := range []string{"certificate", "private_key", "secret", "api_key"} {
		if _, ok := raw[secret]; ok {
			t.Fatalf("credential echoes %s: %v", secret, raw)
		}
	}
	if got := srv.Credentials(); len(got) != 1 || got[0].Certificate != "CERT" || got[0].PrivateKey != "KEY" {
		t.Fatalf("stored credential: %+v", got)
	}

	if _, err := api.CreateServiceUser(*svc.Sid, (&convapi.CreateServiceUserParams{}).SetIdentity("customer")); err != nil {
		t.Fatal(err)
	}
	conv, err := api.CreateServiceConversation(*svc.Sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := api.CreateServiceConversationParticipant(*svc.Sid, *conv.Sid, (&convapi.CreateServiceConversationParticipantParams{}).SetIdentity("customer"))
	if err != nil {
		t.Fatal(err)
	}
	if *sp.RoleSid != *cfg.DefaultConversationRoleSid {
		t.Fatalf("participant role %s, want the default conversation role %s", *sp.RoleSid, *cfg.DefaultConversationRoleSid)
	}
	if _, err := srv.AddBinding(conversations.BindingInput{ChatServiceSid: *svc.Sid, Identity: "customer", BindingType: "apn", CredentialSid: *cred.Sid}); err != nil {
		t.Fatal(err)
	}
	bindings, err := api.ListServiceBinding(*svc.Sid, (&convapi.ListServiceBindingParams{}).SetIdentity([]string{"customer"}).SetBindingType([]string{"apn"}))
	if err != nil || len(bindings) != 1 || *bindings[0].CredentialSid != *cred.Sid {
		t.Fatalf("bindings: %+v %v", bindings, err)
	}
	u, err := api.FetchServiceUser(*svc.Sid, "customer")
	if err != nil {
		t.Fatal(err)
	}
	if u.IsNotifiable == nil || !*u.IsNotifiable {
		t.Fatalf("with reachability on and a binding the user is notifiable: %+v", u)
	}
	listed, err := api.ListServiceUser(*svc.Sid, nil)
	if err != nil || len(listed) != 1 || listed[0].IsNotifiable != nil {
		t.Fatalf("lists always report is_notifiable null: %+v %v", listed, err)
	}

	err = api.DeleteService(srv.DefaultServiceSid())
	if te := restError(t, err); te.Status != 400 {
		t.Fatalf("deleting the default service: %+v", te)
	}
	if err := api.DeleteService(*svc.Sid); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Conversation(*conv.Sid); ok {
		t.Fatal("the service's conversation outlived it")
	}
	for _, s := range srv.Services() {
		if s.Sid == *svc.Sid {
			t.Fatal("deleted service still listed")
		}
	}
	if len(srv.Users(*svc.Sid)) != 0 || len(srv.Roles(*svc.Sid)) != 0 || len(srv.Bindings(*svc.Sid)) != 0 {
		t.Fatalf("deleted service left users %v, roles %v, bindings %v", srv.Users(*svc.Sid), srv.Roles(*svc.Sid), srv.Bindings(*svc.Sid))
	}
	_, err = api.FetchServiceConfiguration(*svc.Sid)
	if te := restError(t, err); te.Status != 404 {
		t.Fatalf("configuration of a deleted service: %+v", te)
	}
}

// TestUserWebhooks checks that user actions fire onUserAdded / onUserUpdated
// (post) and onUserUpdate (pre, which may reject) only when the request
// carries X-Twilio-Webhook-Enabled: true, as every REST action does.
func TestUserWebhooks(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	post := newHookReceiver(t, nil)
	pre := newHookReceiver(t, func(int, receivedHook) (int, string) { return 403, "" })
	mustCall(t, 200, srv, "POST", "/v1/Configuration/Webhooks", form("PostWebhookUrl", post.URL+"/post", "PreWebhookUrl", pre.URL+"/pre",
		"Filters", "onUserAdded", "Filters", "onUserUpdated", "Filters", "onUserUpdate", "Method", "POST"))

	mustCall(t, 201, srv, "POST", "/v1/Users", form("Identity", "quiet"))
	u := mustCall(t, 201, srv, "POST", "/v1/Users", form("Identity", "loud", "FriendlyName", "Loud"), "X-Twilio-Webhook-Enabled", "true")
	r := call(t, srv, "POST", "/v1/Users/loud", form("FriendlyName", "Louder"), "X-Twilio-Webhook-Enabled", "true")
	if r.Status != 403 || r.JSON["code"] != float64(20403) {
		t.Fatalf("pre-hook rejection: %d %s", r.Status, r.Raw)
	}
	if got := srv.Users("")[1].FriendlyName; got != "Loud" {
		t.Fatalf("a rejected update changed the user: %q", got)
	}
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	hooks := post.received()
	if len(hooks) != 1 {
		t.Fatalf("post hooks %+v, want one onUserAdded", hooks)
	}
	f := hooks[0].Form
	if f.Get("EventType") != "onUserAdded" || f.Get("Identity") != "loud" || f.Get("UserSid") != str(u["sid"]) ||
		f.Get("ChatServiceSid") != srv.DefaultServiceSid() || f.Get("Source") != "API" {
		t.Fatalf("onUserAdded payload %v", f)
	}
	if got := pre.received(); len(got) != 1 || got[0].Form.Get("EventType") != "onUserUpdate" {
		t.Fatalf("pre hooks %+v", got)
	}
}

// TestBindingControlPlaneAndReset seeds a binding through POST
// /_fake/bindings and checks that Reset forgets the long-tail resources and
// recreates the default roles with the same SIDs.
func TestBindingControlPlaneAndReset(t *testing.T) {
	t.Parallel()
	// A fixed clock, so the roles recreated by Reset carry the same dates.
	srv := startFake(t, conversations.Options{Clock: newClock().Now})
	fresh := srv.Roles("")

	post := func(f url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := http.PostForm(srv.URL()+"/_fake/bindings", f)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	status, body := post(form("Identity", "alice", "BindingType", "twilsock", "MessageTypes", "new_message"))
	if status != 201 || !strings.HasPrefix(str(body["sid"]), "BS") || body["chat_service_sid"] != srv.DefaultServiceSid() ||
		!reflect.DeepEqual(body["message_types"], []any{"new_message"}) {
		t.Fatalf("seeded binding: %d %v", status, body)
	}
	fetched := mustCall(t, 200, srv, "GET", "/v1/Services/"+srv.DefaultServiceSid()+"/Bindings/"+str(body["sid"]), nil)
	if fetched["identity"] != "alice" || fetched["url"] != body["url"] {
		t.Fatalf("fetched binding %v, seeded %v", fetched, body)
	}
	if status, body := post(form("BindingType", "apn")); status != 400 || body["code"] != float64(20001) {
		t.Fatalf("binding without identity: %d %v", status, body)
	}

	mustCall(t, 201, srv, "POST", "/v1/Users", form("Identity", "alice"))
	mustCall(t, 201, srv, "POST", "/v1/Roles", form("FriendlyName", "extra", "Type", "service", "Permission", "joinConversation"))
	mustCall(t, 201, srv, "POST", "/v1/Services", form("FriendlyName", "second"))
	srv.Reset()
	if len(srv.Users("")) != 0 || len(srv.Bindings("")) != 0 || len(srv.Services()) != 1 || len(srv.Credentials()) != 0 {
		t.Fatalf("after Reset: users %v, bindings %v, services %v", srv.Users(""), srv.Bindings(""), srv.Services())
	}
	if got := srv.Roles(""); !reflect.DeepEqual(got, fresh) {
		t.Fatalf("default roles after Reset differ from a fresh fake's:\n%+v\n%+v", got, fresh)
	}
}

// TestConcurrentUserCreate races creates of one identity: exactly one wins,
// the others get 50201, and the store holds one user.
func TestConcurrentUserCreate(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	const n = 16
	statuses := make(chan int, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		// Not call(): t.Fatal must not run outside the test goroutine.
		wg.Go(func() {
			req, _ := http.NewRequest("POST", srv.URL()+"/v1/Users", strings.NewReader("Identity=same"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(srv.AccountSid(), srv.AuthToken())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Fatalf("statuses %v, want one 201 and %d 409", count, n-1)
	}
	if got := srv.Users(""); len(got) != 1 {
		t.Fatalf("users %+v", got)
	}
}

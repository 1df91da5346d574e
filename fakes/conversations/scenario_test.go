package conversations_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	convapi "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/convoflow/convoflow/fakes/conversations"
)

func restError(t *testing.T, err error) *client.TwilioRestError {
	t.Helper()
	var te *client.TwilioRestError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *client.TwilioRestError", err, err)
	}
	return te
}

func TestSDKConversationLifecycle(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	api := sdk(srv).ConversationsV1

	created, err := api.CreateConversation((&convapi.CreateConversationParams{}).
		SetFriendlyName("Support").SetUniqueName("ticket-1").SetAttributes(`{"topic":"billing"}`))
	if err != nil {
		t.Fatal(err)
	}
	sid := *created.Sid
	if !regexp.MustCompile(`^CH[0-9a-f]{32}$`).MatchString(sid) {
		t.Fatalf("sid %q", sid)
	}
	if *created.State != "active" || *created.ChatServiceSid != srv.DefaultServiceSid() || *created.Attributes != `{"topic":"billing"}` {
		t.Fatalf("created = %+v", created)
	}
	if want := "https://conversations.twilio.com/v1/Conversations/" + sid; *created.Url != want {
		t.Fatalf("url = %q, want %q", *created.Url, want)
	}
	byName, err := api.FetchConversation("ticket-1")
	if err != nil || *byName.Sid != sid {
		t.Fatalf("fetch by unique name: %v %v", byName, err)
	}
	updated, err := api.UpdateConversation(sid, (&convapi.UpdateConversationParams{}).SetFriendlyName("Renamed").SetState("inactive"))
	if err != nil || *updated.FriendlyName != "Renamed" || *updated.State != "inactive" {
		t.Fatalf("update: %+v %v", updated, err)
	}
	list, err := api.ListConversation(nil)
	if err != nil || len(list) != 1 || *list[0].Sid != sid {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := api.DeleteConversation(sid, nil); err != nil {
		t.Fatal(err)
	}
	_, err = api.FetchConversation(sid)
	te := restError(t, err)
	if te.Code != 20404 || te.Status != 404 || te.Message != "The requested resource /Conversations/"+sid+" was not found" {
		t.Fatalf("fetch after delete: %+v", te)
	}
}

func TestSDKParticipantsAndDuplicateBinding(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	api := sdk(srv).ConversationsV1
	first, err := api.CreateConversation(nil)
	if err != nil {
		t.Fatal(err)
	}
	sms, err := api.CreateConversationParticipant(*first.Sid, (&convapi.CreateConversationParticipantParams{}).
		SetMessagingBindingAddress("+15551230001").SetMessagingBindingProxyAddress("+15559990000"))
	if err != nil {
		t.Fatal(err)
	}
	binding, _ := (*sms.MessagingBinding).(map[string]any)
	if sms.Identity != nil || binding["type"] != "sms" || binding["address"] != "+15551230001" || binding["proxy_address"] != "+15559990000" {
		t.Fatalf("sms participant = %+v binding %v", sms, binding)
	}
	chat, err := api.CreateConversationParticipant(*first.Sid, (&convapi.CreateConversationParticipantParams{}).SetIdentity("agent-7"))
	if err != nil {
		t.Fatal(err)
	}
	if chat.MessagingBinding != nil && *chat.MessagingBinding != nil {
		t.Fatalf("chat participant binding = %v", *chat.MessagingBinding)
	}
	byIdentity, err := api.FetchConversationParticipant(*first.Sid, "agent-7")
	if err != nil || *byIdentity.Sid != *chat.Sid {
		t.Fatalf("fetch by identity: %v %v", byIdentity, err)
	}

	second, err := api.CreateConversation(nil)
	if err != nil {
		t.Fatal(err)
	}
	dup := (&convapi.CreateConversationParticipantParams{}).
		SetMessagingBindingAddress("+15551230001").SetMessagingBindingProxyAddress("+15559990000")
	_, err = api.CreateConversationParticipant(*second.Sid, dup)
	te := restError(t, err)
	if te.Code != 50416 || te.Status != 409 {
		t.Fatalf("duplicate binding: %+v", te)
	}
	if m := regexp.MustCompile(`Conversation\s+(CH[a-f0-9]{32})`).FindStringSubmatch(te.Message); m == nil || m[1] != *first.Sid {
		t.Fatalf("message %q does not name %s", te.Message, *first.Sid)
	}
	// Closing the holder releases the binding, as apps that retry rely on.
	if _, err := api.UpdateConversation(*first.Sid, (&convapi.UpdateConversationParams{}).SetState("closed")); err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateConversationParticipant(*second.Sid, dup); err != nil {
		t.Fatalf("after close: %v", err)
	}
	parts, err := api.ListConversationParticipant(*first.Sid, nil)
	if err != nil || len(parts) != 2 {
		t.Fatalf("list participants: %d %v", len(parts), err)
	}
}

func TestSDKMessagesPaging(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	api := sdk(srv).ConversationsV1
	conv, err := api.CreateConversation(nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 11
	for i := range n {
		m, err := api.CreateConversationMessage(*conv.Sid, (&convapi.CreateConversationMessageParams{}).SetBody("message "+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		if m.Index != i || *m.Author != "system" || m.ParticipantSid != nil {
			t.Fatalf("message %d: index %d author %q participant %v", i, m.Index, *m.Author, m.ParticipantSid)
		}
	}
	all, err := api.ListConversationMessage(*conv.Sid, (&convapi.ListConversationMessageParams{}).SetPageSize(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("paged list returned %d messages, want %d", len(all), n)
	}
	for i, m := range all {
		if m.Index != i {
			t.Fatalf("message %d has index %d", i, m.Index)
		}
	}
	desc, err := api.ListConversationMessage(*conv.Sid, (&convapi.ListConversationMessageParams{}).SetPageSize(4).SetOrder("desc").SetLimit(5))
	if err != nil || len(desc) != 5 || desc[0].Index != n-1 {
		t.Fatalf("desc list: %d %v", len(desc), err)
	}
	// The SDK followed next_page_url: pages 0..3 of size 3.
	pages := 0
	for _, r := range srv.Requests() {
		if r.Operation == "ListConversationMessage" && strings.Contains(r.Query, "PageSize=3") {
			pages++
		}
	}
	if pages != 4 {
		t.Fatalf("SDK fetched %d pages, want 4", pages)
	}
}

func TestSDKScopedStudioWebhookSigned(t *testing.T) {
	t.Parallel()
	studio := newHookReceiver(t, nil)
	srv := startFake(t, conversations.Options{StudioURL: studio.URL})
	api := sdk(srv).ConversationsV1
	conv, err := api.CreateConversation(nil)
	if err != nil {
		t.Fatal(err)
	}
	const flow = "FW0123456789abcdef0123456789abcdef"
	wh, err := api.CreateConversationScopedWebhook(*conv.Sid, (&convapi.CreateConversationScopedWebhookParams{}).
		SetTarget("studio").SetConfigurationFlowSid(flow))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := (*wh.Configuration).(map[string]any)
	if *wh.Target != "studio" || cfg["flow_sid"] != flow {
		t.Fatalf("webhook = %+v", wh)
	}
	// Without X-Twilio-Webhook-Enabled a REST message fires nothing.
	if _, err := api.CreateConversationMessage(*conv.Sid, (&convapi.CreateConversationMessageParams{}).SetBody("quiet")); err != nil {
		t.Fatal(err)
	}
	msg, err := api.CreateConversationMessage(*conv.Sid, (&convapi.CreateConversationMessageParams{}).
		SetBody("hello").SetAuthor("bot").SetXTwilioWebhookEnabled("true"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := studio.received()
	if len(got) != 1 {
		t.Fatalf("studio got %d requests, want 1", len(got))
	}
	h := got[0]
	if want := "/v1/Accounts/" + srv.AccountSid() + "/Flows/" + flow; h.Path != want {
		t.Fatalf("path %q, want %q", h.Path, want)
	}
	params := map[string]string{}
	for k := range h.Form {
		params[k] = h.Form.Get(k)
	}
	validator := client.NewRequestValidator(srv.AuthToken())
	if !validator.Validate(h.URL, params, h.Header.Get("X-Twilio-Signature")) {
		t.Fatalf("signature %q does not validate for %s %v", h.Header.Get("X-Twilio-Signature"), h.URL, params)
	}
	for k, want := range map[string]string{
		"EventType": "onMessageAdded", "ConversationSid": *conv.Sid, "MessageSid": *msg.Sid, "Body": "hello",
		"Author": "bot", "Index": "1", "Source": "API", "WebhookSid": *wh.Sid, "WebhookType": "studio",
		"AccountSid": srv.AccountSid(), "ChatServiceSid": srv.DefaultServiceSid(), "RetryCount": "0",
	} {
		if got := h.Form.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if h.Header.Get("I-Twilio-Idempotency-Token") == "" {
		t.Error("no I-Twilio-Idempotency-Token")
	}
}

func TestSDKAddressConfigurationAutoCreation(t *testing.T) {
	t.Parallel()
	studio := newHookReceiver(t, nil)
	srv := startFake(t, conversations.Options{StudioURL: studio.URL})
	api := sdk(srv).ConversationsV1
	const flow = "FWaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	addr, err := api.CreateConfigurationAddress((&convapi.CreateConfigurationAddressParams{}).
		SetType("sms").SetAddress("+15550001111").SetFriendlyName("Support line").
		SetAutoCreationEnabled(true).SetAutoCreationType("studio").SetAutoCreationStudioFlowSid(flow).
		SetAutoCreationStudioRetryCount(2))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*addr.Sid, "IG") || *addr.Address != "+15550001111" {
		t.Fatalf("address = %+v", addr)
	}
	fetched, err := api.FetchConfigurationAddress(*addr.Sid)
	if err != nil || *fetched.FriendlyName != "Support line" {
		t.Fatalf("fetch address: %v %v", fetched, err)
	}
	res, err := srv.Inbound(t.Context(), conversations.InboundMessage{From: "+15557654321", To: "+15550001111", Body: "help"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created {
		t.Fatal("conversation was not auto-created")
	}
	parts, err := api.ListConversationParticipant(res.ConversationSid, nil)
	if err != nil || len(parts) != 1 || *parts[0].Sid != res.ParticipantSid {
		t.Fatalf("participants: %v %v", parts, err)
	}
	hooks, err := api.ListConversationScopedWebhook(res.ConversationSid, nil)
	if err != nil || len(hooks) != 1 || *hooks[0].Target != "studio" {
		t.Fatalf("scoped webhooks: %v %v", hooks, err)
	}
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := studio.received()
	if len(got) != 1 || got[0].Form.Get("Author") != "+15557654321" || got[0].Form.Get("Source") != "SMS" || got[0].Form.Get("Body") != "help" {
		t.Fatalf("studio received %+v", got)
	}
	// A second message from the same sender goes to the same conversation.
	again, err := srv.Inbound(t.Context(), conversations.InboundMessage{From: "+15557654321", To: "+15550001111", Body: "still there?"})
	if err != nil || again.Created || again.ConversationSid != res.ConversationSid || again.Index != 1 {
		t.Fatalf("second inbound: %+v %v", again, err)
	}
	pcs, err := api.ListParticipantConversation((&convapi.ListParticipantConversationParams{}).SetAddress("+15557654321"))
	if err != nil || len(pcs) != 1 || *pcs[0].ConversationSid != res.ConversationSid {
		t.Fatalf("participant conversations: %v %v", pcs, err)
	}
}

// TestInboundStudioReplyOutbox is the support loop end to end: a customer
// texts in, Studio (a test server here) answers by posting a message through
// the API, and the reply is "sent" to every SMS participant.
func TestInboundStudioReplyOutbox(t *testing.T) {
	t.Parallel()
	var srv *conversations.Server
	replies := make(chan error, 1)
	studio := newHookReceiver(t, func(_ int, h receivedHook) (int, string) {
		if h.Form.Get("Source") == "SMS" {
			_, err := sdk(srv).ConversationsV1.CreateConversationMessage(h.Form.Get("ConversationSid"),
				(&convapi.CreateConversationMessageParams{}).SetBody("Thanks, an agent will reply shortly").SetAuthor("Bot"))
			replies <- err
		}
		return http.StatusOK, ""
	})
	srv = startFake(t, conversations.Options{StudioURL: studio.URL})
	api := sdk(srv).ConversationsV1
	conv, err := api.CreateConversation(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*convapi.CreateConversationParticipantParams{
		(&convapi.CreateConversationParticipantParams{}).SetMessagingBindingAddress("+15550000001").SetMessagingBindingProxyAddress("+15559999999"),
		(&convapi.CreateConversationParticipantParams{}).SetMessagingBindingAddress("+15550000002").SetMessagingBindingProxyAddress("+15559999998"),
		(&convapi.CreateConversationParticipantParams{}).SetIdentity("agent"),
	} {
		if _, err := api.CreateConversationParticipant(*conv.Sid, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.CreateConversationScopedWebhook(*conv.Sid, (&convapi.CreateConversationScopedWebhookParams{}).
		SetTarget("studio").SetConfigurationFlowSid("FWbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")); err != nil {
		t.Fatal(err)
	}
	in, err := srv.Inbound(t.Context(), conversations.InboundMessage{From: "+15550000001", To: "+15559999999", Body: "my order is late"})
	if err != nil {
		t.Fatal(err)
	}
	if in.ConversationSid != *conv.Sid || in.Created {
		t.Fatalf("inbound went to %+v", in)
	}
	select {
	case err := <-replies:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("studio never replied")
	}
	// The inbound message reached only the other SMS participant.
	inbound := srv.Outbox(conversations.OutboxFilter{ConversationSid: *conv.Sid})
	if len(inbound) != 3 {
		t.Fatalf("outbox has %d messages, want 3 (1 fan-out of the inbound + 2 replies): %+v", len(inbound), inbound)
	}
	if inbound[0].To != "+15550000002" || inbound[0].From != "+15559999998" || inbound[0].Body != "my order is late" {
		t.Fatalf("inbound fan-out = %+v", inbound[0])
	}
	for _, addr := range []struct{ to, from string }{{"+15550000001", "+15559999999"}, {"+15550000002", "+15559999998"}} {
		got := srv.Outbox(conversations.OutboxFilter{Address: addr.to, ConversationSid: *conv.Sid})
		last := got[len(got)-1]
		if last.Body != "Thanks, an agent will reply shortly" || last.From != addr.from || !strings.HasPrefix(last.Sid, "SM") {
			t.Fatalf("reply to %s = %+v", addr.to, last)
		}
	}
	msgs := srv.Messages(*conv.Sid)
	if len(msgs) != 2 || msgs[1].Author != "Bot" || len(msgs[1].Receipts) != 2 {
		t.Fatalf("messages = %+v", msgs)
	}
	reply, err := api.FetchConversationMessage(*conv.Sid, msgs[1].Sid)
	if err != nil {
		t.Fatal(err)
	}
	delivery, _ := (*reply.Delivery).(map[string]any)
	if delivery["total"] != float64(2) || delivery["delivered"] != "all" {
		t.Fatalf("delivery = %v", delivery)
	}
	receipts, err := api.ListConversationMessageReceipt(*conv.Sid, msgs[1].Sid, nil)
	if err != nil || len(receipts) != 2 || !strings.HasPrefix(*receipts[0].Sid, "DY") {
		t.Fatalf("receipts: %v %v", receipts, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := srv.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSDKConversationWithParticipantsAndWhatsApp(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	api := sdk(srv).ConversationsV1
	conv, err := api.CreateConversationWithParticipants((&convapi.CreateConversationWithParticipantsParams{}).
		SetFriendlyName("wa").SetParticipant([]string{
		`{"messaging_binding": {"address": "whatsapp:+15550000001", "proxy_address": "whatsapp:+15559999999"}}`,
		`{"identity": "agent"}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := api.ListConversationParticipant(*conv.Sid, nil)
	if err != nil || len(parts) != 2 {
		t.Fatalf("participants %v %v", parts, err)
	}
	binding, _ := (*parts[0].MessagingBinding).(map[string]any)
	if binding["type"] != "whatsapp" || binding["address"] != "whatsapp:+15550000001" {
		t.Fatalf("binding %v", binding)
	}
	if _, err := api.CreateConversationMessage(*conv.Sid, (&convapi.CreateConversationMessageParams{}).SetBody("hola").SetAuthor("agent")); err != nil {
		t.Fatal(err)
	}
	out := srv.Outbox(conversations.OutboxFilter{ConversationSid: *conv.Sid})
	if len(out) != 1 || out[0].Channel != "whatsapp" || out[0].To != "whatsapp:+15550000001" || out[0].From != "whatsapp:+15559999999" {
		t.Fatalf("outbox %+v", out)
	}
	// The chat participant authored it, so the message links it.
	if msgs := srv.Messages(*conv.Sid); msgs[0].ParticipantSid != *parts[1].Sid {
		t.Fatalf("participant_sid %q, want %s", msgs[0].ParticipantSid, *parts[1].Sid)
	}
	// An atomic create: a second one with the same binding creates nothing.
	before := len(srv.Conversations())
	_, err = api.CreateConversationWithParticipants((&convapi.CreateConversationWithParticipantsParams{}).SetParticipant([]string{
		`{"messaging_binding": {"address": "whatsapp:+15550000001", "proxy_address": "whatsapp:+15559999999"}}`,
	}))
	if te := restError(t, err); te.Code != 50425 || len(srv.Conversations()) != before {
		t.Fatalf("duplicate CWP: %+v, %d conversations", te, len(srv.Conversations()))
	}
}

func TestConversationStateUpdatedEvent(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t, nil)
	srv := startFake(t, conversations.Options{})
	api := sdk(srv).ConversationsV1
	conv, err := api.CreateConversation(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateConversationScopedWebhook(*conv.Sid, (&convapi.CreateConversationScopedWebhookParams{}).SetTarget("webhook").
		SetConfigurationUrl(hook.URL+"/state").SetConfigurationFilters([]string{"onConversationStateUpdated", "onConversationUpdated"})); err != nil {
		t.Fatal(err)
	}
	if _, err := api.UpdateConversation(*conv.Sid, (&convapi.UpdateConversationParams{}).SetState("closed").SetXTwilioWebhookEnabled("true")); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := hook.received()
	if len(got) != 2 || got[0].Form.Get("EventType") != "onConversationUpdated" {
		t.Fatalf("events %+v", got)
	}
	f := got[1].Form
	if f.Get("EventType") != "onConversationStateUpdated" || f.Get("StateFrom") != "active" || f.Get("StateTo") != "closed" || f.Get("Reason") != "API" {
		t.Fatalf("state event %v", f)
	}
}

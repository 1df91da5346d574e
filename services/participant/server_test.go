package participant_test

import (
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/convoflow/convoflow/fakes/conversations"
	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
)

func smsRequest(conv, addr, proxy string) *participantv1.AddParticipantRequest {
	return &participantv1.AddParticipantRequest{
		ConversationSid: conv,
		Participant: &participantv1.AddParticipantRequest_MessagingBinding{
			MessagingBinding: &participantv1.MessagingBinding{Address: addr, ProxyAddress: proxy},
		},
	}
}

func chatRequest(conv, identity string) *participantv1.AddParticipantRequest {
	return &participantv1.AddParticipantRequest{
		ConversationSid: conv,
		Participant:     &participantv1.AddParticipantRequest_Identity{Identity: identity},
	}
}

func TestAddParticipant(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, nil)
	for stack, c := range clients(t, ts) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			sms, sms2, wa := number(), number(), "whatsapp:"+number()
			tests := []struct {
				name string
				req  func(conv string) *participantv1.AddParticipantRequest
				// want is the binding the fake must hold afterwards (type,
				// address, proxy) or the identity.
				wantType, wantAddress, wantProxy, wantIdentity string
			}{
				{name: "sms", req: func(conv string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, sms, twilioNumber2)
				}, wantType: "sms", wantAddress: sms, wantProxy: twilioNumber2},
				{name: "sms_default_proxy", req: func(conv string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, sms2, "")
				}, wantType: "sms", wantAddress: sms2, wantProxy: twilioNumber},
				{name: "whatsapp", req: func(conv string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, wa, "whatsapp:"+twilioNumber)
				}, wantType: "whatsapp", wantAddress: wa, wantProxy: "whatsapp:" + twilioNumber},
				{name: "chat", req: func(conv string) *participantv1.AddParticipantRequest {
					r := chatRequest(conv, "agent@example.com")
					r.Attributes = `{"team":"support"}`
					return r
				}, wantIdentity: "agent@example.com"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					conv := newConversation(t, fake)
					res, err := c.AddParticipant(t.Context(), tt.req(conv))
					if err != nil {
						t.Fatal(err)
					}
					p := res.GetParticipant()
					if res.GetAlreadyPresent() || !strings.HasPrefix(p.GetSid(), "MB") || p.GetConversationSid() != conv {
						t.Fatalf("response = %v", res)
					}
					if p.GetCreateTime() == nil {
						t.Errorf("create_time not set: %v", p)
					}
					got := fake.Participants(conv)
					if len(got) != 1 || got[0].Sid != p.GetSid() {
						t.Fatalf("fake holds %+v, want exactly %s", got, p.GetSid())
					}
					if tt.wantIdentity != "" {
						if got[0].Identity != tt.wantIdentity || p.GetIdentity() != tt.wantIdentity || p.GetMessagingBinding() != nil {
							t.Fatalf("participant = %v, fake %+v; want identity %s", p, got[0], tt.wantIdentity)
						}
						if p.GetAttributes() != `{"team":"support"}` {
							t.Errorf("attributes = %q", p.GetAttributes())
						}
						return
					}
					b := got[0].Binding
					if b == nil || b.Type != tt.wantType || b.Address != tt.wantAddress || b.ProxyAddress != tt.wantProxy {
						t.Fatalf("fake binding = %+v, want %s %s via %s", b, tt.wantType, tt.wantAddress, tt.wantProxy)
					}
					pb := p.GetMessagingBinding()
					if pb.GetType() != tt.wantType || pb.GetAddress() != tt.wantAddress || pb.GetProxyAddress() != tt.wantProxy {
						t.Fatalf("response binding = %v", pb)
					}
				})
			}
		})
	}
}

func TestAddParticipant_alreadyPresent(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, nil)
	for stack, c := range clients(t, ts) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			for name, req := range map[string]func(conv, customer string) *participantv1.AddParticipantRequest{
				"sms": func(conv, customer string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, customer, twilioNumber)
				},
				"chat": func(conv, _ string) *participantv1.AddParticipantRequest { return chatRequest(conv, "alice") },
			} {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					conv := newConversation(t, fake)
					customer := number()
					first, err := c.AddParticipant(t.Context(), req(conv, customer))
					if err != nil {
						t.Fatal(err)
					}
					second, err := c.AddParticipant(t.Context(), req(conv, customer))
					if err != nil {
						t.Fatal(err)
					}
					if first.GetAlreadyPresent() || !second.GetAlreadyPresent() {
						t.Fatalf("already_present = %v then %v, want false then true", first.GetAlreadyPresent(), second.GetAlreadyPresent())
					}
					if second.GetParticipant().GetSid() != first.GetParticipant().GetSid() {
						t.Fatalf("second add returned %s, want the existing %s", second.GetParticipant().GetSid(), first.GetParticipant().GetSid())
					}
					if n := len(fake.Participants(conv)); n != 1 {
						t.Fatalf("fake holds %d participants, want 1", n)
					}
					// The second add's create met Twilio's conflict (50416
					// naming this conversation, or 50433), and the
					// participant list answered it.
					if n := requestsFor(fake, "POST", conv+"/Participants"); n != 2 {
						t.Fatalf("%d creates sent, want 2", n)
					}
					if n := requestsFor(fake, "GET", conv+"/Participants"); n != 1 {
						t.Fatalf("%d participant lists read, want 1", n)
					}
				})
			}
		})
	}
}

// Concurrent adds of one binding all try to create it; Twilio's 50416
// naming this same conversation (or 50433 for an identity) tells the losers
// that the participant is present.
func TestAddParticipant_concurrentAddsRace(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, nil)
	for stack, c := range clients(t, ts) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			for name, req := range map[string]func(conv, customer string) *participantv1.AddParticipantRequest{
				"sms": func(conv, customer string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, customer, twilioNumber)
				},
				"chat": func(conv, _ string) *participantv1.AddParticipantRequest { return chatRequest(conv, "racer") },
			} {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					conv := newConversation(t, fake)
					customer := number()
					const n = 8
					var wg sync.WaitGroup
					results := make([]*participantv1.AddParticipantResponse, n)
					errs := make([]error, n)
					for i := range n {
						wg.Go(func() { results[i], errs[i] = c.AddParticipant(t.Context(), req(conv, customer)) })
					}
					wg.Wait()
					created := 0
					for i := range n {
						if errs[i] != nil {
							t.Fatalf("add %d: %v", i, errs[i])
						}
						if !results[i].GetAlreadyPresent() {
							created++
						}
					}
					ps := fake.Participants(conv)
					if len(ps) != 1 || created != 1 {
						t.Fatalf("fake holds %d participants, %d adds reported a creation; want 1 and 1", len(ps), created)
					}
					for i := range n {
						if results[i].GetParticipant().GetSid() != ps[0].Sid {
							t.Fatalf("add %d returned %s, want %s", i, results[i].GetParticipant().GetSid(), ps[0].Sid)
						}
					}
				})
			}
		})
	}
}

func TestAddParticipant_errors(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, nil)
	unknown := "CH" + strings.Repeat("0", 31) + "9"
	for stack, c := range clients(t, ts) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			heldNumber := number()
			tests := []struct {
				name string
				// setup prepares the fake and returns the request.
				setup func(t *testing.T, conv string) *participantv1.AddParticipantRequest
				code  connect.Code
				// twilioCode is the TwilioError detail's code; 0 = no detail.
				twilioCode int32
				// conflict is true when a BindingConflict naming the other
				// conversation is expected.
				conflict bool
				// sent is false when the fake must have seen no request
				// for the conversation.
				sent bool
			}{
				{name: "invalid_number", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, "555-1234", twilioNumber)
				}, code: connect.CodeInvalidArgument},
				{name: "number_without_plus", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, "15558675310", twilioNumber)
				}, code: connect.CodeInvalidArgument},
				{name: "invalid_whatsapp", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, "whatsapp:5551234", "whatsapp:"+twilioNumber)
				}, code: connect.CodeInvalidArgument},
				{name: "channel_mismatch", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, "whatsapp:"+number(), twilioNumber)
				}, code: connect.CodeInvalidArgument},
				{name: "invalid_proxy", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					return smsRequest(conv, number(), "twilio")
				}, code: connect.CodeInvalidArgument},
				{name: "no_participant", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					return &participantv1.AddParticipantRequest{ConversationSid: conv}
				}, code: connect.CodeInvalidArgument},
				{name: "empty_identity", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					return chatRequest(conv, " ")
				}, code: connect.CodeInvalidArgument},
				{name: "attributes_not_json", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					r := chatRequest(conv, "bob")
					r.Attributes = "{oops"
					return r
				}, code: connect.CodeInvalidArgument},
				{name: "bad_role_sid", setup: func(_ *testing.T, conv string) *participantv1.AddParticipantRequest {
					r := chatRequest(conv, "bob")
					r.RoleSid = "admin"
					return r
				}, code: connect.CodeInvalidArgument},
				{name: "bad_conversation_sid", setup: func(_ *testing.T, _ string) *participantv1.AddParticipantRequest {
					return smsRequest("../Services", number(), twilioNumber)
				}, code: connect.CodeInvalidArgument},
				{name: "unknown_conversation", setup: func(_ *testing.T, _ string) *participantv1.AddParticipantRequest {
					return smsRequest(unknown, number(), twilioNumber)
				}, code: connect.CodeNotFound, twilioCode: 20404},
				{name: "binding_held_elsewhere", setup: func(t *testing.T, conv string) *participantv1.AddParticipantRequest {
					other := newConversation(t, fake)
					addBinding(t, fake, other, heldNumber, twilioNumber)
					return smsRequest(conv, heldNumber, twilioNumber)
				}, code: connect.CodeFailedPrecondition, twilioCode: 50416, conflict: true, sent: true},
				{name: "closed_conversation", setup: func(t *testing.T, conv string) *participantv1.AddParticipantRequest {
					closeConversation(t, fake, conv)
					return smsRequest(conv, number(), twilioNumber)
				}, code: connect.CodeFailedPrecondition, twilioCode: 50377, sent: true},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					conv := newConversation(t, fake)
					req := tt.setup(t, conv)
					before := requestsFor(fake, "", conv)
					_, err := c.AddParticipant(t.Context(), req)
					e := errorOf(t, err)
					if e.code != tt.code {
						t.Fatalf("code = %v (%s), want %v", e.code, e.message, tt.code)
					}
					if got := e.twilio.GetCode(); got != tt.twilioCode {
						t.Fatalf("TwilioError code = %d, want %d (%s)", got, tt.twilioCode, e.message)
					}
					if tt.twilioCode != 0 && (e.twilio.GetStatus() == 0 || e.twilio.GetMoreInfo() == "") {
						t.Errorf("TwilioError lacks status or more_info: %v", e.twilio)
					}
					if tt.conflict {
						held := fake.Conversations()
						var holder string
						for _, cv := range held {
							for _, p := range fake.Participants(cv.Sid) {
								if p.Binding != nil && p.Binding.Address == heldNumber {
									holder = cv.Sid
								}
							}
						}
						if e.conflict.GetConflictingConversationSid() != holder || holder == "" {
							t.Fatalf("BindingConflict = %v, want %s", e.conflict, holder)
						}
					} else if e.conflict != nil {
						t.Fatalf("unexpected BindingConflict %v", e.conflict)
					}
					if after := requestsFor(fake, "", conv); !tt.sent && after != before {
						t.Fatalf("the fake saw %d requests for the conversation, want none", after-before)
					}
				})
			}
		})
	}
}

func TestAddParticipant_retries(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, nil)
	for stack, c := range clients(t, ts) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			tests := []struct {
				name  string
				fault conversations.Fault // Path is filled in per conversation
				code  connect.Code        // CodeOK: success expected
				// creates is how many create requests the fake must see.
				creates int
				// present adds the participant before the call, so that
				// the create meets Twilio's conflict and the service reads
				// the participant list.
				present bool
			}{
				{name: "429_then_success", fault: conversations.Fault{Method: "POST", Status: 429, Code: 20429, Count: 1}, creates: 2},
				{name: "429_twice_then_success", fault: conversations.Fault{Method: "POST", Status: 429, Code: 20429, Count: 2}, creates: 3},
				{name: "429_always", fault: conversations.Fault{Method: "POST", Status: 429, Code: 20429}, code: connect.CodeResourceExhausted, creates: 4},
				{name: "503_on_list_retried", fault: conversations.Fault{Method: "GET", Status: 503, Code: 20503, Count: 2}, present: true, creates: 2},
				{name: "503_on_list_always", fault: conversations.Fault{Method: "GET", Status: 503, Code: 20503}, present: true, code: connect.CodeUnavailable, creates: 2},
				// A create that failed without an answer may have landed:
				// it is repeated, and a repeat of one that landed meets
				// the conflict that AddParticipant resolves.
				{name: "503_on_create_retried", fault: conversations.Fault{Method: "POST", Status: 503, Code: 20503, Count: 1}, creates: 2},
				{name: "503_on_create_always", fault: conversations.Fault{Method: "POST", Status: 503, Code: 20503}, code: connect.CodeUnavailable, creates: 4},
				// A dropped request may be recorded after the service has
				// moved on, so its count is not checked (-1).
				{name: "dropped_create_retried", fault: conversations.Fault{Method: "POST", Drop: true, Count: 1}, creates: -1},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					conv := newConversation(t, fake)
					customer := number()
					if tt.present {
						addBinding(t, fake, conv, customer, twilioNumber)
					}
					f := tt.fault
					f.Path = "/v1/Conversations/" + conv + "/Participants"
					if _, err := fake.InjectFault(f); err != nil {
						t.Fatal(err)
					}
					res, err := c.AddParticipant(t.Context(), smsRequest(conv, customer, twilioNumber))
					if tt.code != 0 {
						e := errorOf(t, err)
						if e.code != tt.code {
							t.Fatalf("code = %v (%s), want %v", e.code, e.message, tt.code)
						}
						if tt.fault.Status != 0 && e.twilio.GetCode() != int32(tt.fault.Code) {
							t.Fatalf("TwilioError = %v, want code %d", e.twilio, tt.fault.Code)
						}
					} else if err != nil {
						t.Fatal(err)
					} else if res.GetAlreadyPresent() != tt.present {
						t.Fatalf("already_present = %v, want %v", res.GetAlreadyPresent(), tt.present)
					}
					if n := requestsFor(fake, "POST", conv+"/Participants"); tt.creates >= 0 && n != tt.creates {
						t.Fatalf("%d create requests, want %d", n, tt.creates)
					}
					want := 0
					if tt.code == 0 || tt.present {
						want = 1
					}
					if n := len(fake.Participants(conv)); n != want {
						t.Fatalf("fake holds %d participants, want %d", n, want)
					}
				})
			}
		})
	}
}

func TestRemoveParticipant(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, nil)
	unknown := "CH" + strings.Repeat("0", 31) + "9"
	for stack, c := range clients(t, ts) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			tests := []struct {
				name string
				req  func(conv, sid, customer string) *participantv1.RemoveParticipantRequest
			}{
				{name: "by_sid", req: func(conv, sid, _ string) *participantv1.RemoveParticipantRequest {
					return &participantv1.RemoveParticipantRequest{ConversationSid: conv, Participant: &participantv1.RemoveParticipantRequest_ParticipantSid{ParticipantSid: sid}}
				}},
				{name: "by_address", req: func(conv, _, customer string) *participantv1.RemoveParticipantRequest {
					return &participantv1.RemoveParticipantRequest{ConversationSid: conv, Participant: &participantv1.RemoveParticipantRequest_Address{Address: customer}}
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					conv := newConversation(t, fake)
					customer := number()
					sid := addBinding(t, fake, conv, customer, twilioNumber)
					res, err := c.RemoveParticipant(t.Context(), tt.req(conv, sid, customer))
					if err != nil {
						t.Fatal(err)
					}
					if res.GetAlreadyAbsent() || res.GetParticipantSid() != sid {
						t.Fatalf("response = %v, want %s removed", res, sid)
					}
					if n := len(fake.Participants(conv)); n != 0 {
						t.Fatalf("fake still holds %d participants", n)
					}
					again, err := c.RemoveParticipant(t.Context(), tt.req(conv, sid, customer))
					if err != nil {
						t.Fatal(err)
					}
					if !again.GetAlreadyAbsent() {
						t.Fatalf("second remove = %v, want already_absent", again)
					}
				})
			}
			t.Run("by_identity", func(t *testing.T) {
				t.Parallel()
				conv := newConversation(t, fake)
				added, err := c.AddParticipant(t.Context(), chatRequest(conv, "carol"))
				if err != nil {
					t.Fatal(err)
				}
				res, err := c.RemoveParticipant(t.Context(), &participantv1.RemoveParticipantRequest{ConversationSid: conv, Participant: &participantv1.RemoveParticipantRequest_Identity{Identity: "carol"}})
				if err != nil {
					t.Fatal(err)
				}
				if res.GetParticipantSid() != added.GetParticipant().GetSid() || res.GetAlreadyAbsent() {
					t.Fatalf("response = %v", res)
				}
			})
			for name, tc := range map[string]struct {
				req  *participantv1.RemoveParticipantRequest
				code connect.Code
			}{
				"unknown_conversation_by_sid":     {&participantv1.RemoveParticipantRequest{ConversationSid: unknown, Participant: &participantv1.RemoveParticipantRequest_ParticipantSid{ParticipantSid: "MB" + strings.Repeat("a", 32)}}, connect.CodeNotFound},
				"unknown_conversation_by_address": {&participantv1.RemoveParticipantRequest{ConversationSid: unknown, Participant: &participantv1.RemoveParticipantRequest_Address{Address: number()}}, connect.CodeNotFound},
				"invalid_address":                 {&participantv1.RemoveParticipantRequest{ConversationSid: unknown, Participant: &participantv1.RemoveParticipantRequest_Address{Address: "call me"}}, connect.CodeInvalidArgument},
				"nobody":                          {&participantv1.RemoveParticipantRequest{ConversationSid: unknown}, connect.CodeInvalidArgument},
			} {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					_, err := c.RemoveParticipant(t.Context(), tc.req)
					if e := errorOf(t, err); e.code != tc.code {
						t.Fatalf("code = %v (%s), want %v", e.code, e.message, tc.code)
					}
				})
			}
		})
	}
}

func TestGetListUpdateParticipant(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	ts := startService(t, fake, nil)
	for stack, c := range clients(t, ts) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			conv := newConversation(t, fake)
			var sids, addrs []string
			for range 5 {
				addrs = append(addrs, number())
				sids = append(sids, addBinding(t, fake, conv, addrs[len(addrs)-1], twilioNumber))
			}
			got, err := c.GetParticipant(ctx, &participantv1.GetParticipantRequest{ConversationSid: conv, Sid: sids[2]})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetParticipant().GetMessagingBinding().GetAddress() != addrs[2] {
				t.Fatalf("GetParticipant = %v", got)
			}

			var listed []string
			token := ""
			pages := 0
			for {
				res, err := c.ListParticipants(ctx, &participantv1.ListParticipantsRequest{ConversationSid: conv, PageSize: 2, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, p := range res.GetParticipants() {
					listed = append(listed, p.GetSid())
				}
				if token = res.GetNextPageToken(); token == "" {
					break
				}
			}
			if strings.Join(listed, ",") != strings.Join(sids, ",") || pages != 3 {
				t.Fatalf("listed %v in %d pages, want %v in 3", listed, pages, sids)
			}

			attrs := `{"vip":true}`
			up, err := c.UpdateParticipant(ctx, &participantv1.UpdateParticipantRequest{ConversationSid: conv, Sid: sids[0], Attributes: &attrs})
			if err != nil {
				t.Fatal(err)
			}
			if up.GetParticipant().GetAttributes() != attrs {
				t.Fatalf("updated attributes = %q", up.GetParticipant().GetAttributes())
			}
			for _, p := range fake.Participants(conv) {
				if p.Sid == sids[0] && p.Attributes != attrs {
					t.Fatalf("fake attributes = %q", p.Attributes)
				}
			}

			bad := "[1,2"
			for name, tc := range map[string]struct {
				call func() error
				code connect.Code
			}{
				"get_unknown_participant": {func() error {
					_, err := c.GetParticipant(ctx, &participantv1.GetParticipantRequest{ConversationSid: conv, Sid: "MB" + strings.Repeat("b", 32)})
					return err
				}, connect.CodeNotFound},
				"get_bad_sid": {func() error {
					_, err := c.GetParticipant(ctx, &participantv1.GetParticipantRequest{ConversationSid: conv, Sid: "alice"})
					return err
				}, connect.CodeInvalidArgument},
				"list_bad_token": {func() error {
					_, err := c.ListParticipants(ctx, &participantv1.ListParticipantsRequest{ConversationSid: conv, PageToken: "!!"})
					return err
				}, connect.CodeInvalidArgument},
				"update_bad_attributes": {func() error {
					_, err := c.UpdateParticipant(ctx, &participantv1.UpdateParticipantRequest{ConversationSid: conv, Sid: sids[0], Attributes: &bad})
					return err
				}, connect.CodeInvalidArgument},
			} {
				if e := errorOf(t, tc.call()); e.code != tc.code {
					t.Errorf("%s: code = %v (%s), want %v", name, e.code, e.message, tc.code)
				}
			}
		})
	}
}

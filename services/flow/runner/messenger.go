package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/twilio/twilio-go"
	conversationsv1 "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/flow/engine"
)

// TwilioMessenger is the engine's Messenger on the Conversations REST API
// (twilio-go). In a conversation it posts the message with the configured
// author and without X-Twilio-Webhook-Enabled, so the post fires no
// webhooks (studio.md §7.5, project decision); every participant receives it,
// SMS participants through their binding.
//
// Outside a conversation (REST executions) there is no conversation to post
// into, and the Conversations API cannot send a plain SMS. The messenger then
// looks for an open conversation in which the contact (To) is a participant,
// reached from From when its binding has a proxy address, and posts there;
// with none it fails with an error saying so, and the widget takes its
// failure path (81011). It does not create conversations: which service,
// which webhooks and which lifetime a new conversation should get are the
// deployment's decisions, made where conversations are created.
//
// Posting is retried: a 429 always (Twilio never processed it), a 5xx or a
// lost answer only after checking the conversation's latest messages for
// this send's key, which every post carries in its attributes under
// "convoflow_send_key" (the IdempotencyKey, which the runner extends with
// the attempt's cause). FindSent makes the same check for a replay after a
// crash. A message is thus
// delivered once even when Twilio answers 500 after creating it. A flow's
// attributes that are not a JSON object cannot carry the key; such a send
// is not retried after an ambiguous failure.
type TwilioMessenger struct {
	client *twilio.RestClient
	author string
	retry  twilioclient.RetryPolicy
}

// sendKeyAttribute names the message attribute holding the send's
// idempotency key.
const sendKeyAttribute = "convoflow_send_key"

// recentMessages is how many of a conversation's latest messages are
// searched for a send's key after an ambiguous failure: a retry follows
// within seconds, so the message, if created, is among the last few.
const recentMessages = 50

// NewTwilioMessenger returns a Messenger posting as author through client.
func NewTwilioMessenger(client *twilio.RestClient, author string) *TwilioMessenger {
	return &TwilioMessenger{client: client, author: author}
}

// Send implements engine.Messenger.
func (m *TwilioMessenger) Send(ctx context.Context, msg engine.OutboundMessage) (engine.SentMessage, error) {
	if err := ctx.Err(); err != nil {
		return engine.SentMessage{}, err
	}
	conv := msg.ConversationSid
	if conv == "" {
		var err error
		if conv, err = m.contactConversation(msg.To, msg.From); err != nil {
			return engine.SentMessage{}, err
		}
	}
	if msg.Body == "" && msg.ContentSid == "" {
		// Media needs a Media SID uploaded to Twilio's media service; Studio
		// does not send media into conversations either (studio.md §7.5).
		return engine.SentMessage{}, errors.New("media messages are not supported in conversations: the message has no body")
	}
	p := &conversationsv1.CreateConversationMessageParams{}
	p.SetAuthor(m.author)
	if msg.Body != "" {
		p.SetBody(msg.Body)
	}
	attrs, keyed := stampSendKey(msg.Attributes, msg.IdempotencyKey)
	if attrs != "" {
		p.SetAttributes(attrs)
	}
	if msg.ContentSid != "" {
		p.SetContentSid(msg.ContentSid)
		if len(msg.ContentVariables) > 0 {
			b, err := json.Marshal(msg.ContentVariables)
			if err != nil {
				return engine.SentMessage{}, fmt.Errorf("encoding content variables: %w", err)
			}
			p.SetContentVariables(string(b))
		}
	}
	var got *conversationsv1.ConversationsV1ConversationMessage
	ambiguous := false
	_, err := m.retry.Do(ctx, keyed, func(int) error {
		if ambiguous {
			// The last attempt may have created the message.
			found, err := m.findSent(conv, msg.IdempotencyKey)
			if err != nil || found != nil {
				got = found
				return err
			}
		}
		res, err := m.client.ConversationsV1.CreateConversationMessage(conv, p)
		if err != nil {
			ambiguous = twilioclient.Ambiguous(err)
			return err
		}
		got = res
		return nil
	}, nil)
	if err != nil {
		return engine.SentMessage{}, twilioError("posting the message to conversation "+conv, err)
	}
	return sentMessage(msg, conv, got), nil
}

// FindSent implements SentLookup: it looks for msg's key among the latest
// messages of the conversation it would be posted into.
func (m *TwilioMessenger) FindSent(ctx context.Context, msg engine.OutboundMessage) (engine.SentMessage, bool, error) {
	if err := ctx.Err(); err != nil {
		return engine.SentMessage{}, false, err
	}
	if msg.IdempotencyKey == "" {
		return engine.SentMessage{}, false, nil
	}
	conv := msg.ConversationSid
	if conv == "" {
		var err error
		if conv, err = m.contactConversation(msg.To, msg.From); err != nil {
			// No conversation to have posted into: nothing was sent.
			return engine.SentMessage{}, false, nil
		}
	}
	got, err := m.findSent(conv, msg.IdempotencyKey)
	if err != nil {
		return engine.SentMessage{}, false, twilioError("looking for a sent message in conversation "+conv, err)
	}
	if got == nil {
		return engine.SentMessage{}, false, nil
	}
	return sentMessage(msg, conv, got), true, nil
}

// sentMessage is what the engine learns of a message posted for msg.
func sentMessage(msg engine.OutboundMessage, conv string, got *conversationsv1.ConversationsV1ConversationMessage) engine.SentMessage {
	sent := engine.SentMessage{
		Sid: deref(got.Sid), Status: "sent", From: msg.From, To: msg.To, Body: deref(got.Body),
		ConversationSid: conv, Author: deref(got.Author), Index: got.Index,
		Attributes: deref(got.Attributes), ParticipantSid: deref(got.ParticipantSid),
	}
	if got.Media != nil && len(*got.Media) > 0 {
		if b, err := json.Marshal(*got.Media); err == nil {
			sent.Media = string(b)
		}
	}
	return sent
}

var _ SentLookup = (*TwilioMessenger)(nil)

// stampSendKey adds the send's key to the message attributes. ok is false
// when the attributes cannot carry it (not a JSON object) or there is no key.
func stampSendKey(attributes, key string) (string, bool) {
	if key == "" {
		return attributes, false
	}
	attrs := map[string]any{}
	if strings.TrimSpace(attributes) != "" {
		if err := json.Unmarshal([]byte(attributes), &attrs); err != nil || attrs == nil {
			return attributes, false
		}
	}
	attrs[sendKeyAttribute] = key
	b, err := json.Marshal(attrs)
	if err != nil {
		return attributes, false
	}
	return string(b), true
}

// findSent returns the message of conv that carries the send key, or nil.
func (m *TwilioMessenger) findSent(conv, key string) (*conversationsv1.ConversationsV1ConversationMessage, error) {
	p := &conversationsv1.ListConversationMessageParams{}
	p.SetOrder("desc")
	p.SetPageSize(recentMessages)
	p.SetLimit(recentMessages)
	msgs, err := m.client.ConversationsV1.ListConversationMessage(conv, p)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		var attrs map[string]any
		if json.Unmarshal([]byte(deref(msgs[i].Attributes)), &attrs) == nil && attrs[sendKeyAttribute] == key {
			return &msgs[i], nil
		}
	}
	return nil, nil
}

// contactConversation finds the open conversation the contact to takes part
// in, preferring one whose binding's proxy address is from.
func (m *TwilioMessenger) contactConversation(to, from string) (string, error) {
	if to == "" {
		return "", errors.New("the message has no conversation and no recipient")
	}
	p := &conversationsv1.ListParticipantConversationParams{}
	p.SetAddress(to)
	p.SetLimit(50)
	list, err := m.client.ConversationsV1.ListParticipantConversation(p)
	if err != nil {
		return "", twilioError("looking up the conversations of "+to, err)
	}
	found := ""
	for _, pc := range list {
		if deref(pc.ConversationState) == "closed" || pc.ConversationSid == nil {
			continue
		}
		if from == "" || proxyAddress(pc.ParticipantMessagingBinding) == from {
			return *pc.ConversationSid, nil
		}
		if found == "" {
			found = *pc.ConversationSid
		}
	}
	if found != "" {
		return found, nil
	}
	return "", fmt.Errorf("%s takes part in no open conversation: the Conversations API cannot send a plain SMS, so a message outside a conversation needs one with the contact", to)
}

// participantProxyAddress returns the proxy address of a conversation
// participant's messaging binding, "" for chat participants.
func (m *TwilioMessenger) participantProxyAddress(conversationSid, participantSid string) (string, error) {
	p, err := m.client.ConversationsV1.FetchConversationParticipant(conversationSid, participantSid)
	if err != nil {
		return "", twilioError("fetching participant "+participantSid, err)
	}
	return proxyAddress(p.MessagingBinding), nil
}

// conversationAttributes fetches a conversation's attributes, parsed.
func (m *TwilioMessenger) conversationAttributes(conversationSid string) (map[string]any, error) {
	c, err := m.client.ConversationsV1.FetchConversation(conversationSid)
	if err != nil {
		return nil, twilioError("fetching conversation "+conversationSid, err)
	}
	attrs := map[string]any{}
	if s := strings.TrimSpace(deref(c.Attributes)); s != "" {
		if err := json.Unmarshal([]byte(s), &attrs); err != nil {
			return nil, fmt.Errorf("conversation %s has attributes that are not a JSON object: %w", conversationSid, err)
		}
	}
	return attrs, nil
}

func proxyAddress(binding *any) string {
	if binding == nil {
		return ""
	}
	if m, ok := (*binding).(map[string]any); ok {
		if s, ok := m["proxy_address"].(string); ok {
			return s
		}
	}
	return ""
}

// twilioError names the Twilio error code, which the step's error message
// then shows (81011 with, for example, "Twilio error 50431").
func twilioError(what string, err error) error {
	if code, status, ok := twilioclient.ErrorCode(err); ok {
		return fmt.Errorf("%s: Twilio error %d (HTTP %d): %w", what, code, status, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

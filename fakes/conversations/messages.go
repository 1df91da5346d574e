package conversations

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

const (
	maxMessageBody  = 32 << 10
	maxMessageAttrs = 4 << 10
	maxSubject      = 256
)

// messageInput is a message to add, from the REST API or from a channel.
type messageInput struct {
	author, body, attributes, mediaSid, contentSid, contentVariables, subject string
	hasAuthor, hasAttributes                                                  bool
	dateCreated, dateUpdated                                                  time.Time
	// source is API for REST, SMS or WHATSAPP for channel messages.
	source string
	// participantSid is the author participant when the caller knows it (inbound).
	participantSid string
}

func readMessageInput(f *form, update bool) messageInput {
	var in messageInput
	in.author, in.hasAuthor = f.str("Author", 256)
	in.body, _ = f.str("Body", 0)
	if len(in.body) > maxMessageBody {
		f.fail(errInvalid("Body", "must be at most 32768 bytes"))
	}
	in.attributes, in.hasAttributes = f.attributes("Attributes", maxMessageAttrs)
	in.dateCreated, _ = f.timestamp("DateCreated")
	in.dateUpdated, _ = f.timestamp("DateUpdated")
	in.subject, _ = f.str("Subject", maxSubject)
	if !update {
		in.mediaSid, _ = f.sid("MediaSid", "ME")
		in.contentSid, _ = f.sid("ContentSid", "HX")
		in.contentVariables, _ = f.jsonString("ContentVariables")
	}
	return in
}

// messageEvent is the webhook payload describing m (or a pending message
// when m.Sid is empty, for pre-event hooks).
// deliveryEvent is the onDeliveryUpdated event of receipt r. Twilio does
// not document the webhook's parameters; these are the fields of its Event
// Streams schema for the same event (Conversations.DeliveryUpdated v2:
// twilio.com/docs/events/event-types/conversations/delivery) with the
// EventType every Conversations webhook carries.
func deliveryEvent(conv *conversation, r *Receipt) event {
	v := url.Values{}
	v.Set("EventType", "onDeliveryUpdated")
	v.Set("AccountSid", r.AccountSid)
	v.Set("ChatServiceSid", conv.ChatServiceSid)
	v.Set("ConversationSid", conv.Sid)
	v.Set("MessageSid", r.MessageSid)
	v.Set("DeliveryReceiptSid", r.Sid)
	v.Set("ChannelMessageSid", r.ChannelMessageSid)
	v.Set("ParticipantSid", r.ParticipantSid)
	v.Set("Status", r.Status)
	v.Set("ErrorCode", strconv.Itoa(r.ErrorCode))
	v.Set("DateCreated", *twiliorest.Time(r.DateCreated))
	v.Set("DateUpdated", *twiliorest.Time(r.DateUpdated))
	return event{name: "onDeliveryUpdated", svc: conv.ChatServiceSid, convSid: conv.Sid, params: v}
}

func messageEvent(conv *conversation, m *Message, name string) event {
	v := url.Values{}
	v.Set("EventType", name)
	v.Set("AccountSid", m.AccountSid)
	v.Set("ChatServiceSid", conv.ChatServiceSid)
	v.Set("ConversationSid", conv.Sid)
	v.Set("MessagingServiceSid", conv.MessagingServiceSid)
	if m.Sid != "" {
		v.Set("MessageSid", m.Sid)
		v.Set("Index", strconv.Itoa(m.Index))
		v.Set("DateCreated", *twiliorest.Time(m.DateCreated))
	}
	v.Set("Author", m.Author)
	v.Set("Body", m.Body)
	v.Set("Attributes", m.Attributes)
	if m.ParticipantSid != "" {
		v.Set("ParticipantSid", m.ParticipantSid)
	}
	if len(m.Media) > 0 {
		type media struct {
			Sid         string
			Filename    string
			ContentType string
			Size        int
		}
		ms := make([]media, len(m.Media))
		for i, x := range m.Media {
			ms[i] = media{x.Sid, x.Filename, x.ContentType, x.Size}
		}
		b, _ := json.Marshal(ms)
		v.Set("Media", string(b))
	}
	v.Set("Source", m.Source)
	return event{name: name, svc: conv.ChatServiceSid, convSid: conv.Sid, params: v, body: m.Body}
}

// authorParticipant finds the participant a message author names: a chat
// participant by identity or a channel participant by address.
func (conv *conversation) authorParticipant(author string) *Participant {
	for _, p := range conv.participants {
		if (p.Identity != "" && p.Identity == author) || (p.NonChat() && p.Binding.Address == author) {
			return p
		}
	}
	return nil
}

// addMessage is the single path by which messages enter a conversation, for
// REST creates and inbound channel messages alike: pre-event hooks, index,
// fan-out to channel participants with receipts, post-event hooks.
func (s *Server) addMessage(ctx context.Context, svc, convRef string, in messageInput, hooks bool) (*conversation, Message, error) {
	if !in.hasAuthor || in.author == "" {
		in.author = "system"
	}
	if !in.hasAttributes {
		in.attributes = "{}"
	}
	if hooks {
		s.mu.Lock()
		conv := s.st.lookupConversation(svc, convRef)
		var ev event
		if conv != nil {
			ev = messageEvent(conv, &Message{AccountSid: s.opts.AccountSid, Author: in.author, Body: in.body,
				Attributes: in.attributes, ParticipantSid: in.participantSid, Source: in.source}, "onMessageAdd")
		}
		s.mu.Unlock()
		if conv != nil {
			res, err := s.runPreHooks(ctx, ev)
			if err != nil {
				return nil, Message{}, err
			}
			if v, ok := res.changes["body"]; ok {
				in.body = v
			}
			if v, ok := res.changes["author"]; ok && v != "" {
				in.author = v
			}
			if v, ok := res.changes["attributes"]; ok {
				in.attributes = v
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := s.st.lookupConversation(svc, convRef)
	if conv == nil {
		return nil, Message{}, errNotFound("/Conversations/" + convRef + "/Messages")
	}
	now := s.now()
	s.st.applyTimers(conv, now)
	if conv.State == StateClosed {
		return nil, Message{}, errClosed()
	}
	if conv.State == StateInactive {
		// New activity reactivates an inactive conversation.
		s.st.setState(conv, StateActive, now)
	} else {
		s.st.restartTimers(conv, now)
	}
	m := &Message{
		Sid:              s.st.newSid("IM"),
		AccountSid:       s.opts.AccountSid,
		ConversationSid:  conv.Sid,
		ChatServiceSid:   conv.ChatServiceSid,
		Index:            conv.nextIndex,
		Author:           in.author,
		Body:             in.body,
		Attributes:       in.attributes,
		ParticipantSid:   in.participantSid,
		DateCreated:      now,
		DateUpdated:      now,
		ContentSid:       in.contentSid,
		ContentVariables: in.contentVariables,
		Subject:          in.subject,
		Source:           in.source,
	}
	if !in.dateCreated.IsZero() {
		m.DateCreated = in.dateCreated
	}
	if !in.dateUpdated.IsZero() {
		m.DateUpdated = in.dateUpdated
	}
	if in.mediaSid != "" {
		m.Media = []Media{{Sid: in.mediaSid, ContentType: "application/octet-stream", Filename: in.mediaSid}}
	}
	if in.contentSid != "" {
		// Twilio renders the template; the fake keeps Body as sent (usually empty).
		m.Media = nil
	}
	var author *Participant
	if m.ParticipantSid != "" {
		author = conv.findParticipant(m.ParticipantSid)
	} else if m.Author != "system" {
		author = conv.authorParticipant(m.Author)
	}
	if author != nil {
		m.ParticipantSid = author.Sid
	}
	conv.nextIndex++
	for _, p := range conv.participants {
		if !p.NonChat() || p == author {
			continue
		}
		channelSid := s.st.newSid("SM")
		r := Receipt{
			Sid:               s.st.newSid("DY"),
			AccountSid:        m.AccountSid,
			ConversationSid:   conv.Sid,
			ChatServiceSid:    conv.ChatServiceSid,
			MessageSid:        m.Sid,
			ChannelMessageSid: channelSid,
			ParticipantSid:    p.Sid,
			Status:            "delivered",
			DateCreated:       now,
			DateUpdated:       now,
		}
		m.Receipts = append(m.Receipts, r)
		s.st.outbox = append(s.st.outbox, OutboundMessage{
			Sid: channelSid, Channel: p.Binding.Type, From: p.Binding.ProxyAddress, To: p.Binding.Address,
			Body: m.Body, Media: slices.Clone(m.Media), ConversationSid: conv.Sid, MessageSid: m.Sid,
			ParticipantSid: p.Sid, ReceiptSid: r.Sid, DateCreated: now,
		})
	}
	conv.messages = append(conv.messages, m)
	if hooks {
		s.emitLocked(messageEvent(conv, m, "onMessageAdded"))
	}
	// A delivery receipt is the channel's news, not a REST action: it
	// fires whatever X-Twilio-Webhook-Enabled said (README, "Webhooks").
	for i := range m.Receipts {
		s.emitLocked(deliveryEvent(conv, &m.Receipts[i]))
	}
	return conv, m.clone(), nil
}

func createMessage(s *Server, c *call) error {
	in := readMessageInput(c.form, false)
	if err := c.formErr(); err != nil {
		return err
	}
	if in.body == "" && in.mediaSid == "" && in.contentSid == "" {
		return errMissing("Body")
	}
	in.source = "API"
	_, m, err := s.addMessage(c.r.Context(), c.svc, c.r.PathValue("ConversationSid"), in, c.webhooksEnabled())
	if err != nil {
		if e, ok := err.(*apiError); ok && e.Code == codeNotFound {
			return c.notFound()
		}
		return err
	}
	return c.created(c.renderMessage(&m))
}

// messageLocked resolves {ConversationSid} and {Sid} or {MessageSid}.
func (s *Server) messageLocked(c *call, name string) (*conversation, *Message, error) {
	conv, err := s.conversationLocked(c, "ConversationSid")
	if err != nil {
		return nil, nil, err
	}
	sid := c.r.PathValue(name)
	if !validSid("IM", sid) {
		return nil, nil, c.notFound()
	}
	m := conv.findMessage(sid)
	if m == nil {
		return nil, nil, c.notFound()
	}
	return conv, m, nil
}

func fetchMessage(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m, err := s.messageLocked(c, "Sid")
	if err != nil {
		return err
	}
	return c.ok(c.renderMessage(m))
}

func listMessages(s *Server, c *call) error {
	order, _ := c.form.enum("Order", "asc", "desc")
	pg, err := c.paging(50, 100)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, err := s.conversationLocked(c, "ConversationSid")
	if err != nil {
		return err
	}
	items := make([]messageJSON, len(conv.messages))
	for i, m := range conv.messages {
		items[i] = c.renderMessage(m)
	}
	if order == "desc" {
		slices.Reverse(items)
	}
	return writeList(c, "messages", items, pg)
}

func updateMessage(s *Server, c *call) error {
	in := readMessageInput(c.form, true)
	if err := c.formErr(); err != nil {
		return err
	}
	if c.webhooksEnabled() {
		s.mu.Lock()
		conv, m, err := s.messageLocked(c, "Sid")
		var ev event
		if err == nil {
			ev = messageEvent(conv, m, "onMessageUpdate")
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
		res, err := s.runPreHooks(c.r.Context(), ev)
		if err != nil {
			return err
		}
		if v, ok := res.changes["body"]; ok {
			in.body = v
		}
		if v, ok := res.changes["attributes"]; ok {
			in.attributes, in.hasAttributes = v, true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, m, err := s.messageLocked(c, "Sid")
	if err != nil {
		return err
	}
	if conv.State == StateClosed {
		return errClosed()
	}
	if c.form.has("Body") {
		m.Body = in.body
	}
	if in.hasAuthor {
		m.Author = in.author
		m.ParticipantSid = ""
		if p := conv.authorParticipant(in.author); p != nil {
			m.ParticipantSid = p.Sid
		}
	}
	if in.hasAttributes {
		m.Attributes = in.attributes
	}
	if c.form.has("Subject") {
		m.Subject = in.subject
	}
	if !in.dateCreated.IsZero() {
		m.DateCreated = in.dateCreated
	}
	m.DateUpdated = s.now()
	if !in.dateUpdated.IsZero() {
		m.DateUpdated = in.dateUpdated
	}
	if c.webhooksEnabled() {
		s.emitLocked(messageEvent(conv, m, "onMessageUpdated"))
	}
	return c.ok(c.renderMessage(m))
}

func deleteMessage(s *Server, c *call) error {
	if err := s.preHook(c, func() (event, error) {
		conv, m, err := s.messageLocked(c, "Sid")
		if err != nil {
			return event{}, err
		}
		return messageEvent(conv, m, "onMessageRemove"), nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, m, err := s.messageLocked(c, "Sid")
	if err != nil {
		return err
	}
	conv.messages = slices.DeleteFunc(conv.messages, func(x *Message) bool { return x == m })
	if c.webhooksEnabled() {
		s.emitLocked(messageEvent(conv, m, "onMessageRemoved"))
	}
	return c.noContent()
}

func listReceipts(s *Server, c *call) error {
	pg, err := c.paging(50, 50)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m, err := s.messageLocked(c, "MessageSid")
	if err != nil {
		return err
	}
	items := make([]receiptJSON, len(m.Receipts))
	for i := range m.Receipts {
		items[i] = c.renderReceipt(&m.Receipts[i])
	}
	return writeList(c, "delivery_receipts", items, pg)
}

func fetchReceipt(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m, err := s.messageLocked(c, "MessageSid")
	if err != nil {
		return err
	}
	sid := c.r.PathValue("Sid")
	for i := range m.Receipts {
		if m.Receipts[i].Sid == sid {
			return c.ok(c.renderReceipt(&m.Receipts[i]))
		}
	}
	return c.notFound()
}

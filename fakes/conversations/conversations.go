package conversations

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// Limits from Twilio's conversations-limits page.
const (
	maxFriendlyName           = 256
	maxConversationAttributes = 16 << 10
	minInactiveTimer          = time.Minute
	minClosedTimer            = 10 * time.Minute
)

// conversationParams are the create/update parameters of a conversation.
type conversationParams struct {
	friendlyName, uniqueName, attributes, state, messagingService string
	hasFriendlyName, hasUniqueName, hasAttributes, hasState       bool
	hasMessagingService                                           bool
	dateCreated, dateUpdated                                      time.Time
	inactive, closed                                              time.Duration
	hasInactive, hasClosed                                        bool
	emailAddress, emailName                                       string
}

func readConversationParams(f *form) conversationParams {
	var p conversationParams
	p.friendlyName, p.hasFriendlyName = f.str("FriendlyName", maxFriendlyName)
	p.uniqueName, p.hasUniqueName = f.str("UniqueName", maxFriendlyName)
	p.attributes, p.hasAttributes = f.attributes("Attributes", maxConversationAttributes)
	p.state, p.hasState = f.enum("State", StateActive, StateInactive, StateClosed)
	p.messagingService, p.hasMessagingService = f.sid("MessagingServiceSid", "MG")
	p.dateCreated, _ = f.timestamp("DateCreated")
	p.dateUpdated, _ = f.timestamp("DateUpdated")
	p.inactive, p.hasInactive = f.duration("Timers.Inactive", minInactiveTimer)
	p.closed, p.hasClosed = f.duration("Timers.Closed", minClosedTimer)
	p.emailAddress, _ = f.str("Bindings.Email.Address", 256)
	p.emailName, _ = f.str("Bindings.Email.Name", 256)
	return p
}

// newConversationLocked validates p and stores a new conversation of service
// svc. It is shared by Conversations and ConversationWithParticipants.
func (s *Server) newConversationLocked(svc string, p conversationParams, now time.Time) (*conversation, error) {
	if p.hasUniqueName && p.uniqueName != "" {
		if _, taken := s.st.uniqueNames[uniqueKey(svc, p.uniqueName)]; taken {
			return nil, newError(http.StatusConflict, codeUniqueNameTaken, "Conversation with provided unique name already exists")
		}
	}
	c := &conversation{Conversation: Conversation{
		Sid:                 s.st.newSid("CH"),
		AccountSid:          s.opts.AccountSid,
		ChatServiceSid:      svc,
		MessagingServiceSid: s.st.config.DefaultMessagingServiceSid,
		FriendlyName:        p.friendlyName,
		UniqueName:          p.uniqueName,
		Attributes:          "{}",
		State:               StateActive,
		DateCreated:         now,
		DateUpdated:         now,
		EmailAddress:        p.emailAddress,
		EmailName:           p.emailName,
		CreatedBy:           "system",
	}}
	if p.hasAttributes {
		c.Attributes = p.attributes
	}
	if p.hasMessagingService {
		c.MessagingServiceSid = p.messagingService
	}
	if !p.dateCreated.IsZero() {
		c.DateCreated = p.dateCreated
	}
	if !p.dateUpdated.IsZero() {
		c.DateUpdated = p.dateUpdated
	}
	if d, err := parseISODuration(s.st.config.DefaultInactiveTimer); err == nil {
		c.TimerInactive = d
	}
	if d, err := parseISODuration(s.st.config.DefaultClosedTimer); err == nil {
		c.TimerClosed = d
	}
	if p.hasInactive {
		c.TimerInactive = p.inactive
	}
	if p.hasClosed {
		c.TimerClosed = p.closed
	}
	s.st.restartTimers(c, now)
	if p.hasState {
		s.st.setState(c, p.state, now)
	}
	s.st.conversations[c.Sid] = c
	s.st.convOrder = append(s.st.convOrder, c.Sid)
	if c.UniqueName != "" {
		s.st.uniqueNames[uniqueKey(svc, c.UniqueName)] = c.Sid
	}
	return c, nil
}

// conversationEventParams is the webhook payload describing c.
func conversationEventParams(c *conversation, name, source string) url.Values {
	v := url.Values{}
	v.Set("EventType", name)
	v.Set("AccountSid", c.AccountSid)
	v.Set("ChatServiceSid", c.ChatServiceSid)
	v.Set("ConversationSid", c.Sid)
	v.Set("MessagingServiceSid", c.MessagingServiceSid)
	v.Set("FriendlyName", c.FriendlyName)
	v.Set("UniqueName", c.UniqueName)
	v.Set("Attributes", c.Attributes)
	v.Set("State", c.State)
	if d := twiliorest.Time(c.DateCreated); d != nil {
		v.Set("DateCreated", *d)
	}
	if d := twiliorest.Time(c.DateUpdated); d != nil {
		v.Set("DateUpdated", *d)
	}
	v.Set("Source", source)
	return v
}

func (s *Server) conversationEvent(c *conversation, name, source string) event {
	return event{name: name, svc: c.ChatServiceSid, convSid: c.Sid, params: conversationEventParams(c, name, source)}
}

// stateUpdatedEvent is the onConversationStateUpdated event of c, which has
// just left state from for the given reason (API or TIMER). Its Source is
// API either way: Twilio documents no other source for it.
func (s *Server) stateUpdatedEvent(c *conversation, from, reason string) event {
	ev := s.conversationEvent(c, "onConversationStateUpdated", "API")
	ev.params.Set("StateFrom", from)
	ev.params.Set("StateTo", c.State)
	ev.params.Set("Reason", reason)
	return ev
}

func createConversation(s *Server, c *call) error {
	p := readConversationParams(c.form)
	if err := c.formErr(); err != nil {
		return err
	}
	if c.webhooksEnabled() {
		pending := &conversation{Conversation: Conversation{AccountSid: s.opts.AccountSid, ChatServiceSid: c.svc,
			FriendlyName: p.friendlyName, UniqueName: p.uniqueName, Attributes: p.attributes, State: StateActive}}
		if _, err := s.runPreHooks(c.r.Context(), s.conversationEvent(pending, "onConversationAdd", "API")); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, err := s.newConversationLocked(c.svc, p, s.now())
	if err != nil {
		return err
	}
	if c.webhooksEnabled() {
		s.emitLocked(s.conversationEvent(conv, "onConversationAdded", "API"))
	}
	return c.created(c.renderConversation(&conv.Conversation))
}

// conversationLocked resolves the {Sid} or {ConversationSid} path value.
func (s *Server) conversationLocked(c *call, name string) (*conversation, error) {
	conv := s.st.lookupConversation(c.svc, c.r.PathValue(name))
	if conv == nil {
		return nil, c.notFound()
	}
	s.st.applyTimers(conv, s.now())
	return conv, nil
}

func fetchConversation(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, err := s.conversationLocked(c, "Sid")
	if err != nil {
		return err
	}
	return c.ok(c.renderConversation(&conv.Conversation))
}

func listConversations(s *Server, c *call) error {
	f := c.form
	start, hasStart := readDateFilter(f, "StartDate", false)
	end, hasEnd := readDateFilter(f, "EndDate", true)
	state, hasState := f.enum("State", StateActive, StateInactive, StateClosed, "initializing")
	p, err := c.paging(50, 100)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var items []conversationJSON
	for _, sid := range s.st.convOrder {
		conv := s.st.conversations[sid]
		if conv.ChatServiceSid != c.svc {
			continue
		}
		s.st.applyTimers(conv, now)
		if (hasStart && conv.DateCreated.Before(start)) || (hasEnd && conv.DateCreated.After(end)) || (hasState && conv.State != state) {
			continue
		}
		items = append(items, c.renderConversation(&conv.Conversation))
	}
	if hasStart || hasEnd {
		// Twilio sorts date-filtered lists newest first.
		slices.Reverse(items)
	}
	return writeList(c, "conversations", items, p)
}

// readDateFilter reads an ISO-8601 date or date-time; a bare end date covers the whole day.
func readDateFilter(f *form, name string, endOfDay bool) (time.Time, bool) {
	s, ok := f.str(name, 0)
	if !ok || s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		f.fail(errInvalid(name, "must be an ISO-8601 date such as 2024-01-31 or 2024-01-31T00:00:00Z"))
		return time.Time{}, false
	}
	if endOfDay {
		t = t.Add(24*time.Hour - time.Second)
	}
	return t, true
}

func updateConversation(s *Server, c *call) error {
	p := readConversationParams(c.form)
	if err := c.formErr(); err != nil {
		return err
	}
	if err := s.preHook(c, func() (event, error) {
		conv, err := s.conversationLocked(c, "Sid")
		if err != nil {
			return event{}, err
		}
		return s.conversationEvent(conv, "onConversationUpdate", "API"), nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, err := s.conversationLocked(c, "Sid")
	if err != nil {
		return err
	}
	if conv.State == StateClosed {
		return errClosed()
	}
	now := s.now()
	if p.hasUniqueName && p.uniqueName != conv.UniqueName {
		if p.uniqueName != "" {
			if _, taken := s.st.uniqueNames[uniqueKey(conv.ChatServiceSid, p.uniqueName)]; taken {
				return newError(http.StatusConflict, codeUniqueNameTaken, "Conversation with provided unique name already exists")
			}
			s.st.uniqueNames[uniqueKey(conv.ChatServiceSid, p.uniqueName)] = conv.Sid
		}
		if conv.UniqueName != "" {
			delete(s.st.uniqueNames, uniqueKey(conv.ChatServiceSid, conv.UniqueName))
		}
		conv.UniqueName = p.uniqueName
	}
	if p.hasFriendlyName {
		conv.FriendlyName = p.friendlyName
	}
	if p.hasAttributes {
		conv.Attributes = p.attributes
	}
	if p.hasMessagingService {
		conv.MessagingServiceSid = p.messagingService
	}
	if p.hasInactive || p.hasClosed {
		if p.hasInactive {
			conv.TimerInactive = p.inactive
		}
		if p.hasClosed {
			conv.TimerClosed = p.closed
		}
		s.st.restartTimers(conv, now)
	}
	if p.emailAddress != "" {
		conv.EmailAddress, conv.EmailName = p.emailAddress, p.emailName
	}
	if !p.dateCreated.IsZero() {
		conv.DateCreated = p.dateCreated
	}
	conv.DateUpdated = now
	from := conv.State
	if p.hasState {
		s.st.setState(conv, p.state, now)
	}
	if !p.dateUpdated.IsZero() {
		conv.DateUpdated = p.dateUpdated
	}
	if c.webhooksEnabled() {
		s.emitLocked(s.conversationEvent(conv, "onConversationUpdated", "API"))
		if from != conv.State {
			s.emitLocked(s.stateUpdatedEvent(conv, from, "API"))
		}
	}
	return c.ok(c.renderConversation(&conv.Conversation))
}

func deleteConversation(s *Server, c *call) error {
	if err := s.preHook(c, func() (event, error) {
		conv, err := s.conversationLocked(c, "Sid")
		if err != nil {
			return event{}, err
		}
		return s.conversationEvent(conv, "onConversationRemove", "API"), nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, err := s.conversationLocked(c, "Sid")
	if err != nil {
		return err
	}
	if c.webhooksEnabled() {
		// Queued before the conversation (and its scoped webhooks) disappears.
		s.emitLocked(s.conversationEvent(conv, "onConversationRemoved", "API"))
	}
	s.st.deleteConversation(conv)
	return c.noContent()
}

// createConversationWithParticipants creates a conversation and up to ten
// participants atomically: either everything is created or nothing.
func createConversationWithParticipants(s *Server, c *call) error {
	p := readConversationParams(c.form)
	raw := c.form.list("Participant")
	if err := c.formErr(); err != nil {
		return err
	}
	if len(raw) > 10 {
		return newError(http.StatusBadRequest, codeCWPTooMany, "Participants limit exceeded: at most 10 participants per request")
	}
	var inputs []participantInput
	for _, r := range raw {
		in, err := parseParticipantJSON(r)
		if err != nil {
			return err
		}
		inputs = append(inputs, in)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Validate every participant first so a failure changes nothing.
	seenBinding := map[string]bool{}
	seenIdentity := map[string]bool{}
	for _, in := range inputs {
		if err := in.validate(); err != nil {
			return err
		}
		if in.address != "" {
			k := bindingKey(in.address, in.proxy)
			if holder := s.st.bindingHolder(in.address, in.proxy, now); holder != nil || seenBinding[k] {
				sid := ""
				if holder != nil {
					sid = holder.Sid
				}
				return newError(http.StatusBadRequest, codeCWPBindingInUse,
					"A binding for this participant and proxy address already exists in Conversation %s", sid)
			}
			seenBinding[k] = true
		}
		if in.identity != "" {
			if seenIdentity[in.identity] {
				return newError(http.StatusConflict, codeIdentityExists, "Participant already exists")
			}
			seenIdentity[in.identity] = true
		}
	}
	if p.hasUniqueName && p.uniqueName != "" {
		if _, taken := s.st.uniqueNames[uniqueKey(c.svc, p.uniqueName)]; taken {
			return newError(http.StatusConflict, codeUniqueNameTaken, "Conversation with provided unique name already exists")
		}
	}
	conv, err := s.newConversationLocked(c.svc, p, now)
	if err != nil {
		return err
	}
	for _, in := range inputs {
		if _, err := s.addParticipantLocked(conv, in, now); err != nil {
			// Unreachable after the checks above; undo to keep the promise.
			s.st.deleteConversation(conv)
			return err
		}
	}
	if c.webhooksEnabled() {
		s.emitLocked(s.conversationEvent(conv, "onConversationAdded", "API"))
		for _, part := range conv.participants {
			s.emitLocked(s.participantEvent(conv, part, "onParticipantAdded", "API"))
		}
	}
	return c.created(c.renderConversation(&conv.Conversation))
}

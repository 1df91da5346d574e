package conversations

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

const (
	maxUserAttrs    = 16 << 10
	maxUserName     = 256
	codeUserExists  = 50201
	notificationDef = "default"
)

// userLookup finds a user of service svc by US sid or identity, as the
// spec's {Sid} and {UserSid} parameters allow.
func (st *state) userLookup(svc, sidOrIdentity string) *User {
	if u := st.users[sidOrIdentity]; u != nil && u.ChatServiceSid == svc {
		return u
	}
	for _, sid := range st.userOrder {
		if u := st.users[sid]; u.ChatServiceSid == svc && u.Identity == sidOrIdentity {
			return u
		}
	}
	return nil
}

// userSidOf is the US sid of identity in svc, or "" when no user has it.
func (st *state) userSidOf(svc, identity string) string {
	if identity == "" {
		return ""
	}
	if u := st.userLookup(svc, identity); u != nil {
		return u.Sid
	}
	return ""
}

type userJSON struct {
	Sid            string            `json:"sid"`
	AccountSid     string            `json:"account_sid"`
	ChatServiceSid string            `json:"chat_service_sid"`
	RoleSid        *string           `json:"role_sid"`
	Identity       string            `json:"identity"`
	FriendlyName   *string           `json:"friendly_name"`
	Attributes     string            `json:"attributes"`
	IsOnline       *bool             `json:"is_online"`
	IsNotifiable   *bool             `json:"is_notifiable"`
	DateCreated    *string           `json:"date_created"`
	DateUpdated    *string           `json:"date_updated"`
	URL            string            `json:"url"`
	Links          map[string]string `json:"links"`
}

// renderUser renders u. is_online and is_notifiable follow the spec: null
// in lists, null when the service's reachability is off, and null for
// states the fake never sees (no client SDK is ever online); is_notifiable
// is true once the user has a push binding.
func (s *Server) renderUserLocked(c *call, u *User, single bool) userJSON {
	self := c.base + c.prefix() + "/Users/" + u.Sid
	j := userJSON{
		Sid:            u.Sid,
		AccountSid:     u.AccountSid,
		ChatServiceSid: u.ChatServiceSid,
		RoleSid:        twiliorest.Null(u.RoleSid),
		Identity:       u.Identity,
		FriendlyName:   twiliorest.Null(u.FriendlyName),
		Attributes:     u.Attributes,
		DateCreated:    twiliorest.Time(u.DateCreated),
		DateUpdated:    twiliorest.Time(u.DateUpdated),
		URL:            self,
		Links:          map[string]string{"user_conversations": self + "/Conversations"},
	}
	if svc := s.st.services[u.ChatServiceSid]; single && svc != nil && svc.Config.ReachabilityEnabled {
		for _, b := range s.st.pushBindings {
			if b.ChatServiceSid == u.ChatServiceSid && b.Identity == u.Identity {
				t := true
				j.IsNotifiable = &t
				break
			}
		}
	}
	return j
}

// userEvent is the webhook payload of a user event.
func userEvent(u *User, name string) event {
	v := url.Values{}
	v.Set("EventType", name)
	v.Set("AccountSid", u.AccountSid)
	v.Set("ChatServiceSid", u.ChatServiceSid)
	if u.Sid != "" {
		v.Set("UserSid", u.Sid)
	}
	v.Set("Identity", u.Identity)
	v.Set("FriendlyName", u.FriendlyName)
	v.Set("Attributes", u.Attributes)
	v.Set("RoleSid", u.RoleSid)
	if d := twiliorest.Time(u.DateCreated); d != nil {
		v.Set("DateCreated", *d)
	}
	v.Set("Source", "API")
	return event{name: name, svc: u.ChatServiceSid, params: v}
}

func createUser(s *Server, c *call) error {
	f := c.form
	identity := f.required("Identity", maxIdentity)
	name, _ := f.str("FriendlyName", maxUserName)
	attrs, hasAttrs := f.attributes("Attributes", maxUserAttrs)
	role, hasRole := f.sid("RoleSid", "RL")
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.userLookup(c.svc, identity) != nil {
		return newError(http.StatusConflict, codeUserExists, "User already exists")
	}
	if hasRole {
		if err := s.st.checkRole("RoleSid", c.svc, role, RoleTypeService); err != nil {
			return err
		}
	} else {
		role = s.st.services[c.svc].Config.DefaultChatServiceRoleSid
	}
	now := s.now()
	u := &User{Sid: s.st.newSid("US"), AccountSid: s.opts.AccountSid, ChatServiceSid: c.svc, RoleSid: role,
		Identity: identity, FriendlyName: name, Attributes: "{}", DateCreated: now, DateUpdated: now}
	if hasAttrs {
		u.Attributes = attrs
	}
	s.st.users[u.Sid] = u
	s.st.userOrder = append(s.st.userOrder, u.Sid)
	if c.webhooksEnabled() {
		s.emitLocked(userEvent(u, "onUserAdded"))
	}
	return c.created(s.renderUserLocked(c, u, true))
}

func (s *Server) userLocked(c *call, param string) (*User, error) {
	u := s.st.userLookup(c.svc, c.r.PathValue(param))
	if u == nil {
		return nil, c.notFound()
	}
	return u, nil
}

func fetchUser(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(c, "Sid")
	if err != nil {
		return err
	}
	return c.ok(s.renderUserLocked(c, u, true))
}

func listUsers(s *Server, c *call) error {
	pg, err := c.paging(50, 50)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []userJSON
	for _, sid := range s.st.userOrder {
		if u := s.st.users[sid]; u.ChatServiceSid == c.svc {
			items = append(items, s.renderUserLocked(c, u, false))
		}
	}
	return writeList(c, "users", items, pg)
}

func updateUser(s *Server, c *call) error {
	f := c.form
	name, hasName := f.str("FriendlyName", maxUserName)
	attrs, hasAttrs := f.attributes("Attributes", maxUserAttrs)
	role, hasRole := f.sid("RoleSid", "RL")
	if err := c.formErr(); err != nil {
		return err
	}
	if err := s.preHook(c, func() (event, error) {
		u, err := s.userLocked(c, "Sid")
		if err != nil {
			return event{}, err
		}
		return userEvent(u, "onUserUpdate"), nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(c, "Sid")
	if err != nil {
		return err
	}
	if hasRole {
		if err := s.st.checkRole("RoleSid", c.svc, role, RoleTypeService); err != nil {
			return err
		}
		u.RoleSid = role
	}
	if hasName {
		u.FriendlyName = name
	}
	if hasAttrs {
		u.Attributes = attrs
	}
	u.DateUpdated = s.now()
	if c.webhooksEnabled() {
		s.emitLocked(userEvent(u, "onUserUpdated"))
	}
	return c.ok(s.renderUserLocked(c, u, true))
}

// deleteUser deletes the user and its push bindings. Its participants stay
// in their conversations, as deleting a participant is a separate call.
func deleteUser(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(c, "Sid")
	if err != nil {
		return err
	}
	delete(s.st.users, u.Sid)
	s.st.userOrder = slices.DeleteFunc(s.st.userOrder, func(sid string) bool { return sid == u.Sid })
	s.st.pushOrder = deleteWhere(s.st.pushOrder, s.st.pushBindings, func(b *Binding) bool {
		return b.ChatServiceSid == u.ChatServiceSid && b.Identity == u.Identity
	})
	return c.noContent()
}

// User conversations are not stored: they are the user's participants (a
// participant whose identity is the user's), seen from the user's side.

type userConversationJSON struct {
	AccountSid           string            `json:"account_sid"`
	ChatServiceSid       string            `json:"chat_service_sid"`
	ConversationSid      string            `json:"conversation_sid"`
	UnreadMessagesCount  *int              `json:"unread_messages_count"`
	LastReadMessageIndex *int              `json:"last_read_message_index"`
	ParticipantSid       string            `json:"participant_sid"`
	UserSid              string            `json:"user_sid"`
	FriendlyName         *string           `json:"friendly_name"`
	ConversationState    string            `json:"conversation_state"`
	Timers               map[string]string `json:"timers"`
	Attributes           string            `json:"attributes"`
	DateCreated          *string           `json:"date_created"`
	DateUpdated          *string           `json:"date_updated"`
	CreatedBy            string            `json:"created_by"`
	NotificationLevel    string            `json:"notification_level"`
	UniqueName           *string           `json:"unique_name"`
	URL                  string            `json:"url"`
	Links                map[string]string `json:"links"`
}

// renderUserConversation renders p's conversation for user u. The unread
// count is the number of messages after the read horizon, null while the
// participant has none (as Twilio reports it).
func (c *call) renderUserConversation(u *User, conv *conversation, p *Participant) userConversationJSON {
	cj := c.renderConversation(&conv.Conversation)
	var unread *int
	if p.LastReadMessageIndex != nil {
		n := 0
		for _, m := range conv.messages {
			if m.Index > *p.LastReadMessageIndex {
				n++
			}
		}
		unread = &n
	}
	level := p.NotificationLevel
	if level == "" {
		level = notificationDef
	}
	return userConversationJSON{
		AccountSid:           conv.AccountSid,
		ChatServiceSid:       conv.ChatServiceSid,
		ConversationSid:      conv.Sid,
		UnreadMessagesCount:  unread,
		LastReadMessageIndex: p.LastReadMessageIndex,
		ParticipantSid:       p.Sid,
		UserSid:              u.Sid,
		FriendlyName:         twiliorest.Null(conv.FriendlyName),
		ConversationState:    conv.State,
		Timers:               cj.Timers,
		Attributes:           conv.Attributes,
		DateCreated:          twiliorest.Time(conv.DateCreated),
		DateUpdated:          twiliorest.Time(conv.DateUpdated),
		CreatedBy:            conv.CreatedBy,
		NotificationLevel:    level,
		UniqueName:           twiliorest.Null(conv.UniqueName),
		URL:                  c.base + c.prefix() + "/Users/" + u.Sid + "/Conversations/" + conv.Sid,
		Links: map[string]string{
			"participant":  cj.URL + "/Participants/" + p.Sid,
			"conversation": cj.URL,
		},
	}
}

// userParticipant returns the participant of conv whose identity is u's.
func userParticipant(conv *conversation, u *User) *Participant {
	for _, p := range conv.participants {
		if p.Identity == u.Identity {
			return p
		}
	}
	return nil
}

// userConversationLocked resolves {UserSid} (US sid or identity) and
// {ConversationSid} (CH sid or unique name) to the user's participant.
func (s *Server) userConversationLocked(c *call) (*User, *conversation, *Participant, error) {
	u, err := s.userLocked(c, "UserSid")
	if err != nil {
		return nil, nil, nil, err
	}
	conv, err := s.conversationLocked(c, "ConversationSid")
	if err != nil {
		return nil, nil, nil, err
	}
	p := userParticipant(conv, u)
	if p == nil {
		return nil, nil, nil, c.notFound()
	}
	return u, conv, p, nil
}

func fetchUserConversation(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, conv, p, err := s.userConversationLocked(c)
	if err != nil {
		return err
	}
	return c.ok(c.renderUserConversation(u, conv, p))
}

func listUserConversations(s *Server, c *call) error {
	pg, err := c.paging(50, 50)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(c, "UserSid")
	if err != nil {
		return err
	}
	now := s.now()
	var items []userConversationJSON
	for _, sid := range s.st.convOrder {
		conv := s.st.conversations[sid]
		if conv.ChatServiceSid != c.svc {
			continue
		}
		if p := userParticipant(conv, u); p != nil {
			s.st.applyTimers(conv, now)
			items = append(items, c.renderUserConversation(u, conv, p))
		}
	}
	return writeList(c, "conversations", items, pg)
}

// updateUserConversation sets the notification level and read horizon of
// the user's participant.
func updateUserConversation(s *Server, c *call) error {
	f := c.form
	level, hasLevel := f.enum("NotificationLevel", "default", "muted")
	lastTS, hasLastTS := f.timestamp("LastReadTimestamp")
	lastIdx, hasLastIdx := f.integer("LastReadMessageIndex", 0, 1<<31-1)
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, conv, p, err := s.userConversationLocked(c)
	if err != nil {
		return err
	}
	if conv.State == StateClosed {
		return errClosed()
	}
	if hasLevel {
		p.NotificationLevel = level
	}
	if hasLastTS {
		p.LastReadTimestamp = *twiliorest.Time(lastTS)
	}
	if hasLastIdx {
		p.LastReadMessageIndex = &lastIdx
	}
	p.DateUpdated = s.now()
	return c.ok(c.renderUserConversation(u, conv, p))
}

// deleteUserConversation removes the user's participant from the
// conversation: the user leaves it.
func deleteUserConversation(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, conv, p, err := s.userConversationLocked(c)
	if err != nil {
		return err
	}
	s.st.releaseBinding(conv.Sid, p)
	for i, o := range conv.participants {
		if o == p {
			// A fresh backing array, as deleteParticipant does, so no
			// earlier slice of the participants changes under its holder.
			conv.participants = append(conv.participants[:i:i], conv.participants[i+1:]...)
			break
		}
	}
	return c.noContent()
}

// Users returns the users of service svc ("" = default service) in
// creation order.
func (s *Server) Users(svc string) []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc == "" {
		svc = s.st.defaultService
	}
	var out []User
	for _, sid := range s.st.userOrder {
		if u := s.st.users[sid]; u.ChatServiceSid == svc {
			out = append(out, *u)
		}
	}
	return out
}

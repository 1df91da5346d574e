package conversations

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"time"
)

// Conversation states.
const (
	StateActive   = "active"
	StateInactive = "inactive"
	StateClosed   = "closed"
)

// Service is a Conversation Service (IS). The default service is created at
// start so that every conversation has a chat_service_sid.
type Service struct {
	Sid          string
	AccountSid   string
	FriendlyName string
	DateCreated  time.Time
	DateUpdated  time.Time
	// Webhooks is the service-level webhook configuration
	// (/v1/Services/{IS}/Configuration/Webhooks).
	Webhooks WebhookConfig
	// Config is /v1/Services/{IS}/Configuration: the default roles and
	// whether reachability (is_online, is_notifiable) is reported.
	Config ServiceConfig
	// Notifications is /v1/Services/{IS}/Configuration/Notifications.
	Notifications ServiceNotifications
}

// ServiceConfig is a service's configuration. The role SIDs point at roles
// of the same service; every service starts with Twilio's default roles.
type ServiceConfig struct {
	DefaultConversationCreatorRoleSid string // conversation role of a conversation's creator ("channel admin")
	DefaultConversationRoleSid        string // conversation role of other participants ("channel user")
	DefaultChatServiceRoleSid         string // service role of new users ("service user")
	ReachabilityEnabled               bool
}

// NotificationTemplate is one push notification kind of a service.
type NotificationTemplate struct {
	Enabled  bool
	Template string // "" renders as null
	Sound    string // "" renders as null
}

// ServiceNotifications is a service's push notification configuration.
type ServiceNotifications struct {
	LogEnabled              bool
	NewMessage              NotificationTemplate
	NewMessageBadgeCount    bool // new_message.badge_count_enabled
	NewMessageWithMedia     NotificationTemplate
	AddedToConversation     NotificationTemplate
	RemovedFromConversation NotificationTemplate
}

// Role types.
const (
	RoleTypeConversation = "conversation"
	RoleTypeService      = "service"
)

// Role is a role (RL) of a service: a named set of permissions for users
// (type service) or participants (type conversation).
type Role struct {
	Sid            string
	AccountSid     string
	ChatServiceSid string
	FriendlyName   string
	Type           string
	Permissions    []string
	DateCreated    time.Time
	DateUpdated    time.Time
}

// User is a user (US) of a service, identified by its identity.
type User struct {
	Sid            string
	AccountSid     string
	ChatServiceSid string
	RoleSid        string
	Identity       string
	FriendlyName   string // "" renders as null
	Attributes     string
	DateCreated    time.Time
	DateUpdated    time.Time
}

// Credential is a push credential (CR) of the account. The secrets are kept
// so tests can read them through [Server.Credentials], but the API never
// returns them, as Twilio does not.
type Credential struct {
	Sid          string
	AccountSid   string
	FriendlyName string
	Type         string // apn, gcm or fcm
	Sandbox      bool   // apn only
	Certificate  string
	PrivateKey   string
	APIKey       string
	Secret       string
	DateCreated  time.Time
	DateUpdated  time.Time
}

// Binding is a push registration (BS) of a user's device in a service. The
// REST API only reads and deletes bindings (client SDKs create them), so
// tests seed them with [Server.AddBinding] or POST /_fake/bindings.
type Binding struct {
	Sid            string
	AccountSid     string
	ChatServiceSid string
	CredentialSid  string
	Identity       string
	BindingType    string // apn, gcm, fcm or twilsock
	Endpoint       string
	MessageTypes   []string
	DateCreated    time.Time
	DateUpdated    time.Time
}

// WebhookConfig is an account- or service-level webhook configuration.
type WebhookConfig struct {
	Method         string // GET or POST
	Filters        []string
	PreWebhookURL  string
	PostWebhookURL string
	Target         string // webhook or flex (account level only)
}

// Configuration is the account configuration (/v1/Configuration).
type Configuration struct {
	DefaultChatServiceSid      string
	DefaultMessagingServiceSid string
	DefaultInactiveTimer       string // ISO-8601 duration, "" when unset
	DefaultClosedTimer         string
}

// Conversation is a conversation (CH) as stored by the fake.
type Conversation struct {
	Sid                 string
	AccountSid          string
	ChatServiceSid      string
	MessagingServiceSid string
	FriendlyName        string // "" renders as null
	UniqueName          string // "" renders as null
	Attributes          string
	State               string
	DateCreated         time.Time
	DateUpdated         time.Time
	TimerInactive       time.Duration // 0 = no timer
	TimerClosed         time.Duration
	DateInactive        time.Time // when the inactive timer fires; zero = none
	DateClosed          time.Time
	EmailAddress        string // Bindings.Email.Address
	EmailName           string
	CreatedBy           string // "system" for REST creates, the sender's address for autocreated ones
}

// MessagingBinding is how a non-chat participant is reached.
type MessagingBinding struct {
	Type             string // sms or whatsapp
	Address          string
	ProxyAddress     string
	ProjectedAddress string
}

// Participant is a conversation participant (MB).
type Participant struct {
	Sid                  string
	AccountSid           string
	ConversationSid      string
	ChatServiceSid       string
	Identity             string            // "" for non-chat participants
	Binding              *MessagingBinding // nil for chat participants
	Attributes           string
	RoleSid              string
	DateCreated          time.Time
	DateUpdated          time.Time
	LastReadMessageIndex *int
	LastReadTimestamp    string
	// NotificationLevel is the user conversation's notification_level
	// (default or muted); it belongs to the participant-user pair.
	NotificationLevel string
}

// NonChat reports whether the participant is reached over a channel (SMS,
// WhatsApp) rather than through the client SDK.
func (p Participant) NonChat() bool { return p.Binding != nil && p.Binding.Address != "" }

// Media describes a message's media item.
type Media struct {
	Sid         string `json:"sid"`
	Size        int    `json:"size"`
	ContentType string `json:"content_type"`
	Filename    string `json:"filename"`
}

// Message is a conversation message (IM).
type Message struct {
	Sid              string
	AccountSid       string
	ConversationSid  string
	ChatServiceSid   string
	Index            int
	Author           string
	Body             string
	Media            []Media
	Attributes       string
	ParticipantSid   string // "" for system messages
	DateCreated      time.Time
	DateUpdated      time.Time
	ContentSid       string
	ContentVariables string
	Subject          string
	// Source is the origin reported in webhooks: API, SMS or WHATSAPP.
	Source   string
	Receipts []Receipt
}

// Receipt is a delivery receipt (DY) for one non-chat recipient of a message.
type Receipt struct {
	Sid               string
	AccountSid        string
	ConversationSid   string
	ChatServiceSid    string
	MessageSid        string
	ChannelMessageSid string
	ParticipantSid    string
	Status            string
	ErrorCode         int
	DateCreated       time.Time
	DateUpdated       time.Time
}

// ScopedWebhook is a conversation-scoped webhook (WH).
type ScopedWebhook struct {
	Sid             string
	AccountSid      string
	ConversationSid string
	ChatServiceSid  string
	Target          string // webhook, trigger or studio
	URL             string
	Method          string // get or post
	Filters         []string
	Triggers        []string
	FlowSid         string
	ReplayAfter     *int
	// Retries is how often a failed delivery is retried (1 unless set by
	// AutoCreation.StudioRetryCount).
	Retries     int
	DateCreated time.Time
	DateUpdated time.Time
}

// AutoCreation is the auto-creation part of an address configuration.
type AutoCreation struct {
	Enabled                bool
	Type                   string // webhook, studio or default
	ConversationServiceSid string
	WebhookURL             string
	WebhookMethod          string
	WebhookFilters         []string
	StudioFlowSid          string
	StudioRetryCount       *int
}

// AddressConfiguration is an address configuration (IG).
type AddressConfiguration struct {
	Sid            string
	AccountSid     string
	Type           string
	Address        string
	FriendlyName   string
	AddressCountry string
	AutoCreation   AutoCreation
	DateCreated    time.Time
	DateUpdated    time.Time
}

// OutboundMessage is a message the fake "sent" to a phone: one per non-chat
// recipient of a conversation message.
type OutboundMessage struct {
	Sid             string // SM… (sms) or WA… (whatsapp): the receipt's channel_message_sid
	Channel         string // sms or whatsapp
	From            string // the participant's proxy address
	To              string // the participant's address
	Body            string
	Media           []Media
	ConversationSid string
	MessageSid      string
	ParticipantSid  string
	ReceiptSid      string
	DateCreated     time.Time
}

// conversation is the stored record with its children in creation order.
type conversation struct {
	Conversation
	participants []*Participant
	messages     []*Message
	webhooks     []*ScopedWebhook
	nextIndex    int
}

// state is everything the fake knows; Server.mu guards it.
type state struct {
	rng            *rand.Rand
	tokens         *rand.Rand // idempotency tokens, apart so webhooks never shift SIDs
	services       map[string]*Service
	serviceOrder   []string
	defaultService string
	config         Configuration
	webhooks       WebhookConfig
	conversations  map[string]*conversation
	convOrder      []string
	uniqueNames    map[string]string // chat service sid + "\x00" + unique name → CH
	bindings       map[string]string // address + "\x00" + proxy address → CH (non-closed only)
	addresses      map[string]*AddressConfiguration
	addressOrder   []string
	outbox         []OutboundMessage
	roles          map[string]*Role
	roleOrder      []string
	users          map[string]*User
	userOrder      []string
	credentials    map[string]*Credential
	credOrder      []string
	pushBindings   map[string]*Binding
	pushOrder      []string
	// timed holds the conversations with a timer still to fire, so that
	// firing the due ones need not visit every conversation.
	timed map[string]*conversation
	// onTimer is told of each state change a timer makes, in order, with
	// the conversation already in its new state.
	onTimer func(c *conversation, from string)
}

// newState builds the initial state: the default service and configuration.
// SIDs come from a generator seeded with seed, so equal seeds give equal SIDs.
func newState(seed uint64, accountSid string, now time.Time) *state {
	st := &state{
		rng:           rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		tokens:        rand.New(rand.NewPCG(seed^0x7f4a7c15, seed)),
		services:      map[string]*Service{},
		conversations: map[string]*conversation{},
		uniqueNames:   map[string]string{},
		bindings:      map[string]string{},
		addresses:     map[string]*AddressConfiguration{},
		roles:         map[string]*Role{},
		users:         map[string]*User{},
		credentials:   map[string]*Credential{},
		pushBindings:  map[string]*Binding{},
		timed:         map[string]*conversation{},
		onTimer:       func(*conversation, string) {},
	}
	svc := &Service{Sid: st.newSid("IS"), AccountSid: accountSid, FriendlyName: "Default Conversations Service", DateCreated: now, DateUpdated: now}
	st.addService(svc, now)
	st.defaultService = svc.Sid
	st.config = Configuration{DefaultChatServiceSid: svc.Sid, DefaultMessagingServiceSid: st.newSid("MG")}
	st.webhooks = WebhookConfig{Method: "POST", Target: "webhook"}
	return st
}

// addService stores svc with Twilio's default roles and points its
// configuration at them.
func (st *state) addService(svc *Service, now time.Time) {
	st.services[svc.Sid] = svc
	st.serviceOrder = append(st.serviceOrder, svc.Sid)
	sids := map[string]string{}
	for _, d := range defaultRoles {
		r := &Role{Sid: st.newSid("RL"), AccountSid: svc.AccountSid, ChatServiceSid: svc.Sid, FriendlyName: d.name,
			Type: d.typ, Permissions: slices.Clone(d.permissions), DateCreated: now, DateUpdated: now}
		st.roles[r.Sid] = r
		st.roleOrder = append(st.roleOrder, r.Sid)
		sids[d.name] = r.Sid
	}
	svc.Config = ServiceConfig{
		DefaultConversationCreatorRoleSid: sids["channel admin"],
		DefaultConversationRoleSid:        sids["channel user"],
		DefaultChatServiceRoleSid:         sids["service user"],
	}
}

// deleteService removes svc and everything in it: conversations, users,
// roles and push bindings.
func (st *state) deleteService(svc *Service) {
	for _, sid := range slices.Clone(st.convOrder) {
		if c := st.conversations[sid]; c != nil && c.ChatServiceSid == svc.Sid {
			st.deleteConversation(c)
		}
	}
	st.userOrder = deleteWhere(st.userOrder, st.users, func(u *User) bool { return u.ChatServiceSid == svc.Sid })
	st.roleOrder = deleteWhere(st.roleOrder, st.roles, func(r *Role) bool { return r.ChatServiceSid == svc.Sid })
	st.pushOrder = deleteWhere(st.pushOrder, st.pushBindings, func(b *Binding) bool { return b.ChatServiceSid == svc.Sid })
	delete(st.services, svc.Sid)
	st.serviceOrder = slices.DeleteFunc(st.serviceOrder, func(s string) bool { return s == svc.Sid })
}

// deleteWhere removes the records that match from m and returns order without them.
func deleteWhere[T any](order []string, m map[string]*T, match func(*T) bool) []string {
	return slices.DeleteFunc(order, func(sid string) bool {
		if match(m[sid]) {
			delete(m, sid)
			return true
		}
		return false
	})
}

// newSid returns prefix followed by 32 lower-case hex digits.
func (st *state) newSid(prefix string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], st.rng.Uint64())
	binary.BigEndian.PutUint64(b[8:], st.rng.Uint64())
	return prefix + hex.EncodeToString(b[:])
}

// newToken returns a webhook idempotency token: 32 lower-case hex digits.
func (st *state) newToken() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], st.tokens.Uint64())
	binary.BigEndian.PutUint64(b[8:], st.tokens.Uint64())
	return hex.EncodeToString(b[:])
}

func bindingKey(address, proxy string) string { return address + "\x00" + proxy }
func uniqueKey(svc, name string) string       { return svc + "\x00" + name }

// lookupConversation finds a conversation of service svc by CH sid or unique name.
func (st *state) lookupConversation(svc, sidOrName string) *conversation {
	if c, ok := st.conversations[sidOrName]; ok && c.ChatServiceSid == svc {
		return c
	}
	if sid, ok := st.uniqueNames[uniqueKey(svc, sidOrName)]; ok {
		return st.conversations[sid]
	}
	return nil
}

// applyTimers moves c along active → inactive → closed when its timers have
// fired by now, telling onTimer of each change, and returns how many it
// made. It runs whenever the conversation is touched, so that reads always
// see the state the clock implies, and for every timed conversation on
// Server.FireTimers, so that the changes' webhooks go out without a read.
func (st *state) applyTimers(c *conversation, now time.Time) int {
	n := 0
	if c.State == StateActive && !c.DateInactive.IsZero() && !now.Before(c.DateInactive) &&
		(c.DateClosed.IsZero() || c.DateInactive.Before(c.DateClosed)) {
		c.State = StateInactive
		c.DateUpdated = c.DateInactive
		st.onTimer(c, StateActive)
		n++
	}
	if c.State != StateClosed && !c.DateClosed.IsZero() && !now.Before(c.DateClosed) {
		from := c.State
		st.setState(c, StateClosed, c.DateClosed)
		st.onTimer(c, from)
		n++
	}
	st.track(c)
	return n
}

// track keeps c in timed exactly while one of its timers can still fire.
func (st *state) track(c *conversation) {
	pending := c.State != StateClosed &&
		(!c.DateClosed.IsZero() || c.State == StateActive && !c.DateInactive.IsZero())
	if pending {
		st.timed[c.Sid] = c
	} else {
		delete(st.timed, c.Sid)
	}
}

// setState changes c's state and keeps the binding index consistent: a
// closed conversation releases its participants' bindings.
func (st *state) setState(c *conversation, to string, now time.Time) {
	if c.State == to {
		return
	}
	c.State = to
	c.DateUpdated = now
	switch to {
	case StateClosed:
		c.DateInactive, c.DateClosed = time.Time{}, time.Time{}
		for _, p := range c.participants {
			st.releaseBinding(c.Sid, p)
		}
	case StateActive:
		st.restartTimers(c, now)
	}
	st.track(c)
}

// restartTimers recomputes the absolute timer dates from now; activity in a
// conversation restarts them.
func (st *state) restartTimers(c *conversation, now time.Time) {
	c.DateInactive, c.DateClosed = time.Time{}, time.Time{}
	if c.TimerInactive > 0 {
		c.DateInactive = now.Add(c.TimerInactive)
	}
	if c.TimerClosed > 0 {
		c.DateClosed = now.Add(c.TimerClosed)
	}
	st.track(c)
}

// bindingHolder returns the non-closed conversation holding (address, proxy), if any.
func (st *state) bindingHolder(address, proxy string, now time.Time) *conversation {
	sid, ok := st.bindings[bindingKey(address, proxy)]
	if !ok {
		return nil
	}
	c := st.conversations[sid]
	if c == nil {
		delete(st.bindings, bindingKey(address, proxy))
		return nil
	}
	st.applyTimers(c, now)
	if c.State == StateClosed {
		return nil
	}
	return c
}

func (st *state) holdBinding(convSid string, p *Participant) {
	if p.NonChat() {
		st.bindings[bindingKey(p.Binding.Address, p.Binding.ProxyAddress)] = convSid
	}
}

func (st *state) releaseBinding(convSid string, p *Participant) {
	if !p.NonChat() {
		return
	}
	k := bindingKey(p.Binding.Address, p.Binding.ProxyAddress)
	if st.bindings[k] == convSid {
		delete(st.bindings, k)
	}
}

// deleteConversation removes c and everything that indexes it.
func (st *state) deleteConversation(c *conversation) {
	for _, p := range c.participants {
		st.releaseBinding(c.Sid, p)
	}
	if c.UniqueName != "" {
		delete(st.uniqueNames, uniqueKey(c.ChatServiceSid, c.UniqueName))
	}
	delete(st.conversations, c.Sid)
	delete(st.timed, c.Sid)
	st.convOrder = slices.DeleteFunc(st.convOrder, func(s string) bool { return s == c.Sid })
}

// findParticipant finds a participant of c by MB sid or identity.
func (c *conversation) findParticipant(sidOrIdentity string) *Participant {
	for _, p := range c.participants {
		if p.Sid == sidOrIdentity || (p.Identity != "" && p.Identity == sidOrIdentity) {
			return p
		}
	}
	return nil
}

func (c *conversation) findMessage(sid string) *Message {
	for _, m := range c.messages {
		if m.Sid == sid {
			return m
		}
	}
	return nil
}

func (c *conversation) findWebhook(sid string) *ScopedWebhook {
	for _, w := range c.webhooks {
		if w.Sid == sid {
			return w
		}
	}
	return nil
}

// Copies handed to accessors so callers never share memory with the store.

func (p *Participant) clone() Participant {
	cp := *p
	if p.Binding != nil {
		b := *p.Binding
		cp.Binding = &b
	}
	if p.LastReadMessageIndex != nil {
		i := *p.LastReadMessageIndex
		cp.LastReadMessageIndex = &i
	}
	return cp
}

func (m *Message) clone() Message {
	cp := *m
	cp.Media = slices.Clone(m.Media)
	cp.Receipts = slices.Clone(m.Receipts)
	return cp
}

func (w *ScopedWebhook) clone() ScopedWebhook {
	cp := *w
	cp.Filters = slices.Clone(w.Filters)
	cp.Triggers = slices.Clone(w.Triggers)
	if w.ReplayAfter != nil {
		i := *w.ReplayAfter
		cp.ReplayAfter = &i
	}
	return cp
}

func (a *AddressConfiguration) clone() AddressConfiguration {
	cp := *a
	cp.AutoCreation.WebhookFilters = slices.Clone(a.AutoCreation.WebhookFilters)
	if a.AutoCreation.StudioRetryCount != nil {
		n := *a.AutoCreation.StudioRetryCount
		cp.AutoCreation.StudioRetryCount = &n
	}
	return cp
}

func (w WebhookConfig) clone() WebhookConfig {
	w.Filters = slices.Clone(w.Filters)
	return w
}

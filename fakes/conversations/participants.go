package conversations

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// Participant limits (Twilio's defaults).
const (
	maxIdentity            = 256
	maxParticipantAttrs    = 4 << 10
	maxChatParticipants    = 100
	maxNonChatParticipants = 50
)

var (
	e164RE      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	shortCodeRE = regexp.MustCompile(`^[0-9]{3,8}$`)
)

// channelOf splits a binding address into its channel (sms, whatsapp, rcs,
// messenger, gbm) and number, reporting whether it is well formed.
func channelOf(addr string, proxy bool) (string, bool) {
	if len(addr) > 256 {
		return "", false
	}
	for _, ch := range []string{"whatsapp", "rcs", "messenger", "gbm"} {
		if rest, ok := strings.CutPrefix(addr, ch+":"); ok {
			if ch == "whatsapp" || ch == "rcs" {
				return ch, e164RE.MatchString(rest)
			}
			return ch, rest != ""
		}
	}
	if e164RE.MatchString(addr) || (proxy && shortCodeRE.MatchString(addr)) {
		return "sms", true
	}
	return "", false
}

// participantInput is a participant to create, from a form or from a
// ConversationWithParticipants JSON object.
type participantInput struct {
	identity, address, proxy, projected string
	attributes                          string
	hasAttributes                       bool
	roleSid                             string
	dateCreated, dateUpdated            time.Time
	// hasAddress records that MessagingBinding.Address was sent, even empty.
	hasAddress, hasProxy bool
}

func readParticipantInput(f *form) participantInput {
	var in participantInput
	in.identity, _ = f.str("Identity", maxIdentity)
	in.address, in.hasAddress = f.str("MessagingBinding.Address", 0)
	in.proxy, in.hasProxy = f.str("MessagingBinding.ProxyAddress", 0)
	in.projected, _ = f.str("MessagingBinding.ProjectedAddress", 0)
	in.attributes, in.hasAttributes = f.attributes("Attributes", maxParticipantAttrs)
	in.roleSid, _ = f.sid("RoleSid", "RL")
	in.dateCreated, _ = f.timestamp("DateCreated")
	in.dateUpdated, _ = f.timestamp("DateUpdated")
	return in
}

// parseParticipantJSON reads one ConversationWithParticipants `Participant`:
// a JSON object with the participant create parameters, in the form's
// PascalCase (MessagingBinding.Address) or snake_case nested shape.
func parseParticipantJSON(raw string) (participantInput, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return participantInput{}, errInvalid("Participant", "must be a JSON object")
	}
	flat := url.Values{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(prefix+pascal(k)+".", x)
			}
		case string:
			flat.Set(strings.TrimSuffix(prefix, "."), v)
		case float64:
			flat.Set(strings.TrimSuffix(prefix, "."), strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	walk("", m)
	f := &form{v: flat}
	in := readParticipantInput(f)
	return in, errOrNil(f.err)
}

// pascal turns proxy_address, proxyAddress or messagingBinding.address into
// ProxyAddress / MessagingBinding.Address.
func pascal(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r == '_':
			up = true
			continue
		case r == '.':
			up = true
			b.WriteRune(r)
			continue
		}
		if up {
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// validate checks the binding addresses (50407, 50408, 50412, 50414) and
// that the participant is either a chat or a channel participant (20001).
func (in participantInput) validate() error {
	if in.address == "" && in.hasAddress {
		return newError(http.StatusBadRequest, codeInvalidAddress, "Invalid messaging binding address")
	}
	if in.address != "" {
		ch, ok := channelOf(in.address, false)
		if !ok {
			return newError(http.StatusBadRequest, codeInvalidAddress, "Invalid messaging binding address")
		}
		if in.proxy == "" {
			return newError(http.StatusBadRequest, codeEmptyProxy, "Participant proxy address is empty")
		}
		pch, ok := channelOf(in.proxy, true)
		if !ok {
			return newError(http.StatusBadRequest, codeInvalidProxy, "Invalid participant proxy address")
		}
		if ch != pch {
			return newError(http.StatusBadRequest, codeAddressMismatch, "Participant address type does not match proxy address type")
		}
		return nil
	}
	if in.proxy != "" {
		if _, ok := channelOf(in.proxy, true); !ok {
			return newError(http.StatusBadRequest, codeInvalidProxy, "Invalid participant proxy address")
		}
	}
	if in.projected != "" {
		if _, ok := channelOf(in.projected, true); !ok {
			return newError(http.StatusBadRequest, codeInvalidProxy, "Invalid participant proxy address")
		}
	}
	if in.identity == "" {
		return errMissing("Identity")
	}
	return nil
}

// addParticipantLocked enforces the conversation-level rules (closed, limits,
// identity and binding uniqueness) and stores the participant.
func (s *Server) addParticipantLocked(conv *conversation, in participantInput, now time.Time) (*Participant, error) {
	if conv.State == StateClosed {
		return nil, errClosed()
	}
	if in.roleSid != "" {
		if err := s.st.checkRole("RoleSid", conv.ChatServiceSid, in.roleSid, RoleTypeConversation); err != nil {
			return nil, err
		}
	} else if svc := s.st.services[conv.ChatServiceSid]; svc != nil {
		// Twilio gives every participant a role: the service's default
		// conversation role unless RoleSid names another.
		in.roleSid = svc.Config.DefaultConversationRoleSid
	}
	chat, nonChat := 0, 0
	for _, p := range conv.participants {
		if p.NonChat() {
			nonChat++
		} else {
			chat++
		}
	}
	if in.address != "" {
		if nonChat >= maxNonChatParticipants {
			return nil, newError(http.StatusBadRequest, codeNonChatLimit, "Non-chat conversation participants limit exceeded")
		}
		if holder := s.st.bindingHolder(in.address, in.proxy, now); holder != nil {
			return nil, errBindingExists(holder.Sid)
		}
	} else if chat >= maxChatParticipants {
		return nil, newError(http.StatusBadRequest, codeParticipantsLimit, "Participants limit exceeded")
	}
	if in.identity != "" {
		for _, p := range conv.participants {
			if p.Identity == in.identity {
				return nil, newError(http.StatusConflict, codeIdentityExists, "Participant already exists")
			}
		}
	}
	p := &Participant{
		Sid:             s.st.newSid("MB"),
		AccountSid:      s.opts.AccountSid,
		ConversationSid: conv.Sid,
		ChatServiceSid:  conv.ChatServiceSid,
		Identity:        in.identity,
		Attributes:      "{}",
		RoleSid:         in.roleSid,
		DateCreated:     now,
		DateUpdated:     now,
	}
	if in.hasAttributes {
		p.Attributes = in.attributes
	}
	if !in.dateCreated.IsZero() {
		p.DateCreated = in.dateCreated
	}
	if !in.dateUpdated.IsZero() {
		p.DateUpdated = in.dateUpdated
	}
	if in.address != "" {
		ch, _ := channelOf(in.address, false)
		p.Binding = &MessagingBinding{Type: ch, Address: in.address, ProxyAddress: in.proxy, ProjectedAddress: in.projected}
	} else if in.projected != "" {
		p.Binding = &MessagingBinding{Type: "sms", ProjectedAddress: in.projected}
	}
	conv.participants = append(conv.participants, p)
	s.st.holdBinding(conv.Sid, p)
	return p, nil
}

// participantEventParams is the webhook payload describing p.
func (s *Server) participantEvent(conv *conversation, p *Participant, name, source string) event {
	v := url.Values{}
	v.Set("EventType", name)
	v.Set("AccountSid", p.AccountSid)
	v.Set("ChatServiceSid", conv.ChatServiceSid)
	v.Set("ConversationSid", conv.Sid)
	v.Set("MessagingServiceSid", conv.MessagingServiceSid)
	if p.Sid != "" {
		v.Set("ParticipantSid", p.Sid)
	}
	if p.Identity != "" {
		v.Set("Identity", p.Identity)
	}
	if b := p.Binding; b != nil {
		v.Set("MessagingBinding.Type", b.Type)
		if b.Address != "" {
			v.Set("MessagingBinding.Address", b.Address)
		}
		if b.ProxyAddress != "" {
			v.Set("MessagingBinding.ProxyAddress", b.ProxyAddress)
		}
		if b.ProjectedAddress != "" {
			v.Set("MessagingBinding.ProjectedAddress", b.ProjectedAddress)
		}
	}
	if p.RoleSid != "" {
		v.Set("RoleSid", p.RoleSid)
	}
	v.Set("Attributes", p.Attributes)
	if d := twiliorest.Time(p.DateCreated); d != nil {
		v.Set("DateCreated", *d)
	}
	v.Set("Source", source)
	return event{name: name, svc: conv.ChatServiceSid, convSid: conv.Sid, params: v}
}

func createParticipant(s *Server, c *call) error {
	in := readParticipantInput(c.form)
	if err := c.formErr(); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	if err := s.preHook(c, func() (event, error) {
		conv, err := s.conversationLocked(c, "ConversationSid")
		if err != nil {
			return event{}, err
		}
		pending := &Participant{AccountSid: s.opts.AccountSid, Identity: in.identity, Attributes: in.attributes, RoleSid: in.roleSid}
		if in.address != "" {
			ch, _ := channelOf(in.address, false)
			pending.Binding = &MessagingBinding{Type: ch, Address: in.address, ProxyAddress: in.proxy, ProjectedAddress: in.projected}
		}
		return s.participantEvent(conv, pending, "onParticipantAdd", "API"), nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, err := s.conversationLocked(c, "ConversationSid")
	if err != nil {
		return err
	}
	p, err := s.addParticipantLocked(conv, in, s.now())
	if err != nil {
		return err
	}
	if c.webhooksEnabled() {
		s.emitLocked(s.participantEvent(conv, p, "onParticipantAdded", "API"))
	}
	return c.created(c.renderParticipant(p))
}

// participantLocked resolves {ConversationSid} and {Sid} (MB sid or identity).
func (s *Server) participantLocked(c *call) (*conversation, *Participant, error) {
	conv, err := s.conversationLocked(c, "ConversationSid")
	if err != nil {
		return nil, nil, err
	}
	p := conv.findParticipant(c.r.PathValue("Sid"))
	if p == nil {
		return nil, nil, c.notFound()
	}
	return conv, p, nil
}

func fetchParticipant(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, p, err := s.participantLocked(c)
	if err != nil {
		return err
	}
	return c.ok(c.renderParticipant(p))
}

func listParticipants(s *Server, c *call) error {
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
	items := make([]participantJSON, len(conv.participants))
	for i, p := range conv.participants {
		items[i] = c.renderParticipant(p)
	}
	return writeList(c, "participants", items, pg)
}

func updateParticipant(s *Server, c *call) error {
	f := c.form
	identity, hasIdentity := f.str("Identity", maxIdentity)
	attrs, hasAttrs := f.attributes("Attributes", maxParticipantAttrs)
	role, hasRole := f.sid("RoleSid", "RL")
	proxy, hasProxy := f.str("MessagingBinding.ProxyAddress", 0)
	projected, hasProjected := f.str("MessagingBinding.ProjectedAddress", 0)
	dateCreated, _ := f.timestamp("DateCreated")
	dateUpdated, _ := f.timestamp("DateUpdated")
	lastTS, hasLastTS := f.str("LastReadTimestamp", 0)
	var lastIdx *int
	hasLastIdx := false
	if v, ok := f.str("LastReadMessageIndex", 0); ok {
		hasLastIdx = true
		if v != "null" && v != "" {
			n, ok := f.integer("LastReadMessageIndex", 0, 1<<31-1)
			if ok {
				lastIdx = &n
			}
		}
	}
	if err := c.formErr(); err != nil {
		return err
	}
	if hasProxy {
		if _, ok := channelOf(proxy, true); !ok {
			return newError(http.StatusBadRequest, codeInvalidProxy, "Invalid participant proxy address")
		}
	}
	if err := s.preHook(c, func() (event, error) {
		conv, p, err := s.participantLocked(c)
		if err != nil {
			return event{}, err
		}
		return s.participantEvent(conv, p, "onParticipantUpdate", "API"), nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, p, err := s.participantLocked(c)
	if err != nil {
		return err
	}
	if conv.State == StateClosed {
		return errClosed()
	}
	if hasRole {
		if err := s.st.checkRole("RoleSid", conv.ChatServiceSid, role, RoleTypeConversation); err != nil {
			return err
		}
	}
	now := s.now()
	if hasIdentity && identity != p.Identity {
		if p.NonChat() {
			return newError(http.StatusBadRequest, 50444, "Failed to add an identity to a participant")
		}
		if identity == "" {
			return errMissing("Identity")
		}
		for _, o := range conv.participants {
			if o != p && o.Identity == identity {
				return newError(http.StatusConflict, codeIdentityExists, "Participant already exists")
			}
		}
	}
	if hasProxy && proxy != "" {
		if !p.NonChat() {
			return newError(http.StatusBadRequest, 50441, "Failed to add a proxy address to a participant")
		}
		if proxy != p.Binding.ProxyAddress {
			if holder := s.st.bindingHolder(p.Binding.Address, proxy, now); holder != nil {
				return errBindingExists(holder.Sid)
			}
			s.st.releaseBinding(conv.Sid, p)
			p.Binding.ProxyAddress = proxy
			s.st.holdBinding(conv.Sid, p)
		}
	}
	if hasIdentity {
		p.Identity = identity
	}
	if hasAttrs {
		p.Attributes = attrs
	}
	if hasRole {
		p.RoleSid = role
	}
	if hasProjected {
		switch {
		case projected == "null" || projected == "":
			if p.Binding != nil {
				p.Binding.ProjectedAddress = ""
			}
		case p.Binding != nil:
			p.Binding.ProjectedAddress = projected
		default:
			p.Binding = &MessagingBinding{Type: "sms", ProjectedAddress: projected}
		}
	}
	if hasLastIdx {
		p.LastReadMessageIndex = lastIdx
	}
	if hasLastTS {
		p.LastReadTimestamp = lastTS
	}
	if !dateCreated.IsZero() {
		p.DateCreated = dateCreated
	}
	p.DateUpdated = now
	if !dateUpdated.IsZero() {
		p.DateUpdated = dateUpdated
	}
	if c.webhooksEnabled() {
		s.emitLocked(s.participantEvent(conv, p, "onParticipantUpdated", "API"))
	}
	return c.ok(c.renderParticipant(p))
}

func deleteParticipant(s *Server, c *call) error {
	if err := s.preHook(c, func() (event, error) {
		conv, p, err := s.participantLocked(c)
		if err != nil {
			return event{}, err
		}
		return s.participantEvent(conv, p, "onParticipantRemove", "API"), nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, p, err := s.participantLocked(c)
	if err != nil {
		return err
	}
	s.st.releaseBinding(conv.Sid, p)
	for i, o := range conv.participants {
		if o == p {
			conv.participants = append(conv.participants[:i:i], conv.participants[i+1:]...)
			break
		}
	}
	if c.webhooksEnabled() {
		s.emitLocked(s.participantEvent(conv, p, "onParticipantRemoved", "API"))
	}
	return c.noContent()
}

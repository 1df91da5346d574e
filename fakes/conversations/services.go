package conversations

import (
	"net/http"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

const maxServiceName = 256

type serviceJSON struct {
	AccountSid   string            `json:"account_sid"`
	Sid          string            `json:"sid"`
	FriendlyName string            `json:"friendly_name"`
	DateCreated  *string           `json:"date_created"`
	DateUpdated  *string           `json:"date_updated"`
	URL          string            `json:"url"`
	Links        map[string]string `json:"links"`
}

func (c *call) renderService(svc *Service) serviceJSON {
	u := c.base + "/v1/Services/" + svc.Sid
	return serviceJSON{
		AccountSid:   svc.AccountSid,
		Sid:          svc.Sid,
		FriendlyName: svc.FriendlyName,
		DateCreated:  twiliorest.Time(svc.DateCreated),
		DateUpdated:  twiliorest.Time(svc.DateUpdated),
		URL:          u,
		Links: map[string]string{
			"conversations":                  u + "/Conversations",
			"users":                          u + "/Users",
			"roles":                          u + "/Roles",
			"bindings":                       u + "/Bindings",
			"configuration":                  u + "/Configuration",
			"participant_conversations":      u + "/ParticipantConversations",
			"conversation_with_participants": u + "/ConversationWithParticipants",
		},
	}
}

// createService creates a Conversation Service with Twilio's default roles
// and a configuration pointing at them.
func createService(s *Server, c *call) error {
	name := c.form.required("FriendlyName", maxServiceName)
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	svc := &Service{Sid: s.st.newSid("IS"), AccountSid: s.opts.AccountSid, FriendlyName: name, DateCreated: now, DateUpdated: now}
	s.st.addService(svc, now)
	return c.created(c.renderService(svc))
}

func (s *Server) serviceLocked(c *call) (*Service, error) {
	svc := s.st.services[c.r.PathValue("Sid")]
	if svc == nil {
		return nil, c.notFound()
	}
	return svc, nil
}

func fetchService(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, err := s.serviceLocked(c)
	if err != nil {
		return err
	}
	return c.ok(c.renderService(svc))
}

func listServices(s *Server, c *call) error {
	pg, err := c.paging(50, 100)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items := make([]serviceJSON, 0, len(s.st.serviceOrder))
	for _, sid := range s.st.serviceOrder {
		items = append(items, c.renderService(s.st.services[sid]))
	}
	return writeList(c, "services", items, pg)
}

// deleteService deletes a service with its conversations, users, roles and
// bindings. The account's default service cannot be deleted (every
// default-service URL would break): switch DefaultChatServiceSid in
// /v1/Configuration first.
func deleteService(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, err := s.serviceLocked(c)
	if err != nil {
		return err
	}
	if svc.Sid == s.st.defaultService {
		return newError(http.StatusBadRequest, codeMissingParam,
			"Conversation Service %s is the account's default Conversation Service and cannot be deleted", svc.Sid)
	}
	s.st.deleteService(svc)
	return c.noContent()
}

type serviceConfigJSON struct {
	ChatServiceSid                    string            `json:"chat_service_sid"`
	DefaultConversationCreatorRoleSid *string           `json:"default_conversation_creator_role_sid"`
	DefaultConversationRoleSid        *string           `json:"default_conversation_role_sid"`
	DefaultChatServiceRoleSid         *string           `json:"default_chat_service_role_sid"`
	URL                               string            `json:"url"`
	Links                             map[string]string `json:"links"`
	ReachabilityEnabled               bool              `json:"reachability_enabled"`
}

func (c *call) renderServiceConfig(svc *Service) serviceConfigJSON {
	u := c.base + "/v1/Services/" + svc.Sid + "/Configuration"
	return serviceConfigJSON{
		ChatServiceSid:                    svc.Sid,
		DefaultConversationCreatorRoleSid: twiliorest.Null(svc.Config.DefaultConversationCreatorRoleSid),
		DefaultConversationRoleSid:        twiliorest.Null(svc.Config.DefaultConversationRoleSid),
		DefaultChatServiceRoleSid:         twiliorest.Null(svc.Config.DefaultChatServiceRoleSid),
		URL:                               u,
		Links: map[string]string{
			"notifications": u + "/Notifications",
			"webhooks":      u + "/Webhooks",
		},
		ReachabilityEnabled: svc.Config.ReachabilityEnabled,
	}
}

func fetchServiceConfiguration(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.ok(c.renderServiceConfig(s.st.services[c.svc]))
}

// updateServiceConfiguration sets the default roles (each must be a role of
// the service of the right type) and reachability.
func updateServiceConfiguration(s *Server, c *call) error {
	f := c.form
	creator, hasCreator := f.sid("DefaultConversationCreatorRoleSid", "RL")
	conv, hasConv := f.sid("DefaultConversationRoleSid", "RL")
	svcRole, hasSvcRole := f.sid("DefaultChatServiceRoleSid", "RL")
	reach, hasReach := f.boolean("ReachabilityEnabled")
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.st.services[c.svc]
	checks := []struct {
		param, sid, typ string
		has             bool
	}{
		{"DefaultConversationCreatorRoleSid", creator, RoleTypeConversation, hasCreator},
		{"DefaultConversationRoleSid", conv, RoleTypeConversation, hasConv},
		{"DefaultChatServiceRoleSid", svcRole, RoleTypeService, hasSvcRole},
	}
	for _, ch := range checks {
		if ch.has {
			if err := s.st.checkRole(ch.param, svc.Sid, ch.sid, ch.typ); err != nil {
				return err
			}
		}
	}
	if hasCreator {
		svc.Config.DefaultConversationCreatorRoleSid = creator
	}
	if hasConv {
		svc.Config.DefaultConversationRoleSid = conv
	}
	if hasSvcRole {
		svc.Config.DefaultChatServiceRoleSid = svcRole
	}
	if hasReach {
		svc.Config.ReachabilityEnabled = reach
	}
	return c.ok(c.renderServiceConfig(svc))
}

type notificationTemplateJSON struct {
	Enabled           bool                       `json:"enabled"`
	Template          *string                    `json:"template"`
	Sound             *string                    `json:"sound"`
	BadgeCountEnabled *bool                      `json:"badge_count_enabled,omitempty"`
	WithMedia         *notificationWithMediaJSON `json:"with_media,omitempty"`
}

type notificationWithMediaJSON struct {
	Enabled  bool    `json:"enabled"`
	Template *string `json:"template"`
}

type serviceNotificationJSON struct {
	AccountSid              string                   `json:"account_sid"`
	ChatServiceSid          string                   `json:"chat_service_sid"`
	NewMessage              notificationTemplateJSON `json:"new_message"`
	AddedToConversation     notificationTemplateJSON `json:"added_to_conversation"`
	RemovedFromConversation notificationTemplateJSON `json:"removed_from_conversation"`
	LogEnabled              bool                     `json:"log_enabled"`
	URL                     string                   `json:"url"`
}

func renderTemplate(t NotificationTemplate) notificationTemplateJSON {
	return notificationTemplateJSON{Enabled: t.Enabled, Template: twiliorest.Null(t.Template), Sound: twiliorest.Null(t.Sound)}
}

func (c *call) renderServiceNotification(svc *Service) serviceNotificationJSON {
	n := svc.Notifications
	nm := renderTemplate(n.NewMessage)
	badge := n.NewMessageBadgeCount
	nm.BadgeCountEnabled = &badge
	nm.WithMedia = &notificationWithMediaJSON{Enabled: n.NewMessageWithMedia.Enabled, Template: twiliorest.Null(n.NewMessageWithMedia.Template)}
	return serviceNotificationJSON{
		AccountSid:              svc.AccountSid,
		ChatServiceSid:          svc.Sid,
		NewMessage:              nm,
		AddedToConversation:     renderTemplate(n.AddedToConversation),
		RemovedFromConversation: renderTemplate(n.RemovedFromConversation),
		LogEnabled:              n.LogEnabled,
		URL:                     c.base + "/v1/Services/" + svc.Sid + "/Configuration/Notifications",
	}
}

func fetchServiceNotification(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.ok(c.renderServiceNotification(s.st.services[c.svc]))
}

// maxTemplate bounds notification templates and sounds; Twilio documents no
// limit, so the fake uses the common 256-character one to catch runaway input.
const maxTemplate = 256

// readTemplate applies Prefix.Enabled, Prefix.Template and Prefix.Sound
// (sound=false skips Sound: with_media has none) to t.
func readTemplate(f *form, prefix string, t *NotificationTemplate, sound bool) {
	if b, ok := f.boolean(prefix + ".Enabled"); ok {
		t.Enabled = b
	}
	if v, ok := f.str(prefix+".Template", maxTemplate); ok {
		t.Template = v
	}
	if sound {
		if v, ok := f.str(prefix+".Sound", maxTemplate); ok {
			t.Sound = v
		}
	}
}

// updateServiceNotification reads every nested parameter into a copy and
// stores it only when all are valid, so a rejected request changes nothing.
func updateServiceNotification(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.st.services[c.svc]
	n := svc.Notifications
	f := c.form
	if b, ok := f.boolean("LogEnabled"); ok {
		n.LogEnabled = b
	}
	readTemplate(f, "NewMessage", &n.NewMessage, true)
	if b, ok := f.boolean("NewMessage.BadgeCountEnabled"); ok {
		n.NewMessageBadgeCount = b
	}
	readTemplate(f, "NewMessage.WithMedia", &n.NewMessageWithMedia, false)
	readTemplate(f, "AddedToConversation", &n.AddedToConversation, true)
	readTemplate(f, "RemovedFromConversation", &n.RemovedFromConversation, true)
	if err := c.formErr(); err != nil {
		return err
	}
	svc.Notifications = n
	return c.ok(c.renderServiceNotification(svc))
}

// Services returns every Conversation Service in creation order, the
// default service first.
func (s *Server) Services() []Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Service, 0, len(s.st.serviceOrder))
	for _, sid := range s.st.serviceOrder {
		svc := *s.st.services[sid]
		svc.Webhooks = svc.Webhooks.clone()
		out = append(out, svc)
	}
	return out
}

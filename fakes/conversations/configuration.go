package conversations

import (
	"net/http"
	"time"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// accountEventFilters are the events account- and service-level webhook
// configurations accept.
var accountEventFilters = []string{
	"onMessageAdded", "onMessageUpdated", "onMessageRemoved", "onMessageAdd", "onMessageUpdate", "onMessageRemove",
	"onConversationUpdated", "onConversationRemoved", "onConversationAdd", "onConversationAdded",
	"onConversationRemove", "onConversationUpdate", "onConversationStateUpdated", "onParticipantAdded",
	"onParticipantUpdated", "onParticipantRemoved", "onParticipantAdd", "onParticipantRemove",
	"onParticipantUpdate", "onDeliveryUpdated", "onUserAdded", "onUserUpdate", "onUserUpdated",
}

type configurationJSON struct {
	AccountSid                 string            `json:"account_sid"`
	DefaultChatServiceSid      string            `json:"default_chat_service_sid"`
	DefaultMessagingServiceSid string            `json:"default_messaging_service_sid"`
	DefaultInactiveTimer       *string           `json:"default_inactive_timer"`
	DefaultClosedTimer         *string           `json:"default_closed_timer"`
	URL                        string            `json:"url"`
	Links                      map[string]string `json:"links"`
}

func (s *Server) renderConfigurationLocked(c *call) configurationJSON {
	cfg := s.st.config
	return configurationJSON{
		AccountSid:                 s.opts.AccountSid,
		DefaultChatServiceSid:      cfg.DefaultChatServiceSid,
		DefaultMessagingServiceSid: cfg.DefaultMessagingServiceSid,
		DefaultInactiveTimer:       twiliorest.Null(cfg.DefaultInactiveTimer),
		DefaultClosedTimer:         twiliorest.Null(cfg.DefaultClosedTimer),
		URL:                        c.base + "/v1/Configuration",
		Links: map[string]string{
			"service":  c.base + "/v1/Services/" + cfg.DefaultChatServiceSid,
			"webhooks": c.base + "/v1/Configuration/Webhooks",
		},
	}
}

func fetchConfiguration(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.ok(s.renderConfigurationLocked(c))
}

func updateConfiguration(s *Server, c *call) error {
	f := c.form
	chat, hasChat := f.sid("DefaultChatServiceSid", "IS")
	msg, hasMsg := f.sid("DefaultMessagingServiceSid", "MG")
	_, hasInactive := f.duration("DefaultInactiveTimer", time.Minute)
	_, hasClosed := f.duration("DefaultClosedTimer", 10*time.Minute)
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hasChat {
		if _, ok := s.st.services[chat]; !ok {
			return errInvalid("DefaultChatServiceSid", "no Conversation Service "+chat)
		}
		s.st.config.DefaultChatServiceSid = chat
		s.st.defaultService = chat
	}
	if hasMsg {
		s.st.config.DefaultMessagingServiceSid = msg
	}
	if hasInactive {
		s.st.config.DefaultInactiveTimer = f.v.Get("DefaultInactiveTimer")
	}
	if hasClosed {
		s.st.config.DefaultClosedTimer = f.v.Get("DefaultClosedTimer")
	}
	return c.ok(s.renderConfigurationLocked(c))
}

type webhookConfigJSON struct {
	AccountSid     string   `json:"account_sid"`
	Method         string   `json:"method"`
	Filters        []string `json:"filters"`
	PreWebhookURL  *string  `json:"pre_webhook_url"`
	PostWebhookURL *string  `json:"post_webhook_url"`
	Target         string   `json:"target"`
	URL            string   `json:"url"`
}

// readWebhookConfig applies Method, Filters, PreWebhookUrl and
// PostWebhookUrl to cfg; service-level configuration reuses it.
func readWebhookConfig(f *form, cfg *WebhookConfig) {
	if m, ok := f.str("Method", 0); ok {
		switch m {
		case "GET", "POST", "get", "post":
			cfg.Method = upper(m)
		default:
			f.fail(errInvalid("Method", "must be one of GET, POST"))
		}
	}
	if f.has("Filters") {
		filters := f.list("Filters")
		for _, name := range filters {
			if !containsString(accountEventFilters, name) {
				f.fail(errInvalid("Filters", "unknown event "+name))
			}
		}
		cfg.Filters = filters
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"PreWebhookUrl", &cfg.PreWebhookURL}, {"PostWebhookUrl", &cfg.PostWebhookURL}} {
		if u, ok := f.str(p.name, 0); ok {
			if u != "" && !isHTTPURL(u) {
				f.fail(errInvalid(p.name, "must be an absolute http(s) URL"))
			}
			*p.dst = u
		}
	}
}

func isHTTPURL(u string) bool {
	return len(u) > 8 && (u[:7] == "http://" || u[:8] == "https://")
}

func (s *Server) renderWebhookConfigLocked(c *call) webhookConfigJSON {
	w := s.st.webhooks
	return webhookConfigJSON{
		AccountSid:     s.opts.AccountSid,
		Method:         w.Method,
		Filters:        nonNil(w.Filters),
		PreWebhookURL:  twiliorest.Null(w.PreWebhookURL),
		PostWebhookURL: twiliorest.Null(w.PostWebhookURL),
		Target:         w.Target,
		URL:            c.base + "/v1/Configuration/Webhooks",
	}
}

func fetchConfigurationWebhook(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.ok(s.renderWebhookConfigLocked(c))
}

func updateConfigurationWebhook(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.st.webhooks.clone()
	readWebhookConfig(c.form, &cfg)
	if t, ok := c.form.enum("Target", "webhook", "flex"); ok {
		cfg.Target = t
	}
	if err := c.formErr(); err != nil {
		return err
	}
	s.st.webhooks = cfg
	return c.ok(s.renderWebhookConfigLocked(c))
}

type serviceWebhookConfigJSON struct {
	AccountSid     string   `json:"account_sid"`
	ChatServiceSid string   `json:"chat_service_sid"`
	PreWebhookURL  *string  `json:"pre_webhook_url"`
	PostWebhookURL *string  `json:"post_webhook_url"`
	Filters        []string `json:"filters"`
	Method         string   `json:"method"`
	URL            string   `json:"url"`
}

func (s *Server) renderServiceWebhookConfigLocked(c *call, svc *Service) serviceWebhookConfigJSON {
	w := svc.Webhooks
	return serviceWebhookConfigJSON{
		AccountSid:     s.opts.AccountSid,
		ChatServiceSid: svc.Sid,
		PreWebhookURL:  twiliorest.Null(w.PreWebhookURL),
		PostWebhookURL: twiliorest.Null(w.PostWebhookURL),
		Filters:        w.Filters,
		Method:         upper(w.Method), // the spec's enum has no null: unset reads as POST
		URL:            c.base + "/v1/Services/" + svc.Sid + "/Configuration/Webhooks",
	}
}

// fetchServiceWebhookConfiguration and updateServiceWebhookConfiguration
// serve the service-level webhook configuration that emitLocked and
// runPreHooks consult next to the account-level one.
func fetchServiceWebhookConfiguration(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.ok(s.renderServiceWebhookConfigLocked(c, s.st.services[c.svc]))
}

func updateServiceWebhookConfiguration(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.st.services[c.svc]
	cfg := svc.Webhooks.clone()
	readWebhookConfig(c.form, &cfg)
	if err := c.formErr(); err != nil {
		return err
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	svc.Webhooks = cfg
	svc.DateUpdated = s.now()
	return c.ok(s.renderServiceWebhookConfigLocked(c, svc))
}

package conversations

import (
	"net/http"
	"strings"
)

// maxScopedWebhooks is Twilio's limit of conversation-scoped webhooks.
const maxScopedWebhooks = 5

// scopedWebhookFilters are the post-event filters conversation-scoped
// webhooks accept.
var scopedWebhookFilters = []string{
	"onMessageAdded", "onMessageUpdated", "onMessageRemoved", "onConversationUpdated",
	"onConversationStateUpdated", "onConversationRemoved", "onParticipantAdded",
	"onParticipantUpdated", "onParticipantRemoved", "onDeliveryUpdated",
}

type scopedWebhookParams struct {
	url, method, flowSid       string
	hasURL, hasMethod, hasFlow bool
	filters, triggers          []string
	hasFilters, hasTriggers    bool
	replayAfter                int
	hasReplayAfter             bool
}

func readScopedWebhookParams(f *form, create bool) scopedWebhookParams {
	var p scopedWebhookParams
	p.url, p.hasURL = f.str("Configuration.Url", 0)
	if p.hasURL && p.url != "" && !strings.HasPrefix(p.url, "http://") && !strings.HasPrefix(p.url, "https://") {
		f.fail(errInvalid("Configuration.Url", "must be an absolute http(s) URL"))
	}
	// Twilio's enum is lower case here; the upper-case spelling of the
	// account configuration is accepted too and stored lower case.
	if m, ok := f.str("Configuration.Method", 0); ok {
		switch strings.ToLower(m) {
		case "get", "post":
			p.method, p.hasMethod = strings.ToLower(m), true
		default:
			f.fail(errInvalid("Configuration.Method", "must be one of get, post"))
		}
	}
	p.filters, p.hasFilters = f.list("Configuration.Filters"), f.has("Configuration.Filters")
	for _, name := range p.filters {
		if !containsString(scopedWebhookFilters, name) {
			f.fail(errInvalid("Configuration.Filters", "unknown event "+name))
		}
	}
	p.triggers, p.hasTriggers = f.list("Configuration.Triggers"), f.has("Configuration.Triggers")
	p.flowSid, p.hasFlow = f.sid("Configuration.FlowSid", "FW")
	if create {
		p.replayAfter, p.hasReplayAfter = f.integer("Configuration.ReplayAfter", 0, 1<<31-1)
	}
	return p
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func createScopedWebhook(s *Server, c *call) error {
	target := c.form.required("Target", 0)
	if c.form.err == nil {
		target, _ = c.form.enum("Target", "webhook", "trigger", "studio")
	}
	p := readScopedWebhookParams(c.form, true)
	if err := c.formErr(); err != nil {
		return err
	}
	switch target {
	case "studio":
		if !p.hasFlow {
			return errMissing("Configuration.FlowSid")
		}
	default:
		if p.url == "" {
			return errMissing("Configuration.Url")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, err := s.conversationLocked(c, "ConversationSid")
	if err != nil {
		return err
	}
	if len(conv.webhooks) >= maxScopedWebhooks {
		return newError(http.StatusBadRequest, codeWebhookLimit, "Maximum number of webhooks (%d) per conversation reached", maxScopedWebhooks)
	}
	now := s.now()
	w := &ScopedWebhook{
		Sid:             s.st.newSid("WH"),
		AccountSid:      s.opts.AccountSid,
		ConversationSid: conv.Sid,
		ChatServiceSid:  conv.ChatServiceSid,
		Target:          target,
		Method:          "post",
		Retries:         1,
		DateCreated:     now,
		DateUpdated:     now,
	}
	applyScopedWebhookParams(w, p)
	if p.hasReplayAfter {
		n := p.replayAfter
		w.ReplayAfter = &n
	}
	conv.webhooks = append(conv.webhooks, w)
	return c.created(c.renderScopedWebhook(w))
}

func applyScopedWebhookParams(w *ScopedWebhook, p scopedWebhookParams) {
	if w.Target == "studio" {
		if p.hasFlow {
			w.FlowSid = p.flowSid
		}
		return
	}
	if p.hasURL {
		w.URL = p.url
	}
	if p.hasMethod {
		w.Method = p.method
	}
	if p.hasFilters {
		w.Filters = p.filters
	}
	if p.hasTriggers {
		w.Triggers = p.triggers
	}
}

// scopedWebhookLocked resolves {ConversationSid} and {Sid}.
func (s *Server) scopedWebhookLocked(c *call) (*conversation, *ScopedWebhook, error) {
	conv, err := s.conversationLocked(c, "ConversationSid")
	if err != nil {
		return nil, nil, err
	}
	sid := c.r.PathValue("Sid")
	if !validSid("WH", sid) {
		return nil, nil, c.notFound()
	}
	w := conv.findWebhook(sid)
	if w == nil {
		return nil, nil, c.notFound()
	}
	return conv, w, nil
}

func fetchScopedWebhook(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, w, err := s.scopedWebhookLocked(c)
	if err != nil {
		return err
	}
	return c.ok(c.renderScopedWebhook(w))
}

func listScopedWebhooks(s *Server, c *call) error {
	pg, err := c.paging(5, 5)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, err := s.conversationLocked(c, "ConversationSid")
	if err != nil {
		return err
	}
	items := make([]scopedWebhookJSON, len(conv.webhooks))
	for i, w := range conv.webhooks {
		items[i] = c.renderScopedWebhook(w)
	}
	return writeList(c, "webhooks", items, pg)
}

func updateScopedWebhook(s *Server, c *call) error {
	p := readScopedWebhookParams(c.form, false)
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, w, err := s.scopedWebhookLocked(c)
	if err != nil {
		return err
	}
	applyScopedWebhookParams(w, p)
	w.DateUpdated = s.now()
	return c.ok(c.renderScopedWebhook(w))
}

func deleteScopedWebhook(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, w, err := s.scopedWebhookLocked(c)
	if err != nil {
		return err
	}
	for i, x := range conv.webhooks {
		if x == w {
			conv.webhooks = append(conv.webhooks[:i:i], conv.webhooks[i+1:]...)
			break
		}
	}
	return c.noContent()
}

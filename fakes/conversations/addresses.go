package conversations

import (
	"slices"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

var addressTypes = []string{"sms", "whatsapp", "messenger", "gbm", "email", "rcs", "apple", "chat"}

type addressParams struct {
	typ, address, friendlyName, country                 string
	hasFriendlyName, hasCountry                         bool
	enabled, hasEnabled                                 bool
	autoType, service, webhookURL, webhookMethod, flow  string
	hasAutoType, hasService, hasURL, hasMethod, hasFlow bool
	filters                                             []string
	hasFilters                                          bool
	retries                                             int
	hasRetries                                          bool
}

func readAddressParams(f *form, create bool) addressParams {
	var p addressParams
	if create {
		p.typ = f.required("Type", 0)
		if f.err == nil {
			p.typ, _ = f.enum("Type", addressTypes...)
		}
		p.address = f.required("Address", 256)
	}
	p.friendlyName, p.hasFriendlyName = f.str("FriendlyName", maxFriendlyName)
	p.country, p.hasCountry = f.str("AddressCountry", 2)
	p.enabled, p.hasEnabled = f.boolean("AutoCreation.Enabled")
	p.autoType, p.hasAutoType = f.enum("AutoCreation.Type", "webhook", "studio", "default")
	p.service, p.hasService = f.sid("AutoCreation.ConversationServiceSid", "IS")
	p.webhookURL, p.hasURL = f.str("AutoCreation.WebhookUrl", 0)
	if p.hasURL && p.webhookURL != "" && !isHTTPURL(p.webhookURL) {
		f.fail(errInvalid("AutoCreation.WebhookUrl", "must be an absolute http(s) URL"))
	}
	p.webhookMethod, p.hasMethod = f.enum("AutoCreation.WebhookMethod", "get", "post", "GET", "POST")
	p.filters, p.hasFilters = f.list("AutoCreation.WebhookFilters"), f.has("AutoCreation.WebhookFilters")
	for _, name := range p.filters {
		if !containsString(scopedWebhookFilters, name) {
			f.fail(errInvalid("AutoCreation.WebhookFilters", "unknown event "+name))
		}
	}
	p.flow, p.hasFlow = f.sid("AutoCreation.StudioFlowSid", "FW")
	p.retries, p.hasRetries = f.integer("AutoCreation.StudioRetryCount", 0, 3)
	return p
}

func (p addressParams) apply(a *AddressConfiguration) {
	if p.hasFriendlyName {
		a.FriendlyName = p.friendlyName
	}
	if p.hasCountry {
		a.AddressCountry = p.country
	}
	ac := &a.AutoCreation
	if p.hasEnabled {
		ac.Enabled = p.enabled
	}
	if p.hasAutoType {
		ac.Type = p.autoType
	}
	if p.hasService {
		ac.ConversationServiceSid = p.service
	}
	if p.hasURL {
		ac.WebhookURL = p.webhookURL
	}
	if p.hasMethod {
		ac.WebhookMethod = upper(p.webhookMethod)
	}
	if p.hasFilters {
		ac.WebhookFilters = slices.Clone(p.filters)
	}
	if p.hasFlow {
		ac.StudioFlowSid = p.flow
	}
	if p.hasRetries {
		n := p.retries
		ac.StudioRetryCount = &n
	}
}

type addressJSON struct {
	Sid            string         `json:"sid"`
	AccountSid     string         `json:"account_sid"`
	Type           string         `json:"type"`
	Address        string         `json:"address"`
	FriendlyName   *string        `json:"friendly_name"`
	AutoCreation   map[string]any `json:"auto_creation"`
	DateCreated    *string        `json:"date_created"`
	DateUpdated    *string        `json:"date_updated"`
	URL            string         `json:"url"`
	AddressCountry *string        `json:"address_country"`
}

func (c *call) renderAddress(a *AddressConfiguration) addressJSON {
	ac := a.AutoCreation
	auto := map[string]any{"enabled": ac.Enabled}
	if ac.Type != "" {
		auto["type"] = ac.Type
	}
	if ac.ConversationServiceSid != "" {
		auto["conversation_service_sid"] = ac.ConversationServiceSid
	}
	if ac.WebhookURL != "" {
		auto["webhook_url"] = ac.WebhookURL
		auto["webhook_method"] = ac.WebhookMethod
		auto["webhook_filters"] = nonNil(ac.WebhookFilters)
	}
	if ac.StudioFlowSid != "" {
		auto["studio_flow_sid"] = ac.StudioFlowSid
	}
	if ac.StudioRetryCount != nil {
		auto["studio_retry_count"] = *ac.StudioRetryCount
	}
	return addressJSON{
		Sid:            a.Sid,
		AccountSid:     a.AccountSid,
		Type:           a.Type,
		Address:        a.Address,
		FriendlyName:   twiliorest.Null(a.FriendlyName),
		AutoCreation:   auto,
		DateCreated:    twiliorest.Time(a.DateCreated),
		DateUpdated:    twiliorest.Time(a.DateUpdated),
		URL:            c.base + "/v1/Configuration/Addresses/" + a.Sid,
		AddressCountry: twiliorest.Null(a.AddressCountry),
	}
}

func createAddress(s *Server, c *call) error {
	p := readAddressParams(c.form, true)
	if err := c.formErr(); err != nil {
		return err
	}
	if p.typ == "sms" || p.typ == "whatsapp" {
		if _, ok := channelOf(p.address, true); !ok {
			return errInvalid("Address", "must be an E.164 phone number (whatsapp:+… for WhatsApp)")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sid := range s.st.addressOrder {
		if a := s.st.addresses[sid]; a.Type == p.typ && a.Address == p.address {
			return errInvalid("Address", "an address configuration for "+p.address+" already exists ("+a.Sid+")")
		}
	}
	if p.hasService {
		if _, ok := s.st.services[p.service]; !ok {
			return errInvalid("AutoCreation.ConversationServiceSid", "no Conversation Service "+p.service)
		}
	}
	now := s.now()
	a := &AddressConfiguration{Sid: s.st.newSid("IG"), AccountSid: s.opts.AccountSid, Type: p.typ, Address: p.address,
		DateCreated: now, DateUpdated: now, AutoCreation: AutoCreation{Type: "default", WebhookMethod: "POST"}}
	p.apply(a)
	s.st.addresses[a.Sid] = a
	s.st.addressOrder = append(s.st.addressOrder, a.Sid)
	return c.created(c.renderAddress(a))
}

// addressLocked resolves {Sid}: an IG sid or the address itself, as Twilio allows.
func (s *Server) addressLocked(c *call) (*AddressConfiguration, error) {
	ref := c.r.PathValue("Sid")
	if a, ok := s.st.addresses[ref]; ok {
		return a, nil
	}
	for _, sid := range s.st.addressOrder {
		if a := s.st.addresses[sid]; a.Address == ref {
			return a, nil
		}
	}
	return nil, c.notFound()
}

func fetchAddress(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.addressLocked(c)
	if err != nil {
		return err
	}
	return c.ok(c.renderAddress(a))
}

func listAddresses(s *Server, c *call) error {
	typ, hasType := c.form.enum("Type", addressTypes...)
	pg, err := c.paging(50, 50)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []addressJSON
	for _, sid := range s.st.addressOrder {
		a := s.st.addresses[sid]
		if hasType && a.Type != typ {
			continue
		}
		items = append(items, c.renderAddress(a))
	}
	return writeList(c, "address_configurations", items, pg)
}

func updateAddress(s *Server, c *call) error {
	p := readAddressParams(c.form, false)
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.addressLocked(c)
	if err != nil {
		return err
	}
	if p.hasService {
		if _, ok := s.st.services[p.service]; !ok {
			return errInvalid("AutoCreation.ConversationServiceSid", "no Conversation Service "+p.service)
		}
	}
	p.apply(a)
	a.DateUpdated = s.now()
	return c.ok(c.renderAddress(a))
}

func deleteAddress(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.addressLocked(c)
	if err != nil {
		return err
	}
	delete(s.st.addresses, a.Sid)
	s.st.addressOrder = slices.DeleteFunc(s.st.addressOrder, func(x string) bool { return x == a.Sid })
	return c.noContent()
}

package conversations

import (
	"errors"
	"net/http"
	"slices"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// BindingInput is a push registration to seed with [Server.AddBinding]. On
// Twilio a client SDK creates bindings when it registers a device for push;
// the REST API can only read and delete them, so tests seed them here.
type BindingInput struct {
	// ChatServiceSid is the service; "" means the default service.
	ChatServiceSid string
	Identity       string // required: the user's identity
	BindingType    string // required: apn, gcm, fcm or twilsock
	Endpoint       string // the device endpoint; "" makes one from the identity
	// CredentialSid is the push credential (CR…) the binding uses; required
	// except for twilsock, and its type must match BindingType.
	CredentialSid string
	// MessageTypes are the notification kinds the device receives; nil means
	// all three: new_message, added_to_conversation, removed_from_conversation.
	MessageTypes []string
}

var bindingMessageTypes = []string{"new_message", "added_to_conversation", "removed_from_conversation"}

// AddBinding stores a push binding (BS…) and returns it. It answers the same
// Twilio-shaped errors as the API (an *apiError whose Error() names the
// code) for an unknown service or credential or a bad value.
func (s *Server) AddBinding(in BindingInput) (Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := in.ChatServiceSid
	if svc == "" {
		svc = s.st.defaultService
	}
	if s.st.services[svc] == nil {
		return Binding{}, errInvalid("ChatServiceSid", "no Conversation Service "+svc)
	}
	if in.Identity == "" {
		return Binding{}, errMissing("Identity")
	}
	if !slices.Contains([]string{"apn", "gcm", "fcm", "twilsock"}, in.BindingType) {
		return Binding{}, errInvalid("BindingType", "must be one of apn, gcm, fcm, twilsock")
	}
	if in.BindingType != "twilsock" || in.CredentialSid != "" {
		cr := s.st.credentials[in.CredentialSid]
		if cr == nil {
			return Binding{}, errInvalid("CredentialSid", "no credential "+in.CredentialSid)
		}
		if in.BindingType != "twilsock" && cr.Type != in.BindingType {
			return Binding{}, errCredentialType(in.BindingType, cr.Type)
		}
	}
	types := in.MessageTypes
	if types == nil {
		types = bindingMessageTypes
	}
	for _, t := range types {
		if !slices.Contains(bindingMessageTypes, t) {
			return Binding{}, errInvalid("MessageTypes", "unknown message type "+t)
		}
	}
	endpoint := in.Endpoint
	if endpoint == "" {
		endpoint = in.Identity + "-endpoint"
	}
	now := s.now()
	b := &Binding{Sid: s.st.newSid("BS"), AccountSid: s.opts.AccountSid, ChatServiceSid: svc, CredentialSid: in.CredentialSid,
		Identity: in.Identity, BindingType: in.BindingType, Endpoint: endpoint, MessageTypes: slices.Clone(types),
		DateCreated: now, DateUpdated: now}
	s.st.pushBindings[b.Sid] = b
	s.st.pushOrder = append(s.st.pushOrder, b.Sid)
	return b.clone(), nil
}

// Bindings returns the push bindings of service svc ("" = default service)
// in creation order.
func (s *Server) Bindings(svc string) []Binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc == "" {
		svc = s.st.defaultService
	}
	var out []Binding
	for _, sid := range s.st.pushOrder {
		if b := s.st.pushBindings[sid]; b.ChatServiceSid == svc {
			out = append(out, b.clone())
		}
	}
	return out
}

func (b *Binding) clone() Binding {
	cp := *b
	cp.MessageTypes = slices.Clone(b.MessageTypes)
	return cp
}

// addBindingControl serves POST /_fake/bindings: form ChatServiceSid,
// Identity, BindingType, Endpoint, CredentialSid and repeated MessageTypes.
func (s *Server) addBindingControl(w http.ResponseWriter, r *http.Request) {
	f, ferr := controlForm(w, r)
	if ferr != nil {
		writeError(w, ferr)
		return
	}
	in := BindingInput{ChatServiceSid: f.v.Get("ChatServiceSid"), Identity: f.v.Get("Identity"),
		BindingType: f.v.Get("BindingType"), Endpoint: f.v.Get("Endpoint"), CredentialSid: f.v.Get("CredentialSid")}
	if f.has("MessageTypes") {
		in.MessageTypes = f.list("MessageTypes")
	}
	b, err := s.AddBinding(in)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = newError(http.StatusInternalServerError, 20500, "%v", err)
		}
		writeError(w, ae)
		return
	}
	c := &call{r: r, svc: b.ChatServiceSid, scoped: true, base: s.publicBase(r)}
	writeJSON(w, http.StatusCreated, c.renderBinding(&b))
}

type pushBindingJSON struct {
	Sid            string   `json:"sid"`
	AccountSid     string   `json:"account_sid"`
	ChatServiceSid string   `json:"chat_service_sid"`
	CredentialSid  *string  `json:"credential_sid"`
	DateCreated    *string  `json:"date_created"`
	DateUpdated    *string  `json:"date_updated"`
	Endpoint       string   `json:"endpoint"`
	Identity       string   `json:"identity"`
	BindingType    string   `json:"binding_type"`
	MessageTypes   []string `json:"message_types"`
	URL            string   `json:"url"`
}

func (c *call) renderBinding(b *Binding) pushBindingJSON {
	return pushBindingJSON{
		Sid:            b.Sid,
		AccountSid:     b.AccountSid,
		ChatServiceSid: b.ChatServiceSid,
		CredentialSid:  twiliorest.Null(b.CredentialSid),
		DateCreated:    twiliorest.Time(b.DateCreated),
		DateUpdated:    twiliorest.Time(b.DateUpdated),
		Endpoint:       b.Endpoint,
		Identity:       b.Identity,
		BindingType:    b.BindingType,
		MessageTypes:   nonNil(b.MessageTypes),
		URL:            c.base + "/v1/Services/" + b.ChatServiceSid + "/Bindings/" + b.Sid,
	}
}

func (s *Server) bindingLocked(c *call) (*Binding, error) {
	b := s.st.pushBindings[c.r.PathValue("Sid")]
	if b == nil || b.ChatServiceSid != c.svc {
		return nil, c.notFound()
	}
	return b, nil
}

func fetchBinding(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bindingLocked(c)
	if err != nil {
		return err
	}
	return c.ok(c.renderBinding(b))
}

// listBindings filters by BindingType and Identity; both may be repeated
// and match any of their values.
func listBindings(s *Server, c *call) error {
	types := c.form.list("BindingType")
	for _, t := range types {
		if !slices.Contains([]string{"apn", "gcm", "fcm", "twilsock"}, t) {
			c.form.fail(errInvalid("BindingType", "must be one of apn, gcm, fcm, twilsock"))
		}
	}
	identities := c.form.list("Identity")
	pg, err := c.paging(50, 100)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []pushBindingJSON
	for _, sid := range s.st.pushOrder {
		b := s.st.pushBindings[sid]
		if b.ChatServiceSid != c.svc ||
			(len(types) > 0 && !slices.Contains(types, b.BindingType)) ||
			(len(identities) > 0 && !slices.Contains(identities, b.Identity)) {
			continue
		}
		items = append(items, c.renderBinding(b))
	}
	return writeList(c, "bindings", items, pg)
}

func deleteBinding(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bindingLocked(c)
	if err != nil {
		return err
	}
	delete(s.st.pushBindings, b.Sid)
	s.st.pushOrder = slices.DeleteFunc(s.st.pushOrder, func(sid string) bool { return sid == b.Sid })
	return c.noContent()
}

package conversations

import (
	"net/http"
	"slices"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

const maxCredentialName = 64

type credentialJSON struct {
	Sid          string  `json:"sid"`
	AccountSid   string  `json:"account_sid"`
	FriendlyName *string `json:"friendly_name"`
	Type         string  `json:"type"`
	Sandbox      *string `json:"sandbox"`
	DateCreated  *string `json:"date_created"`
	DateUpdated  *string `json:"date_updated"`
	URL          string  `json:"url"`
}

// renderCredential never includes Certificate, PrivateKey, ApiKey or
// Secret: Twilio accepts them and never returns them. sandbox is a string
// ("True"/"False", as in the spec's example) and only meaningful for apn.
func (c *call) renderCredential(cr *Credential) credentialJSON {
	j := credentialJSON{
		Sid:          cr.Sid,
		AccountSid:   cr.AccountSid,
		FriendlyName: twiliorest.Null(cr.FriendlyName),
		Type:         cr.Type,
		DateCreated:  twiliorest.Time(cr.DateCreated),
		DateUpdated:  twiliorest.Time(cr.DateUpdated),
		URL:          c.base + "/v1/Credentials/" + cr.Sid,
	}
	if cr.Type == "apn" {
		sb := "False"
		if cr.Sandbox {
			sb = "True"
		}
		j.Sandbox = &sb
	}
	return j
}

// credentialInput is the form of a credential create or update.
type credentialInput struct {
	typ, name, cert, key, apiKey, secret           string
	hasName, hasCert, hasKey, hasAPIKey, hasSecret bool
	sandbox, hasSandbox                            bool
}

func readCredentialInput(f *form) credentialInput {
	var in credentialInput
	in.typ, _ = f.enum("Type", "apn", "gcm", "fcm")
	in.name, in.hasName = f.str("FriendlyName", maxCredentialName)
	in.cert, in.hasCert = f.str("Certificate", 0)
	in.key, in.hasKey = f.str("PrivateKey", 0)
	in.apiKey, in.hasAPIKey = f.str("ApiKey", 0)
	in.secret, in.hasSecret = f.str("Secret", 0)
	in.sandbox, in.hasSandbox = f.boolean("Sandbox")
	return in
}

func (in credentialInput) apply(cr *Credential) {
	if in.hasName {
		cr.FriendlyName = in.name
	}
	if in.hasCert {
		cr.Certificate = in.cert
	}
	if in.hasKey {
		cr.PrivateKey = in.key
	}
	if in.hasAPIKey {
		cr.APIKey = in.apiKey
	}
	if in.hasSecret {
		cr.Secret = in.secret
	}
	if in.hasSandbox {
		cr.Sandbox = in.sandbox
	}
}

// checkSecrets enforces what each push type needs to reach its service:
// apn a certificate and private key, gcm a server API key, fcm a secret
// (the FCM server key). A credential without them could never deliver.
func checkSecrets(cr *Credential) *apiError {
	switch cr.Type {
	case "apn":
		if cr.Certificate == "" {
			return errMissing("Certificate")
		}
		if cr.PrivateKey == "" {
			return errMissing("PrivateKey")
		}
	case "gcm":
		if cr.APIKey == "" {
			return errMissing("ApiKey")
		}
	case "fcm":
		if cr.Secret == "" {
			return errMissing("Secret")
		}
	}
	return nil
}

func createCredential(s *Server, c *call) error {
	in := readCredentialInput(c.form)
	if c.form.err == nil && in.typ == "" {
		c.form.fail(errMissing("Type"))
	}
	if err := c.formErr(); err != nil {
		return err
	}
	cr := &Credential{AccountSid: s.opts.AccountSid, Type: in.typ}
	in.apply(cr)
	if err := checkSecrets(cr); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cr.Sid, cr.DateCreated, cr.DateUpdated = s.st.newSid("CR"), now, now
	s.st.credentials[cr.Sid] = cr
	s.st.credOrder = append(s.st.credOrder, cr.Sid)
	return c.created(c.renderCredential(cr))
}

func (s *Server) credentialLocked(c *call) (*Credential, error) {
	cr := s.st.credentials[c.r.PathValue("Sid")]
	if cr == nil {
		return nil, c.notFound()
	}
	return cr, nil
}

func fetchCredential(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cr, err := s.credentialLocked(c)
	if err != nil {
		return err
	}
	return c.ok(c.renderCredential(cr))
}

func listCredentials(s *Server, c *call) error {
	pg, err := c.paging(50, 100)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items := make([]credentialJSON, 0, len(s.st.credOrder))
	for _, sid := range s.st.credOrder {
		items = append(items, c.renderCredential(s.st.credentials[sid]))
	}
	return writeList(c, "credentials", items, pg)
}

// updateCredential changes a credential's name, secrets or sandbox flag. The
// push type is fixed at creation: a Type naming another type is refused.
func updateCredential(s *Server, c *call) error {
	in := readCredentialInput(c.form)
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cr, err := s.credentialLocked(c)
	if err != nil {
		return err
	}
	if in.typ != "" && in.typ != cr.Type {
		return errInvalid("Type", "a "+cr.Type+" credential cannot become "+in.typ)
	}
	next := *cr
	in.apply(&next)
	if err := checkSecrets(&next); err != nil {
		return err
	}
	next.DateUpdated = s.now()
	*cr = next
	return c.ok(c.renderCredential(cr))
}

// deleteCredential deletes the credential; bindings that used it keep its
// SID, as their registrations outlive it on Twilio too.
func deleteCredential(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cr, err := s.credentialLocked(c)
	if err != nil {
		return err
	}
	delete(s.st.credentials, cr.Sid)
	s.st.credOrder = slices.DeleteFunc(s.st.credOrder, func(sid string) bool { return sid == cr.Sid })
	return c.noContent()
}

// errCredentialType is returned by AddBinding for a binding whose
// credential has another push type.
func errCredentialType(bindingType, credType string) *apiError {
	return newError(http.StatusBadRequest, codeMissingParam, "Invalid parameter CredentialSid: a %s credential cannot serve a %s binding", credType, bindingType)
}

// Credentials returns the account's push credentials, secrets included, in
// creation order.
func (s *Server) Credentials() []Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Credential, 0, len(s.st.credOrder))
	for _, sid := range s.st.credOrder {
		out = append(out, *s.st.credentials[sid])
	}
	return out
}

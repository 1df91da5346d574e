package studioapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/convoflow/convoflow/internal/apikey"
)

// credentials are what a caller may authenticate with: the account SID and
// auth token with HTTP basic auth, as Twilio checks them, or one of the
// server's API keys as a bearer token.
type credentials struct {
	user, password [sha256.Size]byte
	keys           *apikey.Set
}

func newCredentials(accountSid, authToken string, keys *apikey.Set) credentials {
	return credentials{user: sha256.Sum256([]byte(accountSid)), password: sha256.Sum256([]byte(authToken)), keys: keys}
}

// check returns nil for an authenticated request and Twilio's 20003
// otherwise. The SID and the token are compared as digests in constant
// time, both of them whatever the first gives, so the answer's timing
// tells nothing about either.
func (c credentials) check(r *http.Request) error {
	if user, password, ok := r.BasicAuth(); ok {
		u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
		if subtle.ConstantTimeCompare(u[:], c.user[:])&subtle.ConstantTimeCompare(p[:], c.password[:]) == 1 {
			return nil
		}
		return errAuthenticate
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && c.keys != nil && strings.EqualFold(scheme, "Bearer") && c.keys.Check(strings.TrimSpace(token)) {
		return nil
	}
	return errAuthenticate
}

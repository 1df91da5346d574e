package participant

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"

	"github.com/twilio/twilio-go/client"

	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/internal/twiliosig"
)

// signed wraps a function endpoint so that it serves only requests signed
// with X-Twilio-Signature under authToken, as Twilio's protected Functions
// do: the signature covers the URL the caller requested, which is
// publicURL() (the base URL callers use) plus the path and query, and the
// form parameters (or, for JSON bodies, the bodySHA256 query parameter).
// Anything else gets 401 with a Twilio-shaped error and never reaches h.
func signed(h http.Handler, authToken string, publicURL func() string, log *slog.Logger) http.Handler {
	validator := client.NewRequestValidator(authToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			status := http.StatusBadRequest
			if serve.IsTooLarge(err) {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(w, "reading the request body: "+err.Error(), status)
			return
		}
		u := twiliosig.RequestURL(publicURL(), r)
		sig := r.Header.Get(twiliosig.Header)
		if sig == "" || !validator.ValidateBody(u, body, sig) {
			log.Warn("function call refused: bad X-Twilio-Signature", "path", r.URL.Path, "url", u,
				"signature_present", sig != "", "remote", r.RemoteAddr)
			writeJSON(w, http.StatusUnauthorized, twilioError{
				Code:     20003,
				Message:  "Authenticate: the request has no valid X-Twilio-Signature for " + u,
				MoreInfo: "https://www.twilio.com/docs/errors/20003",
				Status:   http.StatusUnauthorized,
			})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

// twilioError is the error body of Twilio's APIs, which clients of a
// Function written for Twilio already parse.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

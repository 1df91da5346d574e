// Package twiliosig computes and checks X-Twilio-Signature, the header
// Twilio signs its webhooks and its calls to protected Functions with:
// base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
// names sorted)). FlowService signs its run-function calls with it and the
// Conversations fake its webhooks. Checking is left to twilio-go's
// client.RequestValidator, Twilio's own implementation, which also knows
// the bodySHA256 variant for JSON bodies.
package twiliosig

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio's signature scheme is HMAC-SHA1
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Header is the header the signature travels in.
const Header = "X-Twilio-Signature"

// Sign computes the signature of a request to rawURL (the full URL called,
// query included) with the form parameters params (nil for GET).
func Sign(authToken, rawURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(rawURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range params[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// RequestURL is the URL a signed request's signature covers: the base URL
// the caller used (the server's public URL, which a proxy in front may
// make differ from the address it listens on), followed by the path and
// query the server received.
func RequestURL(publicBase string, r *http.Request) string {
	u := strings.TrimSuffix(publicBase, "/") + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}

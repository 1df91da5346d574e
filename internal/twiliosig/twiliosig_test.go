package twiliosig_test

import (
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/convoflow/convoflow/internal/twiliosig"
)

// TestSign_matchesTwilioGo checks Sign against the official SDK's
// validator, an implementation of the scheme written by Twilio.
func TestSign_matchesTwilioGo(t *testing.T) {
	t.Parallel()
	const token = "12345"
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"},
	}
	for _, u := range []string{"https://mycompany.com/myapp.php?foo=1&bar=2", "http://127.0.0.1:8082/functions/add-support-agent"} {
		sig := twiliosig.Sign(token, u, params)
		flat := map[string]string{}
		for k, v := range params {
			flat[k] = v[0]
		}
		v := client.NewRequestValidator(token)
		if !v.Validate(u, flat, sig) {
			t.Errorf("twilio-go rejects Sign(%s) = %s", u, sig)
		}
		if v.Validate(u+"x", flat, sig) || v.Validate(u, map[string]string{"To": "+1"}, sig) {
			t.Errorf("twilio-go accepts Sign(%s) for another request", u)
		}
	}
}

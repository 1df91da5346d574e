package load

import (
	"crypto/hmac"
	"net/http"

	"github.com/convoflow/convoflow/internal/twiliosig"
)

// receiver takes the fake's webhooks at hookPath. Deliveries of a message
// (onDeliveryUpdated, status delivered) are the flow's replies reaching a
// customer; a failed or undelivered one is an error; other events, which
// share the account's post-event webhook while the run lasts, are ignored.
type receiver struct {
	t         *tracker
	authToken string
	// url is the URL the fake calls, which its signature covers.
	url string
}

const hookPath = "/convoflow-load/deliveries"

func (h *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := h.t.now()
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.t.fail("webhook: unreadable form")
		http.Error(w, "unreadable form", http.StatusBadRequest)
		return
	}
	want := twiliosig.Sign(h.authToken, h.url, r.PostForm)
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Twilio-Signature"))) {
		h.t.fail("webhook: bad X-Twilio-Signature (is --auth-token the fake's?)")
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	if r.PostForm.Get("EventType") != "onDeliveryUpdated" {
		return
	}
	switch st := r.PostForm.Get("Status"); st {
	case "delivered":
		h.t.delivered(r.PostForm.Get("ConversationSid"), at)
	case "failed", "undelivered":
		h.t.fail("reply " + st)
	}
}

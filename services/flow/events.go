package flow

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twilio/twilio-go/client"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/internal/twiliosig"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
)

// eventTypeMessageAdded is the only Conversations event a Studio webhook
// acts on (conversations-api.md §4.6).
const eventTypeMessageAdded = "onMessageAdded"

var dispositions = map[runner.Disposition]flowv1.EventDisposition{
	runner.DispositionStarted:   flowv1.EventDisposition_EVENT_DISPOSITION_STARTED,
	runner.DispositionResumed:   flowv1.EventDisposition_EVENT_DISPOSITION_RESUMED,
	runner.DispositionDuplicate: flowv1.EventDisposition_EVENT_DISPOSITION_DUPLICATE,
	runner.DispositionIgnored:   flowv1.EventDisposition_EVENT_DISPOSITION_IGNORED,
	// The message reached the active execution, which was not waiting
	// for one: Studio drops such messages.
	runner.DispositionDropped: flowv1.EventDisposition_EVENT_DISPOSITION_RESUMED,
	// The event could not run (no published revision, a definition the
	// engine refuses): it triggered nothing. The runner logs why.
	runner.DispositionFailed: flowv1.EventDisposition_EVENT_DISPOSITION_IGNORED,
}

func (s *service) HandleConversationEvent(ctx context.Context, req *flowv1.HandleConversationEventRequest) (*flowv1.HandleConversationEventResponse, error) {
	if req.GetConversationSid() == "" || req.GetMessageSid() == "" {
		return nil, s.fail(ctx, badRequest("conversation_sid and message_sid are required"))
	}
	ev := runner.ConversationEvent{
		FlowSid:             req.GetFlowSid(),
		IdempotencyToken:    req.GetIdempotencyToken(),
		AccountSid:          req.GetAccountSid(),
		ChatServiceSid:      req.GetChatServiceSid(),
		ConversationSid:     req.GetConversationSid(),
		MessageSid:          req.GetMessageSid(),
		MessagingServiceSid: req.GetMessagingServiceSid(),
		ParticipantSid:      req.GetParticipantSid(),
		Author:              req.GetAuthor(),
		Body:                req.GetBody(),
		Attributes:          req.GetAttributes(),
		Source:              req.GetSource(),
		Index:               int(req.GetIndex()),
	}
	if req.GetDateCreated() != nil {
		if err := req.GetDateCreated().CheckValid(); err != nil {
			return nil, s.fail(ctx, badRequest("date_created: %v", err))
		}
		ev.DateCreated = req.GetDateCreated().AsTime()
	}
	if len(req.GetMedia()) > 0 {
		// The runner takes Media as the webhook's JSON string.
		type media struct {
			Sid         string
			Filename    string
			ContentType string
			Size        int64
		}
		ms := make([]media, len(req.GetMedia()))
		for i, m := range req.GetMedia() {
			ms[i] = media{m.GetSid(), m.GetFilename(), m.GetContentType(), m.GetSize()}
		}
		b, err := json.Marshal(ms)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		ev.Media = string(b)
	}
	// The answer waits for processing so it can name the execution; the
	// event itself is durable as soon as it is recorded, and a client that
	// gives up and retries gets DUPLICATE with the same execution.
	out, err := s.runner.ProcessConversationEvent(ctx, ev)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	d, ok := dispositions[out.Disposition]
	if !ok {
		return nil, s.fail(ctx, errors.New("runner returned unknown disposition "+string(out.Disposition)))
	}
	resp := &flowv1.HandleConversationEventResponse{Disposition: d, ExecutionSid: out.ExecutionSid}
	if out.Disposition == runner.DispositionFailed {
		// IGNORED carries no execution, whatever the runner recorded.
		resp.ExecutionSid = ""
	}
	return resp, nil
}

// webhook serves POST /v1/Accounts/{AccountSid}/Flows/{FlowSid}, where
// Conversations delivers a flow's onMessageAdded events (form-encoded, signed
// with X-Twilio-Signature). It answers 200 only once the event is durably
// recorded, and 5xx when recording fails so that Twilio retries.
type webhook struct {
	s         *service
	validator client.RequestValidator
	results   *prometheus.CounterVec
}

// Webhook results, the values of convoflow_webhooks_total's result label.
const (
	webhookAccepted  = "accepted"  // recorded (or, for an ignored event type, acknowledged)
	webhookDuplicate = "duplicate" // a redelivery of a recorded event
	webhookForged    = "forged"    // no valid X-Twilio-Signature
	webhookRejected  = "rejected"  // a 4xx: unknown account, malformed form, too large
	webhookFailed    = "failed"    // a 5xx: not recorded, Twilio retries
)

func newWebhook(s *service, authToken string, reg prometheus.Registerer) (*webhook, error) {
	h := &webhook{s: s, validator: client.NewRequestValidator(authToken), results: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "convoflow_webhooks_total",
		Help: "onMessageAdded webhooks received, by result: accepted, duplicate, forged (bad signature), rejected (4xx) or failed (5xx, retried by Twilio).",
	}, []string{"result"})}
	for _, r := range []string{webhookAccepted, webhookDuplicate, webhookForged, webhookRejected, webhookFailed} {
		h.results.WithLabelValues(r) // every series from the start, at 0
	}
	if reg != nil {
		if err := reg.Register(h.results); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// fail answers an error and counts it.
func (h *webhook) fail(w http.ResponseWriter, result, msg string, status int) {
	h.results.WithLabelValues(result).Inc()
	http.Error(w, msg, status)
}

// webhookPattern is the route of the webhook, in http.ServeMux syntax.
const webhookPattern = "POST /v1/Accounts/{AccountSid}/Flows/{FlowSid}"

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	log := h.s.log.With("flow_sid", r.PathValue("FlowSid"))
	body, err := io.ReadAll(r.Body)
	if serve.IsTooLarge(err) {
		h.fail(w, webhookRejected, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		h.fail(w, webhookRejected, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Twilio signs the URL it called: the public base URL, the path and
	// the query, followed by the sorted form parameters.
	signed := twiliosig.RequestURL(h.s.publicURL(), r)
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || !h.validator.ValidateBody(signed, body, sig) {
		log.WarnContext(ctx, "webhook signature rejected", "url", signed, "signature_present", sig != "")
		h.fail(w, webhookForged, "invalid X-Twilio-Signature", http.StatusForbidden)
		return
	}
	if r.PathValue("AccountSid") != h.s.accountSid {
		h.fail(w, webhookRejected, "unknown account", http.StatusNotFound)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		h.fail(w, webhookRejected, "body is not form-encoded: "+err.Error(), http.StatusBadRequest)
		return
	}
	if et := form.Get("EventType"); et != eventTypeMessageAdded {
		// Studio reacts to onMessageAdded only; other events a misrouted
		// webhook sends are acknowledged so Twilio does not retry them.
		log.DebugContext(ctx, "webhook event ignored", "event_type", et)
		h.results.WithLabelValues(webhookAccepted).Inc()
		w.WriteHeader(http.StatusOK)
		return
	}
	ev, err := eventFromForm(r.PathValue("FlowSid"), r.Header.Get("I-Twilio-Idempotency-Token"), form)
	if err != nil {
		h.fail(w, webhookRejected, err.Error(), http.StatusBadRequest)
		return
	}
	d, err := h.s.runner.HandleConversationEvent(ctx, ev)
	if err != nil {
		status := webhookStatus(err)
		if status >= 500 {
			log.ErrorContext(ctx, "recording webhook event", "conversation_sid", ev.ConversationSid, "message_sid", ev.MessageSid, "err", err)
			h.fail(w, webhookFailed, "event not recorded, retry later", status)
			return
		}
		h.fail(w, webhookRejected, err.Error(), status)
		return
	}
	if d == runner.DispositionDuplicate {
		h.results.WithLabelValues(webhookDuplicate).Inc()
	} else {
		h.results.WithLabelValues(webhookAccepted).Inc()
	}
	log.DebugContext(ctx, "webhook event recorded", "conversation_sid", ev.ConversationSid, "message_sid", ev.MessageSid, "disposition", string(d))
	w.WriteHeader(http.StatusOK)
}

// webhookStatus is the HTTP side of the error mapping: Twilio retries 5xx
// answers, so only failures a retry can fix are 5xx.
func webhookStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrInvalidArgument):
		return http.StatusBadRequest
	default:
		return http.StatusServiceUnavailable
	}
}

// eventFromForm reads the onMessageAdded form fields
// (conversations-api.md §4.5).
func eventFromForm(flowSid, token string, f url.Values) (runner.ConversationEvent, error) {
	ev := runner.ConversationEvent{
		FlowSid:             flowSid,
		IdempotencyToken:    token,
		AccountSid:          f.Get("AccountSid"),
		ChatServiceSid:      f.Get("ChatServiceSid"),
		ConversationSid:     f.Get("ConversationSid"),
		MessageSid:          f.Get("MessageSid"),
		MessagingServiceSid: f.Get("MessagingServiceSid"),
		ParticipantSid:      f.Get("ParticipantSid"),
		Author:              f.Get("Author"),
		Body:                f.Get("Body"),
		Attributes:          f.Get("Attributes"),
		Media:               f.Get("Media"),
		Source:              f.Get("Source"),
	}
	if ev.ConversationSid == "" || ev.MessageSid == "" {
		return ev, errors.New("ConversationSid and MessageSid are required")
	}
	if v := f.Get("Index"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return ev, errors.New("Index is not a number: " + v)
		}
		ev.Index = n
	}
	if v := f.Get("DateCreated"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return ev, errors.New("DateCreated is not an ISO-8601 time: " + v)
		}
		ev.DateCreated = t
	}
	return ev, nil
}

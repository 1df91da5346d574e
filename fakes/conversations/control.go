package conversations

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// InboundMessage is a customer's message arriving on a channel.
type InboundMessage struct {
	From    string // the customer's address, e.g. +15551234567
	To      string // the proxy address (your Twilio number)
	Body    string
	Channel string // sms (default) or whatsapp
	// MediaSid optionally attaches a media item (ME…).
	MediaSid string
}

// InboundResult says where an inbound message went.
type InboundResult struct {
	ConversationSid string `json:"conversation_sid"`
	MessageSid      string `json:"message_sid"`
	ParticipantSid  string `json:"participant_sid"`
	Index           int    `json:"index"`
	// Created is true when an address configuration auto-created the conversation.
	Created bool `json:"created"`
}

// Inbound simulates a customer's SMS or WhatsApp message reaching Twilio:
// it is added to the non-closed conversation holding the (From, To) binding,
// or, when none does and an address configuration for To has auto-creation
// enabled, to a new conversation with the sender as participant and the
// configured webhook or Studio flow attached. Channel-originated actions
// always fire webhooks.
func (s *Server) Inbound(ctx context.Context, in InboundMessage) (InboundResult, error) {
	switch in.Channel {
	case "", "sms":
		in.Channel = "sms"
	case "whatsapp":
		if !strings.HasPrefix(in.From, "whatsapp:") {
			in.From = "whatsapp:" + in.From
		}
		if !strings.HasPrefix(in.To, "whatsapp:") {
			in.To = "whatsapp:" + in.To
		}
	default:
		return InboundResult{}, errInvalid("Channel", "must be sms or whatsapp")
	}
	if in.From == "" {
		return InboundResult{}, errMissing("From")
	}
	if in.To == "" {
		return InboundResult{}, errMissing("To")
	}
	if in.Body == "" && in.MediaSid == "" {
		return InboundResult{}, errMissing("Body")
	}
	if _, ok := channelOf(in.From, false); !ok {
		return InboundResult{}, newError(http.StatusBadRequest, codeInvalidAddress, "Invalid messaging binding address")
	}
	if in.MediaSid != "" && !validSid("ME", in.MediaSid) {
		return InboundResult{}, errInvalid("MediaSid", "must be an ME SID")
	}
	source := strings.ToUpper(in.Channel)

	s.mu.Lock()
	now := s.now()
	var res InboundResult
	conv := s.st.bindingHolder(in.From, in.To, now)
	if conv == nil {
		var err error
		conv, err = s.autoCreateLocked(in, source, now)
		if err != nil {
			s.mu.Unlock()
			return InboundResult{}, err
		}
		res.Created = true
	}
	var author *Participant
	for _, p := range conv.participants {
		if p.NonChat() && p.Binding.Address == in.From && p.Binding.ProxyAddress == in.To {
			author = p
		}
	}
	svc, convSid := conv.ChatServiceSid, conv.Sid
	s.mu.Unlock()
	if author == nil {
		// The binding index and the participant lists change together under
		// s.mu, so this means a bug, not bad input.
		return InboundResult{}, newError(http.StatusInternalServerError, 20500, "no participant holds binding %s → %s", in.From, in.To)
	}

	msg := messageInput{author: in.From, hasAuthor: true, body: in.Body, mediaSid: in.MediaSid,
		source: source, participantSid: author.Sid}
	_, m, err := s.addMessage(ctx, svc, convSid, msg, true)
	if err != nil {
		return InboundResult{}, err
	}
	res.ConversationSid, res.MessageSid, res.ParticipantSid, res.Index = convSid, m.Sid, author.Sid, m.Index
	return res, nil
}

// autoCreateLocked creates a conversation for an inbound message to an
// address configuration with auto-creation enabled.
func (s *Server) autoCreateLocked(in InboundMessage, source string, now time.Time) (*conversation, error) {
	var cfg *AddressConfiguration
	for _, sid := range s.st.addressOrder {
		a := s.st.addresses[sid]
		if a.Address == in.To || a.Address == strings.TrimPrefix(in.To, "whatsapp:") && a.Type == in.Channel {
			cfg = a
			break
		}
	}
	if cfg == nil || !cfg.AutoCreation.Enabled {
		return nil, newError(http.StatusNotFound, codeNotFound,
			"No open conversation holds the binding %s → %s and no address configuration with auto-creation exists for %s", in.From, in.To, in.To)
	}
	ac := cfg.AutoCreation
	svc := ac.ConversationServiceSid
	if _, ok := s.st.services[svc]; !ok {
		svc = s.st.defaultService
	}
	conv, err := s.newConversationLocked(svc, conversationParams{}, now)
	if err != nil {
		return nil, err
	}
	conv.CreatedBy = in.From
	switch ac.Type {
	case "webhook":
		if ac.WebhookURL != "" {
			conv.webhooks = append(conv.webhooks, &ScopedWebhook{Sid: s.st.newSid("WH"), AccountSid: s.opts.AccountSid,
				ConversationSid: conv.Sid, ChatServiceSid: svc, Target: "webhook", URL: ac.WebhookURL,
				Method: strings.ToLower(ac.WebhookMethod), Filters: append([]string(nil), ac.WebhookFilters...),
				Retries: 1, DateCreated: now, DateUpdated: now})
		}
	case "studio":
		retries := 1
		if ac.StudioRetryCount != nil {
			retries = *ac.StudioRetryCount
		}
		conv.webhooks = append(conv.webhooks, &ScopedWebhook{Sid: s.st.newSid("WH"), AccountSid: s.opts.AccountSid,
			ConversationSid: conv.Sid, ChatServiceSid: svc, Target: "studio", FlowSid: ac.StudioFlowSid,
			Method: "post", Retries: retries, DateCreated: now, DateUpdated: now})
	}
	p, err := s.addParticipantLocked(conv, participantInput{address: in.From, proxy: in.To}, now)
	if err != nil {
		s.st.deleteConversation(conv)
		return nil, err
	}
	ev := s.conversationEvent(conv, "onConversationAdded", source)
	ev.params.Set("MessagingBinding.Address", in.From)
	ev.params.Set("MessagingBinding.ProxyAddress", in.To)
	ev.params.Set("MessageBody", in.Body)
	s.emitLocked(ev)
	s.emitLocked(s.participantEvent(conv, p, "onParticipantAdded", source))
	return conv, nil
}

// controlRoutes registers the control plane under /_fake/. It has no auth:
// it is for tests and operators, never for the SDKs.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_fake/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /_fake/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_fake/inbound", func(w http.ResponseWriter, r *http.Request) {
		f, err := controlForm(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		in := InboundMessage{From: plusFixed(f.v.Get("From")), To: plusFixed(f.v.Get("To")), Body: f.v.Get("Body"),
			Channel: f.v.Get("Channel"), MediaSid: f.v.Get("MediaSid")}
		res, ierr := s.Inbound(r.Context(), in)
		if ierr != nil {
			var ae *apiError
			if !errors.As(ierr, &ae) {
				ae = newError(http.StatusInternalServerError, 20500, "%v", ierr)
			}
			writeError(w, ae)
			return
		}
		writeJSON(w, http.StatusCreated, res)
	})
	mux.HandleFunc("GET /_fake/outbox", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		msgs := s.Outbox(OutboxFilter{Address: q.Get("Address"), ConversationSid: q.Get("ConversationSid")})
		out := make([]map[string]any, len(msgs))
		for i, m := range msgs {
			out[i] = map[string]any{
				"sid": m.Sid, "channel": m.Channel, "from": m.From, "to": m.To, "body": m.Body,
				"media": m.Media, "conversation_sid": m.ConversationSid, "message_sid": m.MessageSid,
				"participant_sid": m.ParticipantSid, "receipt_sid": m.ReceiptSid, "date_created": twiliorest.Time(m.DateCreated),
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"messages": out})
	})
	mux.HandleFunc("GET /_fake/webhooks", func(w http.ResponseWriter, _ *http.Request) {
		atts := s.WebhookAttempts()
		out := make([]map[string]any, len(atts))
		for i, a := range atts {
			out[i] = map[string]any{
				"time": twiliorest.Time(a.Time), "kind": a.Kind, "event_type": a.EventType, "method": a.Method, "url": a.URL,
				"params": a.Params, "signature": a.Signature, "idempotency_token": a.IdempotencyToken,
				"conversation_sid": a.ConversationSid, "webhook_sid": a.WebhookSid, "attempt": a.Attempt,
				"status": a.Status, "error": a.Error, "duration_ms": a.Duration.Milliseconds(),
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"attempts": out})
	})
	mux.HandleFunc("GET /_fake/requests", func(w http.ResponseWriter, _ *http.Request) {
		reqs := s.Requests()
		out := make([]map[string]any, len(reqs))
		for i, q := range reqs {
			out[i] = map[string]any{
				"time": twiliorest.Time(q.Time), "method": q.Method, "path": q.Path, "query": q.Query,
				"form": q.Form, "operation": q.Operation, "status": q.Status,
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"requests": out})
	})
	mux.HandleFunc("POST /_fake/bindings", s.addBindingControl)
	mux.HandleFunc("GET /_fake/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"faults": s.Faults()})
	})
	mux.HandleFunc("POST /_fake/faults", func(w http.ResponseWriter, r *http.Request) {
		f, err := controlForm(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		fault := Fault{Method: strings.ToUpper(f.v.Get("Method")), Path: f.v.Get("Path"), Message: f.v.Get("Message")}
		fault.Status, _ = f.integer("Status", 0, 599)
		fault.Code, _ = f.integer("Code", 0, 99999)
		fault.Count, _ = f.integer("Count", 0, 1<<30)
		fault.Drop, _ = f.boolean("Drop")
		if v, ok := f.str("Latency", 0); ok {
			d, perr := time.ParseDuration(v)
			if perr != nil {
				if ms, aerr := strconv.Atoi(v); aerr == nil {
					d = time.Duration(ms) * time.Millisecond
				} else {
					f.fail(errInvalid("Latency", "must be a Go duration such as 250ms"))
				}
			}
			fault.Latency = d
		}
		if v, ok := f.str("Probability", 0); ok {
			p, perr := strconv.ParseFloat(v, 64)
			if perr != nil {
				f.fail(errInvalid("Probability", "must be a number between 0 and 1"))
			}
			fault.Probability = p
		}
		if f.err != nil {
			writeError(w, f.err)
			return
		}
		id, ierr := s.InjectFault(fault)
		if ierr != nil {
			writeError(w, newError(http.StatusBadRequest, codeMissingParam, "%v", ierr))
			return
		}
		fault.ID = id
		writeJSON(w, http.StatusCreated, fault)
	})
	mux.HandleFunc("DELETE /_fake/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
}

// plusFixed restores the "+" of an E.164 number that arrived as a space,
// because `curl -d From=+1555…` sends an unencoded "+", which forms decode
// as a space. Only the control plane is this lenient; the API is not.
func plusFixed(addr string) string {
	if rest, ok := strings.CutPrefix(addr, " "); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
		return "+" + rest
	}
	return addr
}

// controlForm parses a control-plane form with the API's size limit.
func controlForm(w http.ResponseWriter, r *http.Request) (*form, *apiError) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return nil, newError(http.StatusBadRequest, codeMissingParam, "Malformed form body: %v", err)
	}
	return &form{v: r.Form}, nil
}

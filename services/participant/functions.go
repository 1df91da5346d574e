package participant

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"

	"connectrpc.com/connect"

	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/serve"
)

// Paths of the Studio Run Function endpoints.
const (
	FunctionAddSupportAgent    = "/functions/add-support-agent"
	FunctionAddParticipant     = "/functions/add-participant"
	FunctionRemoveParticipant  = "/functions/remove-participant"
	maxFunctionParameterLength = 4 << 10
)

// FunctionRoutes returns the HTTP endpoints that stand in for the Twilio
// Functions of the Studio + Conversations tutorial, so that a Run Function
// widget (which POSTs its parameters form-encoded, signed with
// X-Twilio-Signature) calls h exactly as it called the protected Function;
// unsigned calls are refused unless o.AuthToken is empty. Each answers 200 with a JSON object, which Studio
// exposes as the widget's `parsed`; a failure answers 4xx/5xx with a JSON
// error, so the widget takes its `fail` transition. JSON request bodies are
// accepted too, as Twilio Functions accept them.
//
//	POST /functions/add-support-agent    conversationID, [pool]
//	POST /functions/add-participant      conversationID, address + [proxyAddress] | identity, [attributes]
//	POST /functions/remove-participant   conversationID, address | identity | participantSid
func FunctionRoutes(h participantv1connect.ParticipantServiceHandler, o FunctionOptions) []serve.Route {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &functions{h: h, log: log}
	routes := []serve.Route{
		{Pattern: "POST " + FunctionAddSupportAgent, Handler: f.handle(f.addSupportAgent)},
		{Pattern: "POST " + FunctionAddParticipant, Handler: f.handle(f.addParticipant)},
		{Pattern: "POST " + FunctionRemoveParticipant, Handler: f.handle(f.removeParticipant)},
	}
	if o.AuthToken != "" {
		for i := range routes {
			routes[i].Handler = signed(routes[i].Handler, o.AuthToken, o.PublicURL, log)
		}
	}
	return routes
}

// FunctionOptions configure FunctionRoutes.
type FunctionOptions struct {
	// AuthToken, when set, makes every endpoint require X-Twilio-Signature
	// under it (see signed); empty serves unsigned calls (--functions-public).
	AuthToken string
	// PublicURL returns the base URL callers use, which signatures cover.
	PublicURL func() string
	Logger    *slog.Logger
}

type functions struct {
	h   participantv1connect.ParticipantServiceHandler
	log *slog.Logger
}

// functionResult is the JSON object a function answers with. Keys are
// snake_case, like the Conversations API's; empty ones are left out.
type functionResult struct {
	ParticipantSid  string `json:"participant_sid,omitempty"`
	ConversationSid string `json:"conversation_sid,omitempty"`
	Agent           string `json:"agent,omitempty"`
	Address         string `json:"address,omitempty"`
	ProxyAddress    string `json:"proxy_address,omitempty"`
	Identity        string `json:"identity,omitempty"`
	AlreadyPresent  *bool  `json:"already_present,omitempty"`
	AlreadyAbsent   *bool  `json:"already_absent,omitempty"`
}

// functionError is the JSON body of a failed function call.
type functionError struct {
	// Error is a human-readable message.
	Error string `json:"error"`
	// Code is the gRPC code in Connect's snake_case spelling
	// ("failed_precondition").
	Code string `json:"code"`
	// TwilioCode is the Twilio error code behind the failure, if any.
	TwilioCode int32 `json:"twilio_code,omitempty"`
	// ConflictingConversationSid is the conversation holding the binding,
	// for Twilio 50416.
	ConflictingConversationSid string `json:"conflicting_conversation_sid,omitempty"`
}

type functionFunc func(r *http.Request, p params) (*functionResult, error)

// params are a function call's parameters.
type params url.Values

func (p params) get(name string) string { return url.Values(p).Get(name) }

func (f *functions) handle(fn functionFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := readParams(r)
		if err != nil {
			status := http.StatusBadRequest
			if serve.IsTooLarge(err) {
				status = http.StatusRequestEntityTooLarge
			}
			writeJSON(w, status, functionError{Error: err.Error(), Code: connect.CodeInvalidArgument.String()})
			return
		}
		res, err := fn(r, p)
		if err != nil {
			status, body := functionFailure(err)
			if status >= 500 {
				f.log.Warn("function failed", "path", r.URL.Path, "status", status, "err", body.Error)
			}
			writeJSON(w, status, body)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// readParams reads a form-encoded (what Studio sends) or JSON body.
func readParams(r *http.Request) (params, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]any
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&m); err != nil {
			if serve.IsTooLarge(err) {
				return nil, err
			}
			return nil, fmt.Errorf("body is not a JSON object: %w", err)
		}
		p := params{}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				p[k] = []string{v}
			case nil:
			default:
				b, _ := json.Marshal(v)
				p[k] = []string{string(b)}
			}
		}
		return p, nil
	}
	if err := r.ParseForm(); err != nil {
		if serve.IsTooLarge(err) {
			return nil, err
		}
		return nil, fmt.Errorf("body is not a form: %w", err)
	}
	for k, vs := range r.Form {
		for _, v := range vs {
			if len(v) > maxFunctionParameterLength {
				return nil, fmt.Errorf("parameter %s is longer than %d bytes", k, maxFunctionParameterLength)
			}
		}
	}
	return params(r.Form), nil
}

func (f *functions) addSupportAgent(r *http.Request, p params) (*functionResult, error) {
	req := &participantv1.AddSupportAgentRequest{ConversationSid: p.get("conversationID")}
	if pool := p.get("pool"); pool != "" {
		req.Pool = &pool
	}
	if req.ConversationSid == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("parameter conversationID is required"))
	}
	res, err := f.h.AddSupportAgent(r.Context(), req)
	if err != nil {
		return nil, err
	}
	out := resultOf(res.GetParticipant(), res.GetAlreadyPresent())
	out.Agent = res.GetAgent().GetName()
	return out, nil
}

func (f *functions) addParticipant(r *http.Request, p params) (*functionResult, error) {
	req := &participantv1.AddParticipantRequest{ConversationSid: p.get("conversationID"), Attributes: p.get("attributes")}
	if req.ConversationSid == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("parameter conversationID is required"))
	}
	addr, identity := p.get("address"), p.get("identity")
	switch {
	case addr != "" && identity != "":
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("give either address (with proxyAddress) or identity, not both"))
	case addr != "":
		req.Participant = &participantv1.AddParticipantRequest_MessagingBinding{MessagingBinding: &participantv1.MessagingBinding{
			Address: addr, ProxyAddress: p.get("proxyAddress"), ProjectedAddress: p.get("projectedAddress"),
		}}
	case identity != "":
		req.Participant = &participantv1.AddParticipantRequest_Identity{Identity: identity}
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("parameter address (with proxyAddress) or identity is required"))
	}
	res, err := f.h.AddParticipant(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return resultOf(res.GetParticipant(), res.GetAlreadyPresent()), nil
}

func (f *functions) removeParticipant(r *http.Request, p params) (*functionResult, error) {
	req := &participantv1.RemoveParticipantRequest{ConversationSid: p.get("conversationID")}
	if req.ConversationSid == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("parameter conversationID is required"))
	}
	given := 0
	if v := p.get("participantSid"); v != "" {
		req.Participant, given = &participantv1.RemoveParticipantRequest_ParticipantSid{ParticipantSid: v}, given+1
	}
	if v := p.get("address"); v != "" {
		req.Participant, given = &participantv1.RemoveParticipantRequest_Address{Address: v}, given+1
	}
	if v := p.get("identity"); v != "" {
		req.Participant, given = &participantv1.RemoveParticipantRequest_Identity{Identity: v}, given+1
	}
	if given != 1 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("give exactly one of participantSid, address or identity"))
	}
	res, err := f.h.RemoveParticipant(r.Context(), req)
	if err != nil {
		return nil, err
	}
	absent := res.GetAlreadyAbsent()
	return &functionResult{ParticipantSid: res.GetParticipantSid(), ConversationSid: req.ConversationSid, AlreadyAbsent: &absent}, nil
}

func resultOf(p *participantv1.Participant, present bool) *functionResult {
	out := &functionResult{
		ParticipantSid:  p.GetSid(),
		ConversationSid: p.GetConversationSid(),
		Identity:        p.GetIdentity(),
		Address:         p.GetMessagingBinding().GetAddress(),
		ProxyAddress:    p.GetMessagingBinding().GetProxyAddress(),
		AlreadyPresent:  &present,
	}
	return out
}

// functionFailure turns a handler error into an HTTP status and body. The
// statuses follow Connect's mapping of codes to HTTP, except that a binding
// conflict answers 409 like Twilio's 50416 does.
func functionFailure(err error) (int, functionError) {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		cerr = connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	body := functionError{Error: cerr.Message(), Code: cerr.Code().String()}
	for _, d := range cerr.Details() {
		m, derr := d.Value()
		if derr != nil {
			continue
		}
		switch m := m.(type) {
		case *participantv1.TwilioError:
			body.TwilioCode = m.GetCode()
		case *participantv1.BindingConflict:
			body.ConflictingConversationSid = m.GetConflictingConversationSid()
		}
	}
	status := serve.HTTPStatus(cerr.Code())
	if body.ConflictingConversationSid != "" {
		status = http.StatusConflict
	}
	return status, body
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

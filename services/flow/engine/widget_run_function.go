package engine

import (
	"net/url"
)

// runFunction POSTs its parameters, form-encoded, to url (a Twilio Function
// or any endpoint FlowService maps the URL to: the engine passes the URL
// verbatim, placeholders such as YOUR_TWILIO_ENVIRONMENT_DOMAIN_NAME
// included, so the HTTPDoer decides where it goes). A 2xx or 3xx answer
// within 10 s and at most 64 kB takes success; anything else fail (81010).
//
// Outputs: body, content_type, status_code, headers (lower-cased names),
// and parsed when the body is a JSON object served as application/json.
// Studio's documented quirk is kept: when the widget runs again, a new
// parsed object is merged into the old one (old keys stay) and a non-JSON
// answer leaves the old parsed untouched.
//
//	{"name": "add-support-agent", "type": "run-function",
//	 "transitions": [{"next": "confirm", "event": "success"}, {"event": "fail"}],
//	 "properties": {"url": "https://support-1234-dev.twil.io/add-support-agent",
//	   "service_sid": "ZS…", "environment_sid": "ZE…", "function_sid": "ZH…",
//	   "parameters": [{"key": "conversationID", "value": "{{trigger.conversation.ConversationSid}}"}],
//	   "offset": {"x": 0, "y": 0}}}
type runFunction struct {
	// URL must be present but may be empty: a real export (the COVID FAQ
	// bot) ships "url": "" and is filled in after import; the doer decides.
	URL            *string `json:"url"`
	ServiceSid     string  `json:"service_sid"`
	EnvironmentSid string  `json:"environment_sid"`
	FunctionSid    string  `json:"function_sid"`
	Parameters     []param `json:"parameters"`
}

func (w *runFunction) check(v *validation, path string) {
	if w.URL == nil {
		v.add(path+"/url", CodeInvalidDefinition, "url is required")
	}
}

func (w *runFunction) run(r *run, s *State) outcome {
	target := ""
	if w.URL != nil {
		target = *w.URL
	}
	if serr := r.renderAll(&target); serr != nil {
		return outcome{event: "fail", err: serr}
	}
	form := url.Values{}
	for _, p := range w.Parameters {
		v, err := r.render(p.Value)
		if err != nil {
			return outcome{event: "fail", err: stepErr(CodeLiquidRenderFailed, "unable to render parameter %s: %v", p.Key, err)}
		}
		form.Add(p.Key, v)
	}
	req := &HTTPRequest{
		Method:         "POST",
		URL:            target,
		Header:         header("Content-Type", "application/x-www-form-urlencoded"),
		Body:           []byte(form.Encode()),
		Widget:         s.Name,
		FunctionSid:    w.FunctionSid,
		IdempotencyKey: r.idempotencyKey(),
		// Twilio signs every call to a Function; a protected one refuses
		// an unsigned call.
		TwilioSignature: true,
	}
	a, serr, fault := r.call(req, CodeFunctionError)
	if fault != nil {
		return outcome{fault: fault}
	}
	if serr != nil {
		return outcome{event: "fail", err: serr}
	}
	out := a.outputs()
	out["headers"] = a.headers
	prev, _ := r.x.Context.Widgets[s.Name].(map[string]any)
	parsed, _ := prev["parsed"].(map[string]any)
	if obj := a.parsedObject(); obj != nil {
		merged := make(map[string]any, len(parsed)+len(obj))
		for k, v := range parsed {
			merged[k] = v
		}
		for k, v := range obj {
			merged[k] = v
		}
		parsed = merged
	}
	if parsed != nil {
		out["parsed"] = parsed
	}
	if a.status < 200 || a.status > 399 {
		return outcome{event: "fail", outputs: out, err: statusError(CodeFunctionError, req, a)}
	}
	return outcome{event: "success", outputs: out}
}

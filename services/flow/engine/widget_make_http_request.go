package engine

import (
	"mime"
	"net/url"
	"strings"
)

// makeHTTPRequest calls an HTTP endpoint: GET (parameters in the query) or
// POST (parameters form-encoded, or body sent as JSON when content_type is
// application/json). A 2xx answer within 10 s and at most 64 kB takes
// success; anything else failed (81014). Outputs: body, content_type,
// status_code, and parsed for a JSON object (replaced on every run; the
// merge quirk is run-function's only). add_twilio_auth works only towards
// Twilio hosts: elsewhere the widget fails without sending.
//
//	{"name": "notify", "type": "make-http-request",
//	 "transitions": [{"next": "ok", "event": "success"}, {"event": "failed"}],
//	 "properties": {"method": "POST", "url": "{{flow.variables.IE_ENDPOINT}}",
//	   "content_type": "application/json;charset=utf-8",
//	   "body": "{\"flow_sid\": \"{{flow.flow_sid}}\"}", "offset": {"x": 0, "y": 0}}}
type makeHTTPRequest struct {
	Method        string  `json:"method"`
	URL           string  `json:"url" studio:"required"`
	ContentType   string  `json:"content_type"`
	Body          string  `json:"body"`
	Parameters    []param `json:"parameters"`
	AddTwilioAuth bool    `json:"add_twilio_auth"`
}

func (w *makeHTTPRequest) check(v *validation, path string) {
	switch strings.ToUpper(strings.TrimSpace(w.Method)) {
	case "", "GET", "POST":
	default:
		v.add(path+"/method", CodeInvalidDefinition, "method must be GET or POST, not %q", w.Method)
	}
	if w.ContentType != "" && !hasLiquid(w.ContentType) {
		if mt := mediaType(w.ContentType); mt != "application/x-www-form-urlencoded" && mt != "application/json" {
			v.add(path+"/content_type", CodeInvalidDefinition, "content_type must be application/x-www-form-urlencoded or application/json, not %q", w.ContentType)
		}
	}
	for i, p := range w.Parameters {
		if strings.EqualFold(strings.TrimSpace(p.Key), "method") {
			// Studio raises 81014 at run time; the definition can say so now.
			v.add(path+"/parameters/"+itoa(i)+"/key", CodeHTTPRequestError, "a parameter cannot be named %q (a reserved word)", p.Key)
		}
	}
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

func (w *makeHTTPRequest) run(r *run, s *State) outcome {
	fail := func(format string, args ...any) outcome {
		return outcome{event: "failed", err: stepErr(CodeHTTPRequestError, format, args...)}
	}
	target, body := w.URL, w.Body
	if serr := r.renderAll(&target, &body); serr != nil {
		return outcome{event: "failed", err: serr}
	}
	u, err := url.Parse(strings.TrimSpace(target))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("the URL %q is not a valid http(s) URL", target)
	}
	params := url.Values{}
	for _, p := range w.Parameters {
		if strings.EqualFold(strings.TrimSpace(p.Key), "method") {
			return fail("a parameter cannot be named %q (a reserved word)", p.Key)
		}
		v, err := r.render(p.Value)
		if err != nil {
			return outcome{event: "failed", err: stepErr(CodeLiquidRenderFailed, "unable to render parameter %s: %v", p.Key, err)}
		}
		params.Add(p.Key, v)
	}
	if w.AddTwilioAuth && !twilioHost(u.Hostname()) {
		return fail("add_twilio_auth is set but %s is not a Twilio host: the request was not sent", u.Hostname())
	}
	req := &HTTPRequest{Method: "GET", Widget: s.Name, TwilioAuth: w.AddTwilioAuth, IdempotencyKey: r.idempotencyKey()}
	if strings.EqualFold(strings.TrimSpace(w.Method), "POST") {
		req.Method = "POST"
		ct := w.ContentType
		if ct == "" {
			ct = "application/x-www-form-urlencoded;charset=utf-8"
		}
		req.Header = header("Content-Type", ct)
		if mediaType(ct) == "application/json" {
			req.Body = []byte(body)
		} else {
			req.Body = []byte(params.Encode())
		}
	} else if len(params) > 0 {
		q := u.Query()
		for k, vs := range params {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	req.URL = u.String()
	a, serr, fault := r.call(req, CodeHTTPRequestError)
	if fault != nil {
		return outcome{fault: fault}
	}
	if serr != nil {
		return outcome{event: "failed", err: serr}
	}
	out := a.outputs()
	if obj := a.parsedObject(); obj != nil {
		out["parsed"] = obj
	}
	if a.status < 200 || a.status > 299 {
		return outcome{event: "failed", outputs: out, err: statusError(CodeHTTPRequestError, req, a)}
	}
	return outcome{event: "success", outputs: out}
}

// twilioHost reports whether add_twilio_auth may send credentials there.
func twilioHost(h string) bool {
	h = strings.ToLower(h)
	return h == "twilio.com" || strings.HasSuffix(h, ".twilio.com")
}

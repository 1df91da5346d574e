package engine

import (
	"context"
	"errors"
	"io"
	"mime"
	"strings"
)

// httpAnswer is a response as the widgets see it.
type httpAnswer struct {
	status      int
	contentType string
	headers     map[string]any // lower-cased names, first value
	body        []byte
}

// call performs one request with the engine's limits: a HTTPTimeout
// deadline around the call and the body read, and at most
// MaxResponseBytes read. A failure is returned as a *StepError with code,
// unless the caller's own context is done (the second error).
func (r *run) call(req *HTTPRequest, code int) (*httpAnswer, *StepError, error) {
	if r.e.opts.HTTP == nil {
		return nil, stepErr(code, "no HTTP client is configured"), nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, HTTPTimeout)
	defer cancel()
	resp, err := r.e.opts.HTTP.Do(ctx, req)
	if err != nil {
		if fault := r.cancelled(); fault != nil {
			return nil, nil, fault
		}
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return nil, stepErr(code, "%s %s: no response within %s", req.Method, req.URL, HTTPTimeout), nil
		}
		return nil, stepErr(code, "%s %s: %v", req.Method, req.URL, err), nil
	}
	if resp == nil {
		return nil, stepErr(code, "%s %s: no response", req.Method, req.URL), nil
	}
	var body []byte
	if resp.Body != nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
		resp.Body.Close()
		if err != nil {
			if fault := r.cancelled(); fault != nil {
				return nil, nil, fault
			}
			if ctx.Err() != nil {
				return nil, stepErr(code, "%s %s: no complete response within %s", req.Method, req.URL, HTTPTimeout), nil
			}
			return nil, stepErr(code, "%s %s: reading the response: %v", req.Method, req.URL, err), nil
		}
	}
	if len(body) > MaxResponseBytes {
		return nil, stepErr(code, "%s %s: the response is larger than %d bytes", req.Method, req.URL, MaxResponseBytes), nil
	}
	a := &httpAnswer{status: resp.StatusCode, headers: map[string]any{}, body: body}
	for k, vs := range resp.Header {
		if len(vs) > 0 {
			a.headers[strings.ToLower(k)] = vs[0]
		}
	}
	if ct, ok := a.headers["content-type"].(string); ok {
		a.contentType = ct
	}
	return a, nil, nil
}

// parsedObject returns the body as a JSON object when it is served as
// application/json and is an object; nil otherwise (a top-level array is
// not parsed, as Studio documents).
func (a *httpAnswer) parsedObject() map[string]any {
	mt, _, err := mime.ParseMediaType(a.contentType)
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	v, _ := decodeJSON(a.body)
	obj, _ := v.(map[string]any)
	return obj
}

// outputs are the widget outputs every HTTP widget fills.
func (a *httpAnswer) outputs() map[string]any {
	return map[string]any{
		"status_code":  int64(a.status),
		"content_type": a.contentType,
		"body":         string(a.body),
	}
}

func statusError(code int, req *HTTPRequest, a *httpAnswer) *StepError {
	return stepErr(code, "%s %s answered %d", req.Method, req.URL, a.status)
}

func header(kv ...string) map[string][]string {
	h := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = []string{kv[i+1]}
	}
	return h
}

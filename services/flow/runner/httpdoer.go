package runner

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/convoflow/convoflow/internal/twiliosig"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/outbound"
)

// httpDoer is the engine's HTTPDoer for run-function and make-http-request.
// It rewrites URL prefixes (--function-map), so the Twilio Functions an
// imported flow calls (https://support-1234-dev.twil.io/…) can be served by
// another service; adds the account's credentials when the engine asks for
// Twilio auth; signs Function calls with X-Twilio-Signature; and sends
// everything through the client, which applies the outbound policy and
// follows a few redirects (see outboundClient). The engine owns the time
// limit (a context deadline) and the response size limit.
type httpDoer struct {
	client   *http.Client
	rewrites []rewrite
	account  string
	token    string
	m        *metrics
}

type rewrite struct{ from, to string }

// idempotencyHeader carries a call's idempotency key.
const idempotencyHeader = "I-Twilio-Idempotency-Token"

// ParseFunctionMap checks "FROM=TO" URL-prefix rewrites, as given to
// --function-map.
func ParseFunctionMap(entries []string) error {
	_, err := parseRewrites(entries)
	return err
}

func parseRewrites(entries []string) ([]rewrite, error) {
	var out []rewrite
	for _, e := range entries {
		from, to, ok := strings.Cut(e, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("runner: function map entry %q is not FROM=TO", e)
		}
		for _, u := range []string{from, to} {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return nil, fmt.Errorf("runner: function map entry %q: %q is not an http(s) URL", e, u)
			}
		}
		out = append(out, rewrite{from: from, to: to})
	}
	// The longest prefix wins, whatever the order of the flags.
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].from) > len(out[j].from) })
	return out, nil
}

// outboundClient is the client run-function and make-http-request use
// unless Config.HTTPClient says otherwise: it refuses destinations in
// loopback, private and other special ranges (see package outbound) except
// those allow lists and the --function-map targets, which are the
// operator's own services. It has no Client.Timeout: the engine's context
// deadline (engine.HTTPTimeout) already bounds each call, the response read
// included, and the client would start a goroutine per request to enforce
// a timeout of its own.
func outboundClient(allow, functionMap []string) (*http.Client, error) {
	p, err := outbound.Parse(allow)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	rw, err := parseRewrites(functionMap)
	if err != nil {
		return nil, err
	}
	targets := make([]string, 0, len(rw))
	for _, r := range rw {
		targets = append(targets, r.to)
	}
	return p.Client(outbound.ClientOptions{Exempt: targets})
}

func newHTTPDoer(client *http.Client, functionMap []string, account, token string) (*httpDoer, error) {
	rw, err := parseRewrites(functionMap)
	if err != nil {
		return nil, err
	}
	return &httpDoer{client: client, rewrites: rw, account: account, token: token}, nil
}

// mapURL applies the first (longest) matching prefix rewrite.
func (d *httpDoer) mapURL(u string) string {
	for _, rw := range d.rewrites {
		if strings.HasPrefix(u, rw.from) {
			return rw.to + u[len(rw.from):]
		}
	}
	return u
}

// Do implements engine.HTTPDoer.
func (d *httpDoer) Do(ctx context.Context, r *engine.HTTPRequest) (*engine.HTTPResponse, error) {
	target := d.mapURL(r.URL)
	if target == "" {
		return nil, fmt.Errorf("widget %s has no URL to call (map it with --function-map)", r.Widget)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.TwilioAuth && d.account != "" {
		req.SetBasicAuth(d.account, d.token)
	}
	if r.TwilioSignature && d.token != "" {
		// Signed as Twilio signs: the URL requested (after the rewrite)
		// and the form parameters. A body that is not a form is signed
		// with the URL alone.
		params, _ := url.ParseQuery(string(r.Body))
		req.Header.Set(twiliosig.Header, twiliosig.Sign(d.token, target, params))
	}
	if r.IdempotencyKey != "" {
		// Calls are made at least once: a replay after a crash repeats
		// them. The key, the same on every replay of the call, lets the
		// receiver recognise a repeat, as Twilio's own webhooks carry
		// I-Twilio-Idempotency-Token.
		key := r.IdempotencyKey
		if at := attemptFrom(ctx); at != nil {
			key += "@" + at.cause
		}
		req.Header.Set(idempotencyHeader, key)
	}
	resp, err := d.client.Do(req)
	kind := "make-http-request"
	if r.TwilioSignature {
		kind = "run-function"
	}
	d.m.request(kind, err)
	if err != nil {
		return nil, err
	}
	return &engine.HTTPResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: resp.Body}, nil
}

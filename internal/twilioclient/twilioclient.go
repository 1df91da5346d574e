// Package twilioclient builds the official twilio-go REST client the two
// services use to call the Conversations API, pointed at a configurable base
// URL (the Conversations fake in tests, Twilio in production), and unwraps
// the Twilio errors it returns.
//
// twilio-go has no base-URL option: each generated service hard-codes
// https://conversations.twilio.com. The redirection therefore happens in
// the http.Client's transport, which rewrites the scheme and host of every
// request, including the next_page_url links of list responses that point
// at the real host (conversations-api.md §6.1, shape A). The Host header
// keeps the product host, so one fake port can route by product.
package twilioclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
)

// DefaultBaseURL is the real Conversations API; with it no request is
// redirected.
const DefaultBaseURL = "https://conversations.twilio.com"

// DefaultTimeout bounds each Twilio request, reading the response included.
// twilio-go sends its requests without a context, so this is the only
// bound on a stuck call; it matches twilio-go's own default.
const DefaultTimeout = 10 * time.Second

// retryAfterDetail is the key under which the transport records an error
// response's Retry-After header in TwilioRestError.Details, because
// twilio-go drops the response headers of failed requests.
const retryAfterDetail = "convoflow_retry_after"

// credentialRE is what twilio-go accepts as username and password; other
// characters fail every request with client-side error 21222/21224, so they
// are rejected up front.
var credentialRE = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

// Options configures New.
type Options struct {
	// AccountSID is the Twilio account SID ("AC…"); required.
	AccountSID string
	// AuthToken is the account's auth token; required.
	AuthToken string
	// BaseURL is where requests go, for example "http://127.0.0.1:8083".
	// Empty or DefaultBaseURL sends them to Twilio unchanged. A path, if
	// any, is prefixed to every request path.
	BaseURL string
	// Timeout bounds each request; DefaultTimeout when zero.
	Timeout time.Duration
	// Transport is the round tripper requests finally go through; nil uses
	// a clone of http.DefaultTransport that keeps enough idle connections
	// per host for a busy service.
	Transport http.RoundTripper
}

// New returns a twilio-go client that authenticates as opts.AccountSID and
// sends every request to opts.BaseURL.
func New(opts Options) (*twilio.RestClient, error) {
	if opts.AccountSID == "" || opts.AuthToken == "" {
		return nil, errors.New("twilioclient: account SID and auth token are required")
	}
	if !credentialRE.MatchString(opts.AccountSID) {
		return nil, fmt.Errorf("twilioclient: account SID %q must be letters and digits only", opts.AccountSID)
	}
	if !credentialRE.MatchString(opts.AuthToken) {
		return nil, errors.New("twilioclient: auth token must be letters and digits only")
	}
	httpClient, err := NewHTTPClient(opts.BaseURL, opts.Timeout, opts.Transport)
	if err != nil {
		return nil, err
	}
	base := &client.Client{
		Credentials: client.NewCredentials(opts.AccountSID, opts.AuthToken),
		HTTPClient:  httpClient,
	}
	base.SetAccountSid(opts.AccountSID)
	// With Client set, twilio-go ignores ClientParams' Username and
	// Password: the credentials live on base.
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: base}), nil
}

// NewHTTPClient returns the http.Client New gives twilio-go: requests are
// redirected to baseURL (unless it is empty or DefaultBaseURL), bounded by
// timeout (DefaultTimeout when zero), not redirected on 3xx (as twilio-go's
// default client), and error responses are normalised so that twilio-go
// always returns a *client.TwilioRestError for them.
func NewHTTPClient(baseURL string, timeout time.Duration, transport http.RoundTripper) (*http.Client, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The default of 2 idle connections per host would make a busy
		// service open and close connections to Twilio all the time.
		t.MaxIdleConnsPerHost = 100
		transport = t
	}
	rt := &errorBodies{next: transport}
	if baseURL != "" && strings.TrimSuffix(baseURL, "/") != DefaultBaseURL {
		target, err := parseBaseURL(baseURL)
		if err != nil {
			return nil, err
		}
		rt.next = &rewrite{target: target, next: transport}
	}
	return &http.Client{
		Transport: &deadline{timeout: timeout, next: rt},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("twilioclient: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("twilioclient: base URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("twilioclient: base URL %q has no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("twilioclient: base URL %q must not carry user info, a query or a fragment", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	return u, nil
}

// deadline bounds each request, reading its response included, by a
// context timeout. It does what http.Client.Timeout does, without the
// goroutine per request that http.Client starts to enforce that timeout,
// which showed in the services' scheduling latency under load.
type deadline struct {
	timeout time.Duration
	next    http.RoundTripper
}

func (d *deadline) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), d.timeout)
	res, err := d.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	res.Body = &cancelOnClose{ReadCloser: res.Body, cancel: cancel}
	return res, nil
}

// cancelOnClose releases a request's timeout once its response body is
// closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// rewrite sends every request to target's scheme and host (and path
// prefix), whatever host twilio-go built the URL for.
type rewrite struct {
	target *url.URL
	next   http.RoundTripper
}

func (r *rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not modify the caller's request. Only the URL
	// changes, so a shallow copy with its own URL is enough: Clone would
	// also copy the headers, on every call.
	u := *req.URL
	u.Scheme, u.Host = r.target.Scheme, r.target.Host
	if r.target.Path != "" {
		if u.RawPath != "" {
			u.RawPath = r.target.EscapedPath() + u.RawPath
		}
		u.Path = r.target.Path + u.Path
	}
	out := *req
	out.URL = &u
	// out.Host, and so the Host header, stays the product host
	// (conversations.twilio.com).
	return r.next.RoundTrip(&out)
}

// errorBodies makes every error response one twilio-go decodes into a
// *client.TwilioRestError carrying the HTTP status: a body that is not a
// Twilio JSON error (a proxy's HTML 502, say) becomes one with code 0, and a
// Retry-After header is copied into the error's details (see RetryAfter).
// Without this, twilio-go reports such failures as a JSON decoding error
// and the status is lost to callers deciding whether to retry.
type errorBodies struct {
	next http.RoundTripper
}

// maxErrorBody bounds how much of an error body is read; Twilio's are a few
// hundred bytes.
const maxErrorBody = 64 << 10

func (e *errorBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := e.next.RoundTrip(req)
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	raw, readErr := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	_ = res.Body.Close()
	if readErr != nil {
		return nil, fmt.Errorf("twilioclient: reading %d response: %w", res.StatusCode, readErr)
	}
	var body map[string]any
	if json.Unmarshal(raw, &body) != nil || body == nil {
		text := strings.TrimSpace(string(raw))
		if len(text) > 200 {
			text = text[:200]
		}
		msg := res.Status
		if text != "" {
			msg += ": " + text
		}
		body = map[string]any{"code": 0, "message": msg, "more_info": ""}
	}
	if _, ok := body["status"]; !ok {
		body["status"] = res.StatusCode
	}
	if ra := res.Header.Get("Retry-After"); ra != "" {
		details, _ := body["details"].(map[string]any)
		if details == nil {
			details = map[string]any{}
		}
		details[retryAfterDetail] = ra
		body["details"] = details
	}
	out, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("twilioclient: re-encoding %d response: %w", res.StatusCode, err)
	}
	res.Body = io.NopCloser(bytes.NewReader(out))
	res.ContentLength = int64(len(out))
	res.Header.Del("Content-Length")
	res.Header.Set("Content-Type", "application/json")
	return res, nil
}

// ErrorCode unwraps a Twilio API error returned by twilio-go (a
// *client.TwilioRestError, or the newer *client.RestErrorV1) and returns
// its Twilio error code (for example 20404 or 50416; 0 when the response was
// not a Twilio error) and HTTP status. ok is false when err is not a Twilio
// API error, for example a network failure or timeout.
func ErrorCode(err error) (code, status int, ok bool) {
	var restErr *client.TwilioRestError
	if errors.As(err, &restErr) {
		return restErr.Code, restErr.Status, true
	}
	var v1Err *client.RestErrorV1
	if errors.As(err, &v1Err) {
		return v1Err.Code, v1Err.HttpStatusCode, true
	}
	return 0, 0, false
}

// RetryAfter returns how long Twilio asked the client to wait before
// retrying (the Retry-After header of a 429 or 503), for errors from a
// client built by New. ok is false when the response had no valid
// Retry-After header or err is not a Twilio API error.
func RetryAfter(err error) (d time.Duration, ok bool) {
	var restErr *client.TwilioRestError
	if !errors.As(err, &restErr) {
		return 0, false
	}
	v, _ := restErr.Details[retryAfterDetail].(string)
	return parseRetryAfter(v, time.Now())
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MaxRedirects is how many redirects a request follows before it fails.
// Studio does not document a number; Go's default is 10, and a Function or
// API that needs more than a few is misconfigured.
const MaxRedirects = 5

// ClientOptions tune Policy.Client.
type ClientOptions struct {
	// Exempt are base URLs whose hosts are the operator's own services
	// (the targets of --function-map): requests to them skip the policy.
	Exempt []string
	// Resolver looks up the names of guarded requests; nil means
	// net.DefaultResolver. Tests point it at a DNS server of their own.
	Resolver *net.Resolver
}

// Client returns the HTTP client for flows' requests under p. The client
// has no timeout of its own: the engine bounds each call.
func (p *Policy) Client(o ClientOptions) (*http.Client, error) {
	t := &transport{policy: p, exempt: map[string]bool{}}
	for _, e := range o.Exempt {
		hp, err := hostPortOf(e)
		if err != nil {
			return nil, fmt.Errorf("outbound: exempt target %q: %w", e, err)
		}
		t.exempt[hp] = true
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps two idle connections per host; a busy flow calls
	// the same Functions host many times a second.
	base.MaxIdleConnsPerHost = 64
	t.open = base

	t.guarded = base.Clone()
	// A proxy would be the address dialed, and the policy would judge the
	// proxy instead of the destination.
	t.guarded.Proxy = nil
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, ControlContext: p.control, Resolver: o.Resolver}
	t.guarded.DialContext = d.DialContext

	return &http.Client{
		Transport: t,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", MaxRedirects)
			}
			return nil
		},
	}, nil
}

// control runs after DNS resolution, for every address dialed (each
// attempt of Happy Eyeballs included), before the connection is made.
func (p *Policy) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Dest: address, Range: "unparsable"}
	}
	return p.CheckAddr(ap.Addr(), strconv.Itoa(int(ap.Port())))
}

// transport sends each request, redirect hops included, through the open
// transport when its host is exempt or allowed by name, and through the
// guarded one, whose dialer applies the policy, otherwise.
type transport struct {
	policy        *Policy
	exempt        map[string]bool // lower-case host:port
	open, guarded *http.Transport
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	host, port := r.URL.Hostname(), r.URL.Port()
	full := port
	if full == "" {
		full = defaultPort(r.URL.Scheme)
	}
	if t.exempt[strings.ToLower(net.JoinHostPort(host, full))] ||
		t.policy.HostAllowed(host, port) || t.policy.HostAllowed(host, full) {
		return t.open.RoundTrip(r)
	}
	if err := t.policy.CheckHost(host, full); err != nil {
		if r.Body != nil {
			r.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, err
	}
	return t.guarded.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach both
// transports.
func (t *transport) CloseIdleConnections() {
	t.open.CloseIdleConnections()
	t.guarded.CloseIdleConnections()
}

func defaultPort(scheme string) string {
	if strings.EqualFold(scheme, "https") {
		return "443"
	}
	return "80"
}

func hostPortOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Hostname() == "" {
		return "", errors.New("not an absolute URL with a host")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port)), nil
}

// Package outbound is the policy for the HTTP requests flows make
// (make-http-request and run-function): a flow definition is code that runs
// with the server's network position, so by default it may not reach the
// server's loopback, the private networks around it, link-local addresses
// such as the cloud metadata service (169.254.169.254), or any other
// special-purpose range.
//
// The decision is made on the IP address actually dialed, in a net.Dialer
// control hook, after DNS resolution: a name that resolves (or is rebound)
// to a private address is refused as the literal would be, and so is every
// redirect hop. Hosts the operator names (--allow-outbound) and the targets
// of --function-map, the operator's own services, are exempt.
package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// blocked lists the ranges refused by default, each with the name the
// refusal gives. Order matters only for the name: the first match wins.
var blocked = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "CGNAT"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("2001:db8::/32"), "reserved"},
}

// Tunnels that carry an IPv4 address inside an IPv6 one: the IPv4 address
// is checked too, so [64:ff9b::7f00:1] is loopback as 127.0.0.1 is.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	v4compat  = netip.MustParsePrefix("::/96")
)

// Policy decides which destinations flows may reach. The zero value refuses
// every blocked range and allows everything else.
type Policy struct {
	allow []rule
}

// rule is one --allow-outbound entry: a network (a CIDR, or one address),
// or a host name, each optionally limited to a port.
type rule struct {
	prefix netip.Prefix // valid for address rules
	host   string       // lower-case, for name rules
	port   string       // "" means any port
	text   string
}

// Parse builds a policy from --allow-outbound entries: CIDR
// ("10.20.0.0/16"), address ("10.0.0.7", "[fd00::7]:8443") or host name
// ("billing.internal", "billing.internal:8443").
func Parse(entries []string) (*Policy, error) {
	p := &Policy{}
	var errs []error
	for _, e := range entries {
		r, err := parseRule(strings.TrimSpace(e))
		if err != nil {
			errs = append(errs, fmt.Errorf("--allow-outbound %q: %w", e, err))
			continue
		}
		p.allow = append(p.allow, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func parseRule(e string) (rule, error) {
	if e == "" {
		return rule{}, errors.New("empty entry")
	}
	if pf, err := netip.ParsePrefix(e); err == nil {
		return rule{prefix: pf.Masked(), text: e}, nil
	}
	if strings.Contains(e, "/") {
		return rule{}, errors.New("not a CIDR (want ADDRESS/BITS), address or HOST[:PORT]")
	}
	host, port := e, ""
	if h, pt, err := net.SplitHostPort(e); err == nil {
		host, port = h, pt
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return rule{}, fmt.Errorf("port %q is not 1-65535", port)
		}
	} else if strings.HasPrefix(e, "[") {
		return rule{}, err
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return rule{prefix: netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), port: port, text: e}, nil
	}
	if !validHostName(host) {
		return rule{}, fmt.Errorf("%q is not a host name, address or CIDR", host)
	}
	return rule{host: strings.ToLower(strings.TrimSuffix(host, ".")), port: port, text: e}, nil
}

func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// RefusedError is a destination the policy refuses.
type RefusedError struct {
	// Dest is what was refused: an address, or the host as written.
	Dest string
	// Range names why: loopback, private, link-local, CGNAT, …
	Range string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the outbound policy refuses %s (%s address); an operator can allow it with --allow-outbound", e.Dest, e.Range)
}

// IsRefused reports whether err (from a request) is a policy refusal.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// HostAllowed reports whether an --allow-outbound name rule covers host
// and port as a URL names them (port "" when the URL gives none).
func (p *Policy) HostAllowed(host, port string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, r := range p.allow {
		if r.host != "" && r.host == host && (r.port == "" || r.port == port) {
			return true
		}
	}
	return false
}

// CheckAddr decides on one address about to be dialed.
func (p *Policy) CheckAddr(a netip.Addr, port string) error {
	a = a.Unmap()
	for _, r := range p.allow {
		if r.prefix.IsValid() && r.prefix.Contains(a) && (r.port == "" || r.port == port) {
			return nil
		}
	}
	if name := blockedRange(a); name != "" {
		return &RefusedError{Dest: a.String(), Range: name}
	}
	return nil
}

func blockedRange(a netip.Addr) string {
	for _, b := range blocked {
		if b.prefix.Contains(a) {
			return b.name
		}
	}
	if a.Is6() {
		b := a.As16()
		var v4 [4]byte
		switch {
		case nat64.Contains(a), v4compat.Contains(a):
			copy(v4[:], b[12:16])
		case sixToFour.Contains(a):
			copy(v4[:], b[2:6])
		default:
			return ""
		}
		return blockedRange(netip.AddrFrom4(v4))
	}
	return ""
}

// CheckHost refuses, before any lookup, host names that mean this machine
// (localhost and *.localhost, RFC 6761) and IPv4 addresses in the
// shorthand spellings inet_aton accepts ("2130706433", "0x7f000001",
// "0177.0.0.1", "127.1"), which some resolvers turn into addresses while
// the URL looks like a name. Canonical literals pass here and are checked
// at dial time like every resolved address.
func (p *Policy) CheckHost(host, port string) error {
	if p.HostAllowed(host, port) {
		return nil
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return &RefusedError{Dest: host, Range: "loopback"}
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return nil
	}
	if a, ok := parseInetAton(h); ok {
		if err := p.CheckAddr(a, port); err != nil {
			return &RefusedError{Dest: host + " (" + a.String() + ")", Range: err.(*RefusedError).Range}
		}
	}
	return nil
}

// parseInetAton parses the IPv4 forms of inet_aton(3): one to four parts,
// each decimal, octal (leading 0) or hex (0x); the last part fills the
// remaining bytes.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		base, digits := 10, part
		switch {
		case strings.HasPrefix(part, "0x") || strings.HasPrefix(part, "0X"):
			base, digits = 16, part[2:]
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		if digits == "" {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

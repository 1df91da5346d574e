package outbound_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/services/flow/outbound"
)

func TestPolicy_CheckAddr(t *testing.T) {
	t.Parallel()
	p, err := outbound.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr, want string // want "" means allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"}, // IPv4-mapped
		{"::127.0.0.1", "loopback"},      // IPv4-compatible
		{"64:ff9b::7f00:1", "loopback"},  // NAT64
		{"2002:7f00:1::1", "loopback"},   // 6to4
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:192.168.1.1", "private"},
		{"fd00::1", "private"},
		{"fc00::1", "private"},
		{"100.64.0.1", "CGNAT"},
		{"100.127.255.255", "CGNAT"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"::ffff:169.254.169.254", "link-local"},
		{"64:ff9b::a9fe:a9fe", "link-local"},
		{"fe80::1", "link-local"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"198.18.0.1", "reserved"},
		{"8.8.8.8", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"::ffff:8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"64:ff9b::808:808", ""},
	}
	for _, tt := range tests {
		err := p.CheckAddr(netip.MustParseAddr(tt.addr), "443")
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckAddr(%s) = %v, want allowed", tt.addr, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), "("+tt.want+" address)")):
			t.Errorf("CheckAddr(%s) = %v, want refused as %s", tt.addr, err, tt.want)
		case tt.want != "" && !outbound.IsRefused(err):
			t.Errorf("CheckAddr(%s): IsRefused = false", tt.addr)
		}
	}
}

func TestPolicy_CheckHost(t *testing.T) {
	t.Parallel()
	p, err := outbound.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, want string
	}{
		{"localhost", "loopback"},
		{"LOCALHOST.", "loopback"},
		{"api.localhost", "loopback"},
		{"2130706433", "loopback"},   // 127.0.0.1 in decimal
		{"0x7f000001", "loopback"},   // in hex
		{"017700000001", "loopback"}, // in octal
		{"0177.0.0.1", "loopback"},
		{"127.1", "loopback"},
		{"0x7f.1", "loopback"},
		{"3232235777", "private"},    // 192.168.1.1
		{"0xA9FEA9FE", "link-local"}, // 169.254.169.254
		{"0", "unspecified"},
		{"example.com", ""},
		{"support-1234-dev.twil.io", ""},
		{"8.8.8.8", ""},   // canonical literals are judged at dial time
		{"127.0.0.1", ""}, // likewise (and refused there)
		{"0x", ""},        // not a number: a (bad) name for DNS to fail on
		{"1.2.3.4.5", ""},
	}
	for _, tt := range tests {
		err := p.CheckHost(tt.host, "80")
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), "("+tt.want+" address)")) {
			t.Errorf("CheckHost(%q) = %v, want %q", tt.host, err, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	p, err := outbound.Parse([]string{"10.20.0.0/16", "192.168.1.7", "[fd00::7]:8443", "billing.internal", "Ledger.Internal:9000", "127.0.0.1:8082"})
	if err != nil {
		t.Fatal(err)
	}
	allowed := []struct {
		addr, port string
		ok         bool
	}{
		{"10.20.3.4", "80", true},
		{"10.21.0.1", "80", false},
		{"192.168.1.7", "1", true},
		{"192.168.1.8", "1", false},
		{"fd00::7", "8443", true},
		{"fd00::7", "443", false},
		{"127.0.0.1", "8082", true},
		{"127.0.0.1", "8083", false},
		{"::ffff:10.20.0.1", "80", true},
	}
	for _, tt := range allowed {
		if err := p.CheckAddr(netip.MustParseAddr(tt.addr), tt.port); (err == nil) != tt.ok {
			t.Errorf("CheckAddr(%s:%s) = %v, want allowed %v", tt.addr, tt.port, err, tt.ok)
		}
	}
	for _, tt := range []struct {
		host, port string
		ok         bool
	}{
		{"billing.internal", "443", true},
		{"BILLING.internal.", "80", true},
		{"ledger.internal", "9000", true},
		{"ledger.internal", "9001", false},
		{"other.internal", "80", false},
	} {
		if got := p.HostAllowed(tt.host, tt.port); got != tt.ok {
			t.Errorf("HostAllowed(%s, %s) = %v, want %v", tt.host, tt.port, got, tt.ok)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "nope/8", "host:99999", "host:http", "bad host", "[::1"} {
		if _, err := outbound.Parse([]string{bad}); err == nil || !strings.Contains(err.Error(), "--allow-outbound") {
			t.Errorf("Parse(%q) = %v, want an --allow-outbound error", bad, err)
		}
	}
}

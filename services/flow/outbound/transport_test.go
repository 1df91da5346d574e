package outbound_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/convoflow/convoflow/services/flow/outbound"
)

// target is a listener on the test machine's loopback that counts the
// requests reaching it: a refused request must never arrive.
type target struct {
	*httptest.Server
	hits atomic.Int64
}

func newTarget(t *testing.T, addr string, h http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tg.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		_, _ = io.WriteString(w, "reached")
	}))
	tg.Listener.Close()
	tg.Listener = ln
	tg.Start()
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) port() string { _, p, _ := net.SplitHostPort(tg.Listener.Addr().String()); return p }

// dnsTo answers every A query with addr, as a rebinding attacker's DNS
// server answers for the name a flow calls.
func dnsTo(t *testing.T, addr netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) == 0 {
				continue
			}
			q := m.Questions[0]
			m.Header.Response, m.Header.Authoritative = true, true
			m.Answers = nil
			if q.Type == dnsmessage.TypeA {
				m.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 1},
					Body:   &dnsmessage.AResource{A: addr.As4()},
				}}
			}
			out, err := m.Pack()
			if err == nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestClient_refuses(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, "127.0.0.1:0", nil)
	port := tg.port()
	// A "public" server (allowed by CIDR, on another loopback address)
	// that redirects into the refused one.
	redirector := newTarget(t, "127.0.0.2:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:"+port+"/", http.StatusFound)
	})
	p, err := outbound.Parse([]string{"127.0.0.2/32"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Client(outbound.ClientOptions{Resolver: dnsTo(t, netip.MustParseAddr("127.0.0.1"))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	for _, url := range []string{
		"http://127.0.0.1:" + port + "/",
		"http://localhost:" + port + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/",
		"http://2130706433:" + port + "/",
		"http://0x7f.1:" + port + "/",
		"http://rebound.example.com:" + port + "/", // DNS answers 127.0.0.1
		"http://127.0.0.2:" + redirector.port() + "/",
	} {
		_, err := get(t, c, url)
		if !outbound.IsRefused(err) {
			t.Errorf("GET %s = %v, want a policy refusal", url, err)
		}
	}
	if n := tg.hits.Load(); n != 0 {
		t.Errorf("the refused target was reached %d times", n)
	}
	if redirector.hits.Load() != 1 {
		t.Errorf("the allowed redirector was reached %d times, want 1", redirector.hits.Load())
	}
}

func TestClient_allows(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, "127.0.0.1:0", nil)
	port := tg.port()
	tests := []struct {
		name  string
		allow []string
		opts  outbound.ClientOptions
		url   string
	}{
		{"cidr", []string{"127.0.0.0/8"}, outbound.ClientOptions{}, "http://127.0.0.1:" + port + "/"},
		{"address_and_port", []string{"127.0.0.1:" + port}, outbound.ClientOptions{}, "http://127.0.0.1:" + port + "/"},
		{"host_name", []string{"localhost:" + port}, outbound.ClientOptions{}, "http://localhost:" + port + "/"},
		{"function_map_target", nil, outbound.ClientOptions{Exempt: []string{"http://127.0.0.1:" + port + "/functions"}}, "http://127.0.0.1:" + port + "/functions/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := outbound.Parse(tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			c, err := p.Client(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.CloseIdleConnections)
			if body, err := get(t, c, tt.url); err != nil || body != "reached" {
				t.Errorf("GET %s = %q, %v", tt.url, body, err)
			}
		})
	}
	// An exemption is for its host and port only.
	p, _ := outbound.Parse(nil)
	c, err := p.Client(outbound.ClientOptions{Exempt: []string{"http://127.0.0.1:1/functions"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, "http://127.0.0.1:"+port+"/"); !outbound.IsRefused(err) {
		t.Errorf("another port of an exempt host: %v, want refused", err)
	}
}

func TestClient_capsRedirects(t *testing.T) {
	t.Parallel()
	var loop *target
	loop = newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	})
	p, _ := outbound.Parse([]string{"127.0.0.1/32"})
	c, err := p.Client(outbound.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	_, err = get(t, c, loop.URL)
	if err == nil || !strings.Contains(err.Error(), "stopped after 5 redirects") {
		t.Errorf("redirect loop: %v, want stopped after 5", err)
	}
	if n := loop.hits.Load(); n != outbound.MaxRedirects+1 {
		t.Errorf("%d requests reached the loop, want %d", n, outbound.MaxRedirects+1)
	}
}

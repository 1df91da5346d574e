package serve_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/serve"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files into dir and returns their paths and the certificate.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func TestServer_tls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, cert := writeCert(t, dir, "first")
	ts := startServer(t, 0, func(c *serve.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	if !strings.HasPrefix(ts.url, "https://") {
		t.Fatalf("URL() = %q, want https", ts.url)
	}
	trusting := func(cert *x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}

	// HTTP/2 by ALPN, and gRPC over it from connect and grpc-go.
	resp, err := trusting(cert).Get(ts.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("/healthz over %s, want HTTP/2", resp.Proto)
	}
	c := flowv1connect.NewFlowServiceClient(trusting(cert), ts.url, connect.WithGRPC())
	if res, err := c.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "FW1"}); err != nil || res.GetFlow().GetSid() != "FW1" {
		t.Errorf("connect gRPC over TLS: %v, %v", res, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if res, err := flowv1.NewFlowServiceClient(conn).GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "FW2"}); err != nil || res.GetFlow().GetSid() != "FW2" {
		t.Errorf("grpc-go over TLS: %v, %v", res, err)
	}
	// Plaintext is not served any more (net/http answers 400 "client sent
	// an HTTP request to an HTTPS server").
	if resp, err := http.Get("http://" + ts.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on a TLS server")
		}
	}

	// A renewed certificate is served after Reload, without a restart.
	certFile2, keyFile2, cert2 := writeCert(t, t.TempDir(), "second")
	for _, f := range [][2]string{{certFile2, certFile}, {keyFile2, keyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, err = trusting(cert2).Get(ts.url + "/healthz")
	if err != nil {
		t.Fatalf("after reload, with the new certificate trusted: %v", err)
	}
	resp.Body.Close()
	if got := resp.TLS.PeerCertificates[0].Subject.CommonName; got != "second" {
		t.Errorf("after reload the server presents %q", got)
	}

	// A broken file keeps the certificate in use.
	if err := os.WriteFile(certFile, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Reload(); err == nil {
		t.Error("Reload of a broken certificate succeeded")
	}
	resp, err = trusting(cert2).Get(ts.url + "/healthz")
	if err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	resp.Body.Close()
}

func TestNew_tlsErrors(t *testing.T) {
	t.Parallel()
	path, h := flowv1connect.NewFlowServiceHandler(newTestFlowService())
	certFile, _, _ := writeCert(t, t.TempDir(), "x")
	for _, tt := range []struct{ cert, key, want string }{
		{certFile, "", "go together"},
		{"", certFile, "go together"},
		{certFile, certFile, "--tls-cert"},
		{filepath.Join(t.TempDir(), "nope.pem"), certFile, "no such file"},
	} {
		_, err := serve.New(serve.Config{
			Name: "x", Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
			Services:    []serve.Service{{Name: flowv1connect.FlowServiceName, Path: path, Handler: h}},
			TLSCertFile: tt.cert, TLSKeyFile: tt.key,
		})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(cert=%q, key=%q) = %v, want %q", tt.cert, tt.key, err, tt.want)
		}
	}
}

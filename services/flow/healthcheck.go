package flow

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/convoflow/convoflow/internal/flagenv"
)

// Healthcheck is `flowservice healthcheck`: it asks the server that
// --listen (or FLOWSERVICE_LISTEN) names for GET /healthz and fails unless
// it answers 200, which it does while the service is serving and not
// shutting down. The images have no shell or curl, so a container health
// check (HEALTHCHECK, compose's healthcheck) runs the binary itself.
func Healthcheck(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("flowservice healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", DefaultConfig().Listen, "the address the service listens on; 0.0.0.0 and :: are asked on loopback")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	tlsCert := fs.String("tls-cert", "", "the service's --tls-cert: when set, ask over HTTPS")
	if err := flagenv.Parse(fs, EnvPrefix, args, getenv); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("healthcheck: --listen %q: %w", *listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	scheme, client := "http", http.DefaultClient
	if *tlsCert != "" {
		// The probe asks its own process's port on loopback, under a name
		// the certificate is not for; what it checks is liveness, and no
		// secret crosses, so the certificate is not verified.
		scheme = "https"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	}
	url := scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}

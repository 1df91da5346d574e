package flow

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	ts := startService(t, serviceOptions{})
	_, port, err := net.SplitHostPort(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	none := func(string) string { return "" }
	var stderr bytes.Buffer
	// 0.0.0.0, as the image listens, is asked on loopback.
	if err := Healthcheck(t.Context(), []string{"--listen", "0.0.0.0:" + port}, none, &stderr); err != nil {
		t.Errorf("healthcheck of a serving service: %v", err)
	}
	env := func(k string) string {
		if k == "FLOWSERVICE_LISTEN" {
			return ts.addr
		}
		return ""
	}
	if err := Healthcheck(t.Context(), nil, env, &stderr); err != nil {
		t.Errorf("healthcheck with FLOWSERVICE_LISTEN: %v", err)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	err = Healthcheck(t.Context(), []string{"--listen", ts.addr}, none, &stderr)
	if err == nil || !strings.HasPrefix(err.Error(), "healthcheck: ") {
		t.Errorf("healthcheck of a stopped service = %v, want an error", err)
	}
	if err := Healthcheck(t.Context(), []string{"--listen", "nonsense"}, none, &stderr); err == nil {
		t.Error("healthcheck accepted --listen nonsense")
	}
}

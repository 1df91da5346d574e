package participant_test

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/grpcurltest"
	"github.com/convoflow/convoflow/services/participant"
)

var listeningRE = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// runProgram starts participant.Run, the binary's entry point, with args
// and env on 127.0.0.1:0, and returns the address it logged.
func runProgram(t *testing.T, args []string, env map[string]string) string {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- participant.Run(ctx, args, func(k string) string { return env[k] }, &bytes.Buffer{}, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after cancellation")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRE.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v\n%s", err, logs)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("no \"listening on\" line in the log:\n%s", logs)
	return ""
}

// fakeEnv configures the service by environment variables alone, as a
// container would.
func fakeEnv(fake *conversations.Server) map[string]string {
	return map[string]string{
		"PARTICIPANTSERVICE_LISTEN":                "127.0.0.1:0",
		"PARTICIPANTSERVICE_CONVERSATIONS_URL":     fake.URL(),
		"PARTICIPANTSERVICE_ACCOUNT_SID":           fake.AccountSid(),
		"PARTICIPANTSERVICE_AUTH_TOKEN":            fake.AuthToken(),
		"PARTICIPANTSERVICE_DEFAULT_PROXY_ADDRESS": twilioNumber,
	}
}

func TestRun_config(t *testing.T) {
	t.Parallel()
	t.Run("help_names_every_env_var", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		if err := participant.Run(t.Context(), []string{"--help"}, func(string) string { return "" }, &out, &out); err != nil {
			t.Fatal(err)
		}
		for _, flag := range []string{"listen", "conversations-url", "account-sid", "auth-token", "agents", "default-proxy-address", "log-level"} {
			env := "PARTICIPANTSERVICE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
			if !strings.Contains(out.String(), "-"+flag) || !strings.Contains(out.String(), env) {
				t.Errorf("--help lacks --%s or %s:\n%s", flag, env, out.String())
			}
		}
		if !strings.Contains(out.String(), `default "127.0.0.1:8082"`) {
			t.Errorf("--help does not show the default listen address:\n%s", out.String())
		}
	})
	bad := []struct {
		name string
		args []string
		want []string
	}{
		{"missing_credentials", nil, []string{"--account-sid", "--auth-token"}},
		{"bad_proxy", []string{"--account-sid=AC1", "--auth-token=t", "--default-proxy-address=12345"}, []string{"--default-proxy-address"}},
		{"bad_log_level", []string{"--log-level=loud"}, []string{"log-level"}},
		{"stray_argument", []string{"--account-sid=AC1", "--auth-token=t", "serve"}, []string{"unexpected arguments"}},
		{"missing_roster", []string{"--account-sid=AC1", "--auth-token=t", "--agents=" + filepath.Join(t.TempDir(), "none.yaml")}, []string{"none.yaml"}},
		{"bad_urls", []string{"--account-sid=AC1", "--auth-token=t", "--conversations-url=ftp://x", "--public-url=nope"}, []string{"--conversations-url", "--public-url"}},
		{"reachable_without_keys", []string{"--account-sid=AC1", "--auth-token=t", "--listen=0.0.0.0:0"}, []string{"refusing to serve without API keys", "--insecure-no-auth"}},
		{"bad_keys_and_tls", []string{"--account-sid=AC1", "--auth-token=t", "--api-key=short", "--tls-key=/nonexistent"}, []string{"at least 16 characters", "--tls-cert and --tls-key go together"}},
		{"bad_metrics_listen", []string{"--account-sid=AC1", "--auth-token=t", "--metrics-listen=nope"}, []string{"--metrics-listen"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := participant.Run(t.Context(), tt.args, func(string) string { return "" }, &out, &out)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestRun_grpcurl drives a running participantservice with grpcurl
// -plaintext, the way operators explore it: list, describe, a call and
// health, all through reflection. It needs grpcurl on PATH or in
// $(go env GOPATH)/bin (go install
// github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4); without it the test
// skips, unless CONVOFLOW_REQUIRE_GRPCURL=1 (see grpcurltest).
func TestRun_grpcurl(t *testing.T) {
	t.Parallel()
	grpcurl := grpcurltest.Path(t)
	fake := startFake(t)
	addr := runProgram(t, nil, fakeEnv(fake))
	conv := newConversation(t, fake)
	svc := participantv1connect.ParticipantServiceName
	grpcurltest.Run(t, grpcurl, addr, []grpcurltest.Case{
		{Name: "list", Args: []string{"list"}, Want: []string{svc, "grpc.health.v1.Health"}},
		{Name: "list_methods", Args: []string{"list", svc}, Want: []string{svc + ".AddParticipant", svc + ".AddSupportAgent", svc + ".ListAgents"}},
		{Name: "describe", Args: []string{"describe", svc}, Want: []string{
			"rpc AddParticipant ( .convoflow.participant.v1.AddParticipantRequest ) returns ( .convoflow.participant.v1.AddParticipantResponse )",
		}},
		{Name: "describe_message", Args: []string{"describe", "convoflow.participant.v1.MessagingBinding"}, Want: []string{"string proxy_address = 3;"}},
		{Name: "add_participant", Args: []string{"-d", `{"conversation_sid":"` + conv + `","messaging_binding":{"address":"+15559990001"}}`, svc + "/AddParticipant"}, Want: []string{
			`"sid": "MB`, `"proxyAddress": "` + twilioNumber + `"`,
		}},
		{Name: "health", Args: []string{"-d", `{"service":"` + svc + `"}`, "grpc.health.v1.Health/Check"}, Want: []string{`"status": "SERVING"`}},
		{Name: "health_server", Args: []string{"grpc.health.v1.Health/Check"}, Want: []string{`"status": "SERVING"`}},
	})
}

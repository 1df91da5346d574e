//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twilio/twilio-go"

	"github.com/convoflow/convoflow/fakes/conversations/fakeclient"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/twilioclient"
)

// The shared test account: the fake's documented credentials.
const (
	accountSid   = "AC00000000000000000000000000000000"
	authToken    = "faketoken123"
	twilioNumber = "+15005550100"
	// functionHost is the Twilio Functions domain the exported demo flow
	// calls; FlowService maps it to ParticipantService.
	functionHost = "https://support-1234-dev.twil.io"
)

func TestMain(m *testing.M) {
	// Without Ryuk nothing reaps containers of a killed run; .ci/run sweeps
	// them. The value must be exactly "true" (tooling.md §1.3).
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") != "true" {
		fmt.Fprintln(os.Stderr, "e2e: set TESTCONTAINERS_RYUK_DISABLED=true (no registry here to pull Ryuk from); `make e2e` does")
		os.Exit(2)
	}
	// Ports are published on 127.0.0.1 only; without this testcontainers
	// reports the host as "localhost", which may resolve to ::1 first.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	os.Exit(m.Run())
}

func imageTag() string {
	if t := os.Getenv("CONVOFLOW_IMAGE_TAG"); t != "" {
		return t
	}
	return "dev"
}

// server is one container of the stack.
type server struct {
	name string // image name and network alias
	port string // container port, e.g. "8081/tcp"
	c    *testcontainers.DockerContainer
}

// URL is the server's address as seen from the test (host side). It is read
// anew on every call: a restarted container gets a new host port.
func (s *server) URL(t testing.TB) string {
	t.Helper()
	ep, err := s.c.PortEndpoint(t.Context(), s.port, "http")
	if err != nil {
		t.Fatalf("%s endpoint: %v", s.name, err)
	}
	return ep
}

// Stop stops the container (SIGTERM, then SIGKILL after 10 s).
func (s *server) Stop(t testing.TB) {
	t.Helper()
	timeout := 10 * time.Second
	if err := s.c.Stop(t.Context(), &timeout); err != nil {
		t.Fatalf("stop %s: %v", s.name, err)
	}
}

// Start starts a stopped container again and waits until it is healthy.
func (s *server) Start(t testing.TB) {
	t.Helper()
	if err := s.c.Start(t.Context()); err != nil {
		t.Fatalf("start %s: %v", s.name, err)
	}
}

// stack is the three servers on their own network.
type stack struct {
	fake, flow, participant *server
}

// startStack starts the fake, FlowService and ParticipantService wired as
// docker/compose.yaml wires them: by network alias, with the fake delivering
// studio webhooks to FlowService and FlowService sending the tutorial's
// Function domain to ParticipantService. Everything is removed when the test
// ends.
func startStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	creds := []string{"--account-sid", accountSid, "--auth-token", authToken}
	s := &stack{}
	s.fake = run(ctx, t, nw, "fakeconversations", "8083/tcp", "/_fake/healthz",
		append([]string{"--studio-url", "http://flowservice:8081", "--log-level", "debug"}, creds...)...)
	s.flow = run(ctx, t, nw, "flowservice", "8081/tcp", "/healthz",
		append([]string{
			"--conversations-url", "http://fakeconversations:8083",
			"--public-url", "http://flowservice:8081",
			"--function-map", functionHost + "=http://participantservice:8082/functions",
		}, creds...)...)
	s.participant = run(ctx, t, nw, "participantservice", "8082/tcp", "/healthz",
		append([]string{
			"--conversations-url", "http://fakeconversations:8083",
			"--agents", "/agents.yaml",
			"--default-proxy-address", twilioNumber,
		}, creds...)...)
	return s
}

func run(ctx context.Context, t *testing.T, nw *testcontainers.DockerNetwork, name, port, health string, args ...string) *server {
	t.Helper()
	containerPort := mobynet.MustParsePort(port)
	opts := []testcontainers.ContainerCustomizer{
		network.WithNetwork([]string{name}, nw),
		testcontainers.WithCmd(args...),
		testcontainers.WithExposedPorts(port),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			// Publish on loopback only, never on every interface.
			hc.PortBindings = mobynet.PortMap{containerPort: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}}}
		}),
		testcontainers.WithWaitStrategy(wait.ForHTTP(health).WithPort(port).
			WithStartupTimeout(60 * time.Second)),
	}
	if name == "participantservice" {
		opts = append(opts, testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath: "../examples/agents.yaml", ContainerFilePath: "/agents.yaml", FileMode: 0o644,
		}))
	}
	c, err := testcontainers.Run(ctx, "convoflow/"+name+":"+imageTag(), opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	return &server{name: name, port: port, c: c}
}

func (s *stack) fakeClient(t testing.TB) *fakeclient.Client { return fakeclient.New(s.fake.URL(t)) }

func (s *stack) flowClient(t testing.TB) flowv1connect.FlowServiceClient {
	return flowv1connect.NewFlowServiceClient(http.DefaultClient, s.flow.URL(t))
}

func (s *stack) participantClient(t testing.TB) participantv1connect.ParticipantServiceClient {
	return participantv1connect.NewParticipantServiceClient(http.DefaultClient, s.participant.URL(t))
}

// twilio is the official SDK pointed at the fake, as a user's code would be.
func (s *stack) twilio(t testing.TB) *twilio.RestClient {
	t.Helper()
	rc, err := twilioclient.New(twilioclient.Options{AccountSID: accountSid, AuthToken: authToken, BaseURL: s.fake.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

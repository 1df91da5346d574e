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
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twilio/twilio-go"

	"github.com/convoflow/convoflow/fakes/conversations/fakeclient"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
	"github.com/convoflow/convoflow/internal/pgtest"
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
	name string // network alias
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

// stack is the three servers on their own network. In a replica stack
// flow is replica A, which the test's RPCs go to, and flowB replica B,
// which the fake delivers webhooks to.
type stack struct {
	fake, flow, participant *server
	flowB                   *server
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
	s := &stack{}
	s.fake = runFake(ctx, t, nw, "flowservice")
	s.flow = runFlow(ctx, t, nw, "flowservice")
	s.participant = runParticipant(ctx, t, nw)
	return s
}

// startReplicaStack is startStack with two FlowService replicas, A and B,
// on one PostgreSQL: a cluster of the test's own on the host, listening
// only on the test network's gateway address, which the containers reach
// and nothing outside the host does. The fake delivers webhooks to B, so
// B runs the conversations the test starts.
func startReplicaStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	pg := pgtest.Start(t, pgtest.Options{ListenAddresses: []string{gatewayOf(ctx, t, nw)}, Password: true})
	dsn := pg.DSN("")
	s := &stack{}
	s.fake = runFake(ctx, t, nw, "flowservice-b")
	s.flow = runFlow(ctx, t, nw, "flowservice-a", "--db", dsn)
	s.flowB = runFlow(ctx, t, nw, "flowservice-b", "--db", dsn)
	s.participant = runParticipant(ctx, t, nw)
	return s
}

var creds = []string{"--account-sid", accountSid, "--auth-token", authToken}

// apiKey is the key both services require, given as deployments give
// secrets: in the environment (FLOWSERVICE_API_KEY, PARTICIPANTSERVICE_API_KEY).
const apiKey = "e2e-api-key-0123456789abcdef"

// runFake starts the fake delivering Studio webhooks to the FlowService
// at alias studio.
func runFake(ctx context.Context, t *testing.T, nw *testcontainers.DockerNetwork, studio string) *server {
	return run(ctx, t, nw, "fakeconversations", "fakeconversations", "8083/tcp", "/_fake/healthz",
		append([]string{"--studio-url", "http://" + studio + ":8081", "--log-level", "debug"}, creds...)...)
}

// runFlow starts a FlowService reachable as alias, with the tutorial's
// Function domain mapped to ParticipantService.
func runFlow(ctx context.Context, t *testing.T, nw *testcontainers.DockerNetwork, alias string, extra ...string) *server {
	args := append([]string{
		"--conversations-url", "http://fakeconversations:8083",
		"--public-url", "http://" + alias + ":8081",
		"--function-map", functionHost + "=http://participantservice:8082/functions",
	}, creds...)
	return run(ctx, t, nw, "flowservice", alias, "8081/tcp", "/healthz", append(args, extra...)...)
}

func runParticipant(ctx context.Context, t *testing.T, nw *testcontainers.DockerNetwork) *server {
	return run(ctx, t, nw, "participantservice", "participantservice", "8082/tcp", "/healthz",
		append([]string{
			"--conversations-url", "http://fakeconversations:8083",
			"--agents", "/agents.yaml",
			"--default-proxy-address", twilioNumber,
			// The URL FlowService calls (its --function-map target),
			// which the X-Twilio-Signature it sends covers.
			"--public-url", "http://participantservice:8082",
		}, creds...)...)
}

// gatewayOf returns the host's address on nw, which its containers route
// to the host through.
func gatewayOf(ctx context.Context, t *testing.T, nw *testcontainers.DockerNetwork) string {
	t.Helper()
	cli := dockerClient(ctx, t)
	res, err := cli.NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
	if err != nil {
		t.Fatalf("inspect network %s: %v", nw.Name, err)
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.Is4() {
			return c.Gateway.String()
		}
	}
	t.Fatalf("network %s has no IPv4 gateway: %+v", nw.Name, res.Network.IPAM.Config)
	return ""
}

func dockerClient(ctx context.Context, t testing.TB) *testcontainers.DockerClient {
	t.Helper()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Kill sends the container SIGKILL: the process dies at once, with no
// drain and no hand-back, as when its machine is lost.
func (s *server) Kill(t testing.TB) {
	t.Helper()
	cli := dockerClient(t.Context(), t)
	if _, err := cli.ContainerKill(t.Context(), s.c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatalf("kill %s: %v", s.name, err)
	}
}

// Pause freezes the container's processes: connections to it stay open
// and requests hang, as with a server stuck in a long call.
func (s *server) Pause(t testing.TB) {
	t.Helper()
	cli := dockerClient(t.Context(), t)
	if _, err := cli.ContainerPause(t.Context(), s.c.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		t.Fatalf("pause %s: %v", s.name, err)
	}
}

// Unpause lets a paused container's processes run again.
func (s *server) Unpause(t testing.TB) {
	t.Helper()
	cli := dockerClient(t.Context(), t)
	if _, err := cli.ContainerUnpause(t.Context(), s.c.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		t.Fatalf("unpause %s: %v", s.name, err)
	}
}

// run starts image as a container reachable on nw as alias, publishing
// port on the host's loopback.
func run(ctx context.Context, t *testing.T, nw *testcontainers.DockerNetwork, image, alias, port, health string, args ...string) *server {
	t.Helper()
	containerPort := mobynet.MustParsePort(port)
	opts := []testcontainers.ContainerCustomizer{
		network.WithNetwork([]string{alias}, nw),
		testcontainers.WithCmd(args...),
		testcontainers.WithEnv(map[string]string{"FLOWSERVICE_API_KEY": apiKey, "PARTICIPANTSERVICE_API_KEY": apiKey}),
		testcontainers.WithExposedPorts(port),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			// Publish on loopback only, never on every interface.
			hc.PortBindings = mobynet.PortMap{containerPort: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}}}
		}),
		testcontainers.WithWaitStrategy(wait.ForHTTP(health).WithPort(port).
			WithStartupTimeout(60 * time.Second)),
	}
	if image == "participantservice" {
		opts = append(opts, testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath: "../examples/agents.yaml", ContainerFilePath: "/agents.yaml", FileMode: 0o644,
		}))
	}
	c, err := testcontainers.Run(ctx, "convoflow/"+image+":"+imageTag(), opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("run %s: %v", alias, err)
	}
	return &server{name: alias, port: port, c: c}
}

func (s *stack) fakeClient(t testing.TB) *fakeclient.Client { return fakeclient.New(s.fake.URL(t)) }

// keyed is the HTTP client the services' RPC clients use: it sends the
// API key.
var keyed = &http.Client{Transport: apikey.RoundTripper(apiKey, nil)}

func (s *stack) flowClient(t testing.TB) flowv1connect.FlowServiceClient {
	return flowv1connect.NewFlowServiceClient(keyed, s.flow.URL(t))
}

func (s *stack) participantClient(t testing.TB) participantv1connect.ParticipantServiceClient {
	return participantv1connect.NewParticipantServiceClient(keyed, s.participant.URL(t))
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

package participant_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/convoflow/convoflow/fakes/conversations"
	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/services/participant"
)

// Agents' own phones and two more Twilio numbers to bind them elsewhere.
const (
	alicePhone = "+15005550001"
	bobPhone   = "+15005550002"
	carolPhone = "+15005550003"
	davePhone  = "+15005550004"
	erinPhone  = "+15005550005"
	otherProxy = "+15017129990"
	thirdProxy = "+15017129991"
)

const teamRoster = `
agents:
  - name: alice
    address: "` + alicePhone + `"
    proxy_address: "` + twilioNumber + `"
    capacity: 2
    pools: [support]
  - name: bob
    address: "` + bobPhone + `"
    capacity: 1
    pools: [support, billing]
  - name: carol
    address: "` + carolPhone + `"
    proxy_address: "` + twilioNumber + `"
    capacity: 3
    pools: [sales]
`

// agentService runs a fake and a service with the roster, and returns the
// service's client through each stack, each on its own fake (loads are
// read from the fake, so stacks must not share one).
func agentServices(t *testing.T, rosterYAML string) map[string]agentEnv {
	t.Helper()
	out := map[string]agentEnv{}
	for _, stack := range []string{"connect", "grpc_go"} {
		fake := startFake(t)
		path := writeRoster(t, rosterYAML)
		ts := startService(t, fake, func(c *participant.Config) { c.Agents = path })
		out[stack] = agentEnv{fake: fake, ts: ts, c: clients(t, ts)[stack], roster: path}
	}
	return out
}

type agentEnv struct {
	fake   *conversations.Server
	ts     *testService
	c      participantv1connect.ParticipantServiceClient
	roster string
}

func addAgent(t *testing.T, c participantv1connect.ParticipantServiceClient, conv string, pool string) (*participantv1.AddSupportAgentResponse, error) {
	t.Helper()
	req := &participantv1.AddSupportAgentRequest{ConversationSid: conv}
	if pool != "" {
		req.Pool = &pool
	}
	return c.AddSupportAgent(t.Context(), req)
}

func loadsOf(t *testing.T, c participantv1connect.ParticipantServiceClient, pool string) map[string]int32 {
	t.Helper()
	res, err := c.ListAgents(t.Context(), &participantv1.ListAgentsRequest{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int32{}
	for _, a := range res.GetAgents() {
		out[a.GetName()] = a.GetLoad()
	}
	return out
}

// The load comes from Conversations: open conversations count, closed ones
// do not; the least loaded agent under capacity is chosen until none is
// left.
func TestAddSupportAgent_leastLoadedUnderCapacity(t *testing.T) {
	t.Parallel()
	for stack, env := range agentServices(t, teamRoster) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			fake, c := env.fake, env.c
			// alice already serves one open conversation (through another
			// number) and served one that is closed now.
			addBinding(t, fake, newConversation(t, fake), alicePhone, otherProxy)
			closed := newConversation(t, fake)
			addBinding(t, fake, closed, alicePhone, thirdProxy)
			closeConversation(t, fake, closed)

			if got := loadsOf(t, c, ""); got["alice"] != 1 || got["bob"] != 0 || got["carol"] != 0 {
				t.Fatalf("loads = %v, want alice 1, bob 0, carol 0", got)
			}

			steps := []struct {
				pool      string
				wantAgent string // "" = ResourceExhausted
				wantLoad  int32
			}{
				{pool: "support", wantAgent: "bob", wantLoad: 0},
				{pool: "support", wantAgent: "alice", wantLoad: 1},
				{pool: "support"},
				{pool: "billing"},
				{pool: "sales", wantAgent: "carol", wantLoad: 0},
				{pool: "nobody"},
			}
			for i, st := range steps {
				conv := newConversation(t, fake)
				res, err := addAgent(t, c, conv, st.pool)
				if st.wantAgent == "" {
					e := errorOf(t, err)
					if e.code != connect.CodeResourceExhausted || !strings.Contains(e.message, "no support agent available") {
						t.Fatalf("step %d: %v %q, want ResourceExhausted", i, e.code, e.message)
					}
					if n := requestsFor(fake, "POST", conv); n != 0 {
						t.Fatalf("step %d: %d creates sent with no agent available", i, n)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if res.GetAgent().GetName() != st.wantAgent || res.GetAgent().GetLoad() != st.wantLoad || res.GetAlreadyPresent() {
					t.Fatalf("step %d: agent = %v, already_present %v; want %s with load %d", i, res.GetAgent(), res.GetAlreadyPresent(), st.wantAgent, st.wantLoad)
				}
				ps := fake.Participants(conv)
				if len(ps) != 1 || ps[0].Binding == nil || ps[0].Binding.Address != res.GetAgent().GetAddress() || ps[0].Binding.ProxyAddress != twilioNumber {
					t.Fatalf("step %d: fake holds %+v", i, ps)
				}
				// bob has no number in the roster: the service's default
				// is his.
				if a := res.GetAgent(); a.GetProxyAddress() != twilioNumber || !slices.Equal(a.GetProxyAddresses(), []string{twilioNumber}) {
					t.Fatalf("step %d: agent numbers %s %v, want %s", i, a.GetProxyAddress(), a.GetProxyAddresses(), twilioNumber)
				}
				if !strings.Contains(ps[0].Attributes, st.wantAgent) {
					t.Errorf("step %d: participant attributes %q do not name the agent", i, ps[0].Attributes)
				}
			}
			if got := loadsOf(t, c, "support"); len(got) != 2 || got["alice"] != 2 || got["bob"] != 1 {
				t.Fatalf("support loads = %v, want alice 2, bob 1", got)
			}
		})
	}
}

const pairRoster = `
agents:
  - name: dave
    address: "` + davePhone + `"
    proxy_address: "` + twilioNumber + `"
    capacity: 5
  - name: erin
    address: "` + erinPhone + `"
    proxy_address: "` + twilioNumber + `"
    capacity: 5
`

func TestAddSupportAgent_skipsAgentsPresentOrHeldElsewhere(t *testing.T) {
	t.Parallel()
	for stack, env := range agentServices(t, pairRoster) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			fake, c := env.fake, env.c
			// erin is busier than dave: two open conversations.
			addBinding(t, fake, newConversation(t, fake), erinPhone, otherProxy)
			addBinding(t, fake, newConversation(t, fake), erinPhone, thirdProxy)

			// dave is already in conv: erin is chosen although busier.
			conv := newConversation(t, fake)
			addBinding(t, fake, conv, davePhone, otherProxy)
			res, err := addAgent(t, c, conv, "")
			if err != nil {
				t.Fatal(err)
			}
			if res.GetAgent().GetName() != "erin" {
				t.Fatalf("agent = %s, want erin (dave is in the conversation)", res.GetAgent().GetName())
			}

			// Through one proxy number an agent serves one conversation at a
			// time; closing conv releases erin's binding.
			closeConversation(t, fake, conv)

			// dave's binding through the roster's number is held by an open
			// conversation (the load read shows it): the service tries erin
			// without a call for dave.
			holder := newConversation(t, fake)
			addBinding(t, fake, holder, davePhone, twilioNumber)
			conv2 := newConversation(t, fake)
			res, err = addAgent(t, c, conv2, "")
			if err != nil {
				t.Fatal(err)
			}
			if res.GetAgent().GetName() != "erin" {
				t.Fatalf("agent = %s, want erin (dave's number is held by %s)", res.GetAgent().GetName(), holder)
			}
			if n := requestsFor(fake, "POST", conv2+"/Participants"); n != 1 {
				t.Fatalf("%d creates, want 1 (dave passed over, erin added)", n)
			}

			// erin's binding is now held by conv2: nobody is left, and the
			// message says why.
			_, err = addAgent(t, c, newConversation(t, fake), "")
			e := errorOf(t, err)
			if e.code != connect.CodeResourceExhausted || !strings.Contains(e.message, "held by open conversation "+holder) {
				t.Fatalf("%v %q, want ResourceExhausted naming %s", e.code, e.message, holder)
			}
		})
	}
}

const multiProxyRoster = `
agents:
  - name: frank
    address: "` + alicePhone + `"
    proxy_addresses: ["` + twilioNumber + `", "` + otherProxy + `", "` + thirdProxy + `"]
    capacity: 3
`

// An agent with several numbers takes one open conversation through each:
// numbers held elsewhere are passed over, and a number taken between the
// load read and the create (Twilio's 50416) sends the service to the next.
func TestAddSupportAgent_severalNumbers(t *testing.T) {
	t.Parallel()
	for stack, env := range agentServices(t, multiProxyRoster) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			fake, c := env.fake, env.c
			proxyOf := func(conv string) string {
				t.Helper()
				res, err := addAgent(t, c, conv, "")
				if err != nil {
					t.Fatal(err)
				}
				if res.GetAgent().GetName() != "frank" || res.GetAlreadyPresent() {
					t.Fatalf("response = %v", res)
				}
				proxy := res.GetParticipant().GetMessagingBinding().GetProxyAddress()
				if res.GetAgent().GetProxyAddress() != proxy {
					t.Fatalf("agent.proxy_address = %s, participant bound through %s", res.GetAgent().GetProxyAddress(), proxy)
				}
				return proxy
			}

			// The first number is free: it is used.
			first := newConversation(t, fake)
			if got := proxyOf(first); got != twilioNumber {
				t.Fatalf("first add through %s, want %s", got, twilioNumber)
			}

			// The second number was taken by a conversation between the
			// load read and the create: the fake answers 50416 once, and
			// the service goes on to the third number.
			second := newConversation(t, fake)
			thief := newConversation(t, fake)
			if _, err := fake.InjectFault(conversations.Fault{
				Method: "POST", Path: "/v1/Conversations/" + second + "/Participants", Count: 1,
				Status: 409, Code: 50416,
				Message: "A binding for this participant and proxy address already exists in Conversation " + thief,
			}); err != nil {
				t.Fatal(err)
			}
			if got := proxyOf(second); got != thirdProxy {
				t.Fatalf("second add through %s, want %s (the next number after a 50416)", got, thirdProxy)
			}
			if n := requestsFor(fake, "POST", second+"/Participants"); n != 2 {
				t.Fatalf("%d creates, want 2 (the 50416, then the next number)", n)
			}

			// One number is left, read as free: the third conversation gets it
			// without trying the held ones.
			third := newConversation(t, fake)
			if got := proxyOf(third); got != otherProxy {
				t.Fatalf("third add through %s, want %s", got, otherProxy)
			}
			if n := requestsFor(fake, "POST", third+"/Participants"); n != 1 {
				t.Fatalf("%d creates, want 1", n)
			}

			// At capacity (three open conversations): nobody is left.
			e := errorOf(t, func() error { _, err := addAgent(t, c, newConversation(t, fake), ""); return err }())
			if e.code != connect.CodeResourceExhausted {
				t.Fatalf("%v %q, want ResourceExhausted", e.code, e.message)
			}

			// Closing a conversation frees its number for the next one.
			closeConversation(t, fake, first)
			if got := proxyOf(newConversation(t, fake)); got != twilioNumber {
				t.Fatalf("add after closing through %s, want %s", got, twilioNumber)
			}

			res, err := c.ListAgents(t.Context(), &participantv1.ListAgentsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			a := res.GetAgents()[0]
			if want := []string{twilioNumber, otherProxy, thirdProxy}; !slices.Equal(a.GetProxyAddresses(), want) || a.GetProxyAddress() != twilioNumber || a.GetLoad() != 3 {
				t.Fatalf("ListAgents = %v, want proxies %v, load 3", a, want)
			}
		})
	}
}

func TestAddSupportAgent_errors(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	noRoster := startService(t, fake, nil)
	withRoster := startService(t, fake, func(c *participant.Config) { c.Agents = writeRoster(t, teamRoster) })
	unknown := "CH" + strings.Repeat("f", 32)
	for stack := range clients(t, noRoster) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			none, some := clients(t, noRoster)[stack], clients(t, withRoster)[stack]
			for name, tc := range map[string]struct {
				call func() error
				code connect.Code
			}{
				"no_roster_add": {func() error { _, err := addAgent(t, none, newConversation(t, fake), ""); return err }, connect.CodeFailedPrecondition},
				"no_roster_list": {func() error {
					_, err := none.ListAgents(t.Context(), &participantv1.ListAgentsRequest{})
					return err
				}, connect.CodeFailedPrecondition},
				"unknown_conversation": {func() error { _, err := addAgent(t, some, unknown, ""); return err }, connect.CodeNotFound},
				"bad_conversation_sid": {func() error { _, err := addAgent(t, some, "support", ""); return err }, connect.CodeInvalidArgument},
			} {
				if e := errorOf(t, tc.call()); e.code != tc.code {
					t.Errorf("%s: %v %q, want %v", name, e.code, e.message, tc.code)
				}
			}
		})
	}
}

func TestRosterReload(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	path := writeRoster(t, teamRoster)
	ts := startService(t, fake, func(c *participant.Config) { c.Agents = path })
	c := clients(t, ts)["connect"]
	if got := loadsOf(t, c, ""); len(got) != 3 {
		t.Fatalf("agents = %v, want 3", got)
	}
	if err := os.WriteFile(path, []byte(pairRoster), 0o600); err != nil {
		t.Fatal(err)
	}
	// What SIGHUP does.
	if err := ts.main.ReloadRoster(); err != nil {
		t.Fatal(err)
	}
	got := loadsOf(t, c, "")
	if _, ok := got["dave"]; !ok || len(got) != 2 {
		t.Fatalf("agents after reload = %v, want dave and erin", got)
	}
	// A broken file keeps the roster in use.
	if err := os.WriteFile(path, []byte("agents: [oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.main.ReloadRoster(); err == nil {
		t.Fatal("reloading a broken roster succeeded")
	}
	if got := loadsOf(t, c, ""); len(got) != 2 {
		t.Fatalf("agents after a failed reload = %v", got)
	}
}

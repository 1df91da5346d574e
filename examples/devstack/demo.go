package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	openapi "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/convoflow/convoflow/fakes/conversations/fakeclient"
	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
)

// waitLimit bounds every wait of the demo: on a healthy stack each step
// takes milliseconds, so a step that needs more is reported as broken.
const waitLimit = 15 * time.Second

// runDemo is `make demo`: play the tutorial and print what happens.
func runDemo(ctx context.Context, c config, out io.Writer) error {
	up, err := running(ctx, c)
	if err != nil {
		return err
	}
	if !up {
		// Start a private stack whose database is thrown away afterwards.
		dir, err := os.MkdirTemp("", "convoflow-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.data = dir
		fmt.Fprintf(out, "No stack is running; starting one (logs in %s/logs).\n", dir)
		s, err := startStack(ctx, c)
		if err != nil {
			return err
		}
		defer s.stop()
	}
	flowSid, _, err := setUp(ctx, c)
	if err != nil {
		return err
	}
	d := &demo{c: c, out: out, flowSid: flowSid, fake: fakeclient.New(c.fakeURL()),
		// A fresh customer number each run, so a demo never lands in the
		// conversation an earlier run left open.
		customer: fmt.Sprintf("+1500555%04d", rand.IntN(10000))}
	return d.play(ctx)
}

type demo struct {
	c        config
	out      io.Writer
	flowSid  string
	customer string
	fake     *fakeclient.Client
	conv     string
	seen     []string // executions already reported
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) play(ctx context.Context) error {
	agents, err := d.agents(ctx)
	if err != nil {
		return err
	}
	d.say("The customer %s texts the support number %s; flow %s answers.\n", d.customer, twilioNumber, d.flowSid)

	// 1. "hello": the split finds no match and the execution ends quietly.
	if err := d.text(ctx, "hello"); err != nil {
		return err
	}
	exec, err := d.nextEndedExecution(ctx)
	if err != nil {
		return err
	}
	d.say("  conversation %s was created for the customer by the address configuration", d.conv)
	if err := d.printSteps(ctx, exec); err != nil {
		return err
	}
	msgs, err := d.fake.Outbox(ctx, "", d.conv)
	if err != nil {
		return err
	}
	if len(msgs) > 0 {
		return fmt.Errorf("the flow answered %q although it should stay silent", msgs[0].Body)
	}
	d.say("  no reply: nothing was sent, as the flow intends\n")

	// 2. "support": the flow calls ParticipantService, which adds an agent.
	if err := d.text(ctx, "support"); err != nil {
		return err
	}
	var agentAddr string
	msgs, err = d.waitOutbox(ctx, func(m []fakeclient.OutboundMessage) bool {
		to := map[string]bool{}
		for _, x := range m {
			if x.Body == "Added support agent" {
				to[x.To] = true
			}
		}
		for addr := range to {
			if addr != d.customer {
				agentAddr = addr
			}
		}
		return to[d.customer] && agentAddr != ""
	})
	if err != nil {
		return fmt.Errorf("waiting for \"Added support agent\" to reach the customer and an agent: %w (outbox: %v)", err, bodies(msgs))
	}
	d.say("  ParticipantService added agent %s (%s) to the conversation", agents[agentAddr], agentAddr)
	for _, m := range msgs {
		if m.Body == "Added support agent" {
			d.say("  → %s: %s", who(m.To, d.customer, agents), m.Body)
		}
	}
	exec, err = d.nextEndedExecution(ctx)
	if err != nil {
		return err
	}
	if err := d.printSteps(ctx, exec); err != nil {
		return err
	}
	d.say("")

	// 3. A follow-up from the customer now reaches the agent's phone.
	const followUp = "My order has not arrived yet"
	if err := d.text(ctx, followUp); err != nil {
		return err
	}
	msgs, err = d.waitOutbox(ctx, func(m []fakeclient.OutboundMessage) bool {
		return slices.ContainsFunc(m, func(x fakeclient.OutboundMessage) bool { return x.Body == followUp && x.To == agentAddr })
	})
	if err != nil {
		return fmt.Errorf("waiting for the follow-up to reach the agent: %w (outbox: %v)", err, bodies(msgs))
	}
	d.say("  → %s: %s", who(agentAddr, d.customer, agents), followUp)
	if _, err := d.nextEndedExecution(ctx); err != nil { // the flow saw it too and ended at noMatch
		return err
	}

	// Close the conversation: Twilio frees the bindings, so the agent's load
	// drops and the next customer can have them.
	rc, err := conversationsClient(d.c)
	if err != nil {
		return err
	}
	if _, err := rc.ConversationsV1.UpdateConversation(d.conv, new(openapi.UpdateConversationParams).SetState("closed")); err != nil {
		return fmt.Errorf("close conversation: %w", err)
	}
	d.say("\nConversation %s closed; %s is free for the next customer.", d.conv, agents[agentAddr])
	return nil
}

// text simulates the customer's SMS.
func (d *demo) text(ctx context.Context, body string) error {
	d.say("customer %s: %s", d.customer, body)
	res, err := d.fake.Inbound(ctx, d.customer, twilioNumber, body, "")
	if err != nil {
		return fmt.Errorf("inbound %q: %w", body, err)
	}
	if d.conv == "" {
		d.conv = res.ConversationSid
	} else if res.ConversationSid != d.conv {
		return fmt.Errorf("message went to %s, not to the customer's conversation %s", res.ConversationSid, d.conv)
	}
	return nil
}

func (d *demo) waitOutbox(ctx context.Context, match func([]fakeclient.OutboundMessage) bool) ([]fakeclient.OutboundMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	return d.fake.WaitFor(ctx, "", d.conv, match)
}

// nextEndedExecution waits for an execution of the conversation that was not
// reported yet to end.
func (d *demo) nextEndedExecution(ctx context.Context) (*flowv1.Execution, error) {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	fc := flowClient(d.c)
	for {
		res, err := fc.ListExecutions(ctx, &flowv1.ListExecutionsRequest{FlowSid: d.flowSid, PageSize: 50})
		if err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		for _, e := range res.GetExecutions() {
			if e.GetConversationSid() == d.conv && e.GetStatus() == flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED && !slices.Contains(d.seen, e.GetSid()) {
				d.seen = append(d.seen, e.GetSid())
				return e, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("no execution of the flow ended in conversation " + d.conv + " in time")
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (d *demo) printSteps(ctx context.Context, e *flowv1.Execution) error {
	res, err := flowClient(d.c).ListExecutionSteps(ctx, &flowv1.ListExecutionStepsRequest{
		FlowSid: d.flowSid, ExecutionSid: e.GetSid(), PageSize: 100})
	if err != nil {
		return fmt.Errorf("list steps: %w", err)
	}
	d.say("  execution %s (%s):", e.GetSid(), strings.TrimPrefix(e.GetEndedReason().String(), "EXECUTION_ENDED_REASON_"))
	for i, s := range res.GetSteps() {
		d.say("    %d. %-28s %s → %s", i+1, s.GetName(), s.GetTransitionedFrom(), s.GetTransitionedTo())
	}
	return nil
}

// agents maps the roster's addresses to names, read from ParticipantService.
func (d *demo) agents(ctx context.Context) (map[string]string, error) {
	pc := participantv1connect.NewParticipantServiceClient(keyed(d.c), d.c.partyURL())
	res, err := pc.ListAgents(ctx, &participantv1.ListAgentsRequest{})
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	m := map[string]string{}
	for _, a := range res.GetAgents() {
		m[a.GetAddress()] = a.GetName()
	}
	return m, nil
}

func who(addr, customer string, agents map[string]string) string {
	if addr == customer {
		return "customer " + addr
	}
	if name, ok := agents[addr]; ok {
		return "agent " + name + " " + addr
	}
	return addr
}

func bodies(msgs []fakeclient.OutboundMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.To + ": " + m.Body
	}
	return out
}

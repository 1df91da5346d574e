package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
)

// The demo's fixed cast. The Twilio number is the address configuration's
// address and every participant's proxy; the agents are in examples/agents.yaml.
const (
	twilioNumber   = "+15005550100"
	customerNumber = "+15005550123"
	flowName       = "Support agent demo"
	// The credentials every component shares: the fake's documented test
	// account (letters and digits only, as twilio-go requires).
	accountSid = "AC00000000000000000000000000000000"
	authToken  = "faketoken123"
	// functionHost is the Twilio Functions domain the exported flow calls;
	// FlowService's --function-map sends it to ParticipantService.
	functionHost = "https://support-1234-dev.twil.io"
	// devAPIKey is the API key both services require unless --api-key
	// gives another; it is printed with the grpcurl examples. A real
	// deployment generates its own (openssl rand -hex 32).
	devAPIKey = "convoflow-dev-key-0123456789"
)

type config struct {
	bin       string // directory holding the three binaries
	data      string // FlowService's SQLite directory and the logs
	flow      string // flow definition to publish
	agents    string // agent roster
	fakePort  int
	flowPort  int
	partyPort int
	apiKey    string // the key FlowService and ParticipantService require
}

func (c config) fakeURL() string  { return fmt.Sprintf("http://127.0.0.1:%d", c.fakePort) }
func (c config) flowURL() string  { return fmt.Sprintf("http://127.0.0.1:%d", c.flowPort) }
func (c config) partyURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.partyPort) }

func parseFlags(name string, args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("devstack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.bin, "bin", ".tmp/bin", "directory holding fakeconversations, flowservice and participantservice")
	fs.StringVar(&c.data, "data", ".data", "directory for FlowService's SQLite database and the servers' logs")
	fs.StringVar(&c.flow, "flow", "examples/flows/support-agent.json", "Studio flow definition to publish")
	fs.StringVar(&c.agents, "agents", "examples/agents.yaml", "support-agent roster for ParticipantService")
	fs.IntVar(&c.fakePort, "fake-port", 8083, "port of the Conversations fake")
	fs.IntVar(&c.flowPort, "flow-port", 8081, "port of FlowService")
	fs.IntVar(&c.partyPort, "participant-port", 8082, "port of ParticipantService")
	fs.StringVar(&c.apiKey, "api-key", devAPIKey, "API key FlowService and ParticipantService require (at least 16 characters)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	for _, p := range []*string{&c.bin, &c.data, &c.flow, &c.agents} {
		if *p, err = filepath.Abs(*p); err != nil {
			return c, err
		}
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: devstack run|demo [flags]")
	}
	c, err := parseFlags(args[0], args[1:], stderr)
	if err != nil {
		return err
	}
	switch args[0] {
	case "run":
		return runStack(ctx, c, stdout)
	case "demo":
		return runDemo(ctx, c, stdout)
	default:
		return fmt.Errorf("unknown command %q: want run or demo", args[0])
	}
}

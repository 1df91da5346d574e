package main

import (
	"context"
	"fmt"
	"io"
	"text/template"
)

// runStack is `make run`: start, wire, explain, wait for Ctrl-C, stop.
func runStack(ctx context.Context, c config, out io.Writer) error {
	if up, err := running(ctx, c); err != nil {
		return err
	} else if up {
		return fmt.Errorf("a stack already answers on ports %d, %d and %d", c.fakePort, c.flowPort, c.partyPort)
	}
	s, err := startStack(ctx, c)
	if err != nil {
		return err
	}
	defer s.stop()
	flowSid, note, err := setUp(ctx, c)
	if err != nil {
		return err
	}
	if err := usage.Execute(out, map[string]any{
		"FakeURL": c.fakeURL(), "FlowURL": c.flowURL(), "PartyURL": c.partyURL(), "Data": c.data,
		"FlowPort": c.flowPort, "PartyPort": c.partyPort, "Key": c.apiKey,
		"FlowSid": flowSid, "Note": note, "Twilio": twilioNumber, "Customer": customerNumber,
		"AccountSid": accountSid, "AuthToken": authToken,
	}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nstopping…")
		return nil
	case p := <-s.exited():
		return fmt.Errorf("%s stopped unexpectedly (%v); its log %s ends with:\n%s", p.name, p.err, p.log, tail(p.log, 15))
	}
}

var usage = template.Must(template.New("usage").Parse(`
convoflow is running.

  Conversations fake   {{.FakeURL}}    (control plane under /_fake/)
  FlowService          {{.FlowURL}}    (gRPC, Connect, gRPC-Web; SQLite in {{.Data}})
  ParticipantService   {{.PartyURL}}    (gRPC; Run Function endpoints under /functions/)
  Web console          {{.FlowURL}}/console/    (sign in with the API key below)
  Studio REST API v2   {{.FlowURL}}/v2/    (basic auth {{.AccountSid}}:{{.AuthToken}}, or the API key as bearer)
  Logs                 {{.Data}}/logs/

Flow "Support agent demo" {{.FlowSid}}: {{.Note}}.
SMS to {{.Twilio}} from a new number starts a conversation running it.

Watch it in the console: {{.FlowURL}}/console/flows/{{.FlowSid}}

Text "support" as a customer:
  curl -s {{.FakeURL}}/_fake/inbound --data-urlencode From={{.Customer}} --data-urlencode To={{.Twilio}} -d Body=support

Read what reached the phones:
  curl -s {{.FakeURL}}/_fake/outbox

Both services require the API key {{.Key}} (devstack --api-key sets another).
Explore FlowService with grpcurl (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4):
  export AUTH='authorization: Bearer {{.Key}}'
  grpcurl -plaintext -H "$AUTH" 127.0.0.1:{{.FlowPort}} list
  grpcurl -plaintext -H "$AUTH" -d '{"flow_sid":"{{.FlowSid}}"}' 127.0.0.1:{{.FlowPort}} convoflow.flow.v1.FlowService/ListExecutions
  grpcurl -plaintext -H "$AUTH" -d '{"flow_sid":"{{.FlowSid}}","execution_sid":"FN…"}' 127.0.0.1:{{.FlowPort}} convoflow.flow.v1.FlowService/ListExecutionSteps
  grpcurl -plaintext -H "$AUTH" 127.0.0.1:{{.PartyPort}} convoflow.participant.v1.ParticipantService/ListAgents

Play the whole tutorial in another terminal: make demo
Measure throughput and reply latency: make load (LOAD_FLAGS='--rate 500' for an open loop)
Press Ctrl-C to stop.
`))

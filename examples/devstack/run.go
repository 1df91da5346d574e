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
		"c": c, "flowSid": flowSid, "note": note, "twilio": twilioNumber, "customer": customerNumber,
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

  Conversations fake   {{.c.fakeURL}}    (control plane under /_fake/)
  FlowService          {{.c.flowURL}}    (gRPC, Connect, gRPC-Web; SQLite in {{.c.data}})
  ParticipantService   {{.c.partyURL}}    (gRPC; Run Function endpoints under /functions/)
  Logs                 {{.c.data}}/logs/

Flow "Support agent demo" {{.flowSid}}: {{.note}}.
SMS to {{.twilio}} from a new number starts a conversation running it.

Text "support" as a customer:
  curl -s {{.c.fakeURL}}/_fake/inbound -d From={{.customer}} -d To={{.twilio}} -d Body=support

Read what reached the phones:
  curl -s {{.c.fakeURL}}/_fake/outbox

Explore FlowService with grpcurl (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4):
  grpcurl -plaintext 127.0.0.1:{{.c.flowPort}} list
  grpcurl -plaintext -d '{"flow_sid":"{{.flowSid}}"}' 127.0.0.1:{{.c.flowPort}} convoflow.flow.v1.FlowService/ListExecutions
  grpcurl -plaintext -d '{"flow_sid":"{{.flowSid}}","execution_sid":"FN…"}' 127.0.0.1:{{.c.flowPort}} convoflow.flow.v1.FlowService/ListExecutionSteps
  grpcurl -plaintext 127.0.0.1:{{.c.partyPort}} convoflow.participant.v1.ParticipantService/ListAgents

Play the whole tutorial in another terminal: make demo
Press Ctrl-C to stop.
`))

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/convoflow/convoflow/examples/tutorial"
	"github.com/convoflow/convoflow/fakes/conversations/fakeclient"
	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

// waitLimit bounds every wait: on a healthy stack each step takes
// milliseconds, so one that needs more is a failure, not a slow machine.
const waitLimit = 20 * time.Second

// newCustomer returns a phone number no other test uses.
func newCustomer() string { return fmt.Sprintf("+1500555%04d", 1000+rand.IntN(9000)) }

// publish deploys a flow definition and points number at it.
func (s *stack) publish(t *testing.T, name string, def *structpb.Struct, number string) string {
	t.Helper()
	sid, _, err := tutorial.PublishFlow(t.Context(), s.flowClient(t), name, def)
	if err != nil {
		t.Fatalf("publish %s: %v", name, err)
	}
	if err := tutorial.ConfigureAddress(s.twilio(t), number, sid); err != nil {
		t.Fatal(err)
	}
	return sid
}

// publishDemo deploys examples/flows/support-agent.json on the tutorial number.
func (s *stack) publishDemo(t *testing.T) string {
	t.Helper()
	def, err := tutorial.LoadDefinition("../examples/flows/support-agent.json")
	if err != nil {
		t.Fatal(err)
	}
	return s.publish(t, "Support agent demo", def, twilioNumber)
}

// text simulates an SMS from → to and returns the conversation it reached.
func (s *stack) text(t *testing.T, from, to, body string) string {
	t.Helper()
	res, err := s.fakeClient(t).Inbound(t.Context(), from, to, body, "")
	if err != nil {
		t.Fatalf("inbound %q from %s: %v", body, from, err)
	}
	return res.ConversationSid
}

// waitOutbox waits until the conversation's delivered SMS satisfy match.
func (s *stack) waitOutbox(t *testing.T, conv string, what string, match func([]fakeclient.OutboundMessage) bool) []fakeclient.OutboundMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	msgs, err := s.fakeClient(t).WaitFor(ctx, "", conv, match)
	if err != nil {
		t.Fatalf("waiting for %s in %s: %v; outbox: %v", what, conv, err, describe(msgs))
	}
	return msgs
}

// delivered reports whether body reached to.
func delivered(msgs []fakeclient.OutboundMessage, to, body string) bool {
	return count(msgs, to, body) > 0
}

func count(msgs []fakeclient.OutboundMessage, to, body string) int {
	n := 0
	for _, m := range msgs {
		if m.To == to && m.Body == body {
			n++
		}
	}
	return n
}

func describe(msgs []fakeclient.OutboundMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.To + ": " + m.Body
	}
	return out
}

// executions lists the flow's executions in a conversation.
func (s *stack) executions(t *testing.T, flowSid, conv string) []*flowv1.Execution {
	t.Helper()
	res, err := s.flowClient(t).ListExecutions(t.Context(), &flowv1.ListExecutionsRequest{FlowSid: flowSid, PageSize: 100})
	if err != nil {
		t.Fatalf("list executions: %v", err)
	}
	var out []*flowv1.Execution
	for _, e := range res.GetExecutions() {
		if e.GetConversationSid() == conv {
			out = append(out, e)
		}
	}
	return out
}

// waitEnded waits until n executions of the flow in conv have ended and
// returns them.
func (s *stack) waitEnded(t *testing.T, flowSid, conv string, n int) []*flowv1.Execution {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var ended []*flowv1.Execution
		for _, e := range s.executions(t, flowSid, conv) {
			if e.GetStatus() == flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED {
				ended = append(ended, e)
			}
		}
		if len(ended) >= n {
			return ended
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d executions in %s ended after %s", len(ended), n, conv, waitLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// steps returns "from -name-> to" for each step of an execution.
func (s *stack) steps(t *testing.T, flowSid, execSid string) []string {
	t.Helper()
	res, err := s.flowClient(t).ListExecutionSteps(t.Context(), &flowv1.ListExecutionStepsRequest{
		FlowSid: flowSid, ExecutionSid: execSid, PageSize: 100})
	if err != nil {
		t.Fatalf("list steps: %v", err)
	}
	var out []string
	for _, st := range res.GetSteps() {
		out = append(out, st.GetTransitionedFrom()+" -"+st.GetName()+"-> "+st.GetTransitionedTo())
	}
	return out
}

// hasStepTo reports whether an execution reached widget.
func (s *stack) hasStepTo(t *testing.T, flowSid, execSid, widget string) bool {
	return slices.ContainsFunc(s.steps(t, flowSid, execSid), func(st string) bool {
		return strings.HasSuffix(st, "> "+widget)
	})
}

// postSigned POSTs form to target with sig as X-Twilio-Signature (none
// when empty) and returns the status and body.
func postSigned(t *testing.T, target string, form url.Values, sig string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// get GETs url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

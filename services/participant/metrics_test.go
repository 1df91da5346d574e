package participant_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/services/participant"
)

// TestMetrics: /metrics counts participants added and removed, agents
// added with their load, and RPCs by procedure.
func TestMetrics(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	roster := writeRoster(t, teamRoster)
	ts := startService(t, fake, func(c *participant.Config) { c.Agents = roster })
	c := clients(t, ts)["connect"]
	conv := newConversation(t, fake)
	add, err := c.AddParticipant(t.Context(), &participantv1.AddParticipantRequest{ConversationSid: conv,
		Participant: &participantv1.AddParticipantRequest_MessagingBinding{MessagingBinding: &participantv1.MessagingBinding{Address: number()}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveParticipant(t.Context(), &participantv1.RemoveParticipantRequest{ConversationSid: conv,
		Participant: &participantv1.RemoveParticipantRequest_ParticipantSid{ParticipantSid: add.GetParticipant().GetSid()}}); err != nil {
		t.Fatal(err)
	}
	agent, err := addAgent(t, c, newConversation(t, fake), "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	name := agent.GetAgent().GetName()
	for _, want := range []string{
		"convoflow_participants_added_total 2", // the participant and the agent
		"convoflow_participants_removed_total 1",
		`convoflow_support_agents_added_total{agent="` + name + `"} 1`,
		`convoflow_support_agent_open_conversations{agent="` + name + `"} 1`,
		`convoflow_rpc_handled_total{code="ok",procedure="/convoflow.participant.v1.ParticipantService/AddParticipant"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

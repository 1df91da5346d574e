package engine

import "strings"

// sendToFlex hands the conversation to Flex. convoflow has no Flex: without
// an injected FlexHandoff the widget takes failedToEnqueue (84002) saying
// so. With one, the task is created and the widget takes callComplete with
// widgets.NAME.{TaskSid, Attributes, Age}. Attributes render to at most
// 1024 characters.
//
//	{"name": "to_agent", "type": "send-to-flex",
//	 "transitions": [{"event": "callComplete"}, {"event": "failedToEnqueue"}, {"event": "callFailure"}],
//	 "properties": {"workflow": "WW…", "channel": "TC…",
//	   "attributes": "{\"name\": \"{{trigger.conversation.From}}\"}", "priority": "0", "timeout": "3600",
//	   "offset": {"x": 0, "y": 0}}}
type sendToFlex struct {
	Workflow      string `json:"workflow" studio:"required"`
	Channel       string `json:"channel" studio:"required"`
	Attributes    string `json:"attributes"`
	Priority      string `json:"priority"`
	Timeout       string `json:"timeout"`
	WaitURL       string `json:"waitUrl"`
	WaitURLMethod string `json:"waitUrlMethod"`
}

func (w *sendToFlex) check(v *validation, path string) {
	if w.Timeout != "" && !hasLiquid(w.Timeout) {
		if n, err := parseSeconds(w.Timeout); err != nil {
			v.add(path+"/timeout", CodeInvalidDefinition, "timeout: %v", err)
		} else if n > MaxFlexTimeout {
			v.add(path+"/timeout", CodeInvalidDefinition, "timeout may be at most %d seconds", MaxFlexTimeout)
		}
	}
	if w.Priority != "" && !hasLiquid(w.Priority) {
		if _, err := parseSeconds(w.Priority); err != nil {
			v.add(path+"/priority", CodeInvalidDefinition, "priority must be a whole number, not %q", w.Priority)
		}
	}
}

func (w *sendToFlex) run(r *run, s *State) outcome {
	if r.e.opts.Flex == nil {
		return outcome{event: "failedToEnqueue", err: stepErr(CodeWorkflowFailed, "send-to-flex cannot enqueue: convoflow has no Flex and no hand-off is configured")}
	}
	req := FlexRequest{
		IdempotencyKey:  r.idempotencyKey(),
		ExecutionSid:    r.x.Sid,
		FlowSid:         r.x.Context.Flow.FlowSid,
		ConversationSid: r.x.ConversationSid,
		Workflow:        w.Workflow,
		Channel:         w.Channel,
		Attributes:      w.Attributes,
		Priority:        w.Priority,
		Timeout:         w.Timeout,
	}
	if serr := r.renderAll(&req.Workflow, &req.Channel, &req.Attributes, &req.Priority, &req.Timeout); serr != nil {
		return outcome{event: "failedToEnqueue", err: serr}
	}
	if len(req.Attributes) > MaxFlexAttributes {
		return outcome{event: "failedToEnqueue", err: stepErr(CodeWorkflowFailed, "attributes render to %d characters, more than %d", len(req.Attributes), MaxFlexAttributes)}
	}
	if strings.TrimSpace(req.Timeout) == "" {
		req.Timeout = "3600"
	}
	task, err := r.e.opts.Flex.Handoff(r.ctx, req)
	if err != nil {
		if fault := r.cancelled(); fault != nil {
			return outcome{fault: fault}
		}
		return outcome{event: "failedToEnqueue", err: stepErr(CodeWorkflowFailed, "Flex hand-off failed: %v", err)}
	}
	return outcome{event: "callComplete", outputs: map[string]any{
		"TaskSid":    task.TaskSid,
		"Attributes": task.Attributes,
		"Age":        int64(task.Age),
	}}
}

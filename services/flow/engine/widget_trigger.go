package engine

// triggerWidget is the flow's entry point. Its event is the way the
// execution started; its data goes to trigger.* and it has no outputs.
//
//	{"name": "Trigger", "type": "trigger",
//	 "transitions": [{"event": "incomingMessage"}, {"event": "incomingCall"},
//	                 {"next": "check", "event": "incomingConversationMessage"},
//	                 {"event": "incomingRequest"}, {"event": "incomingParent"}],
//	 "properties": {"offset": {"x": 0, "y": 0}}}
type triggerWidget struct{}

// run is reached only when a transition leads back to the trigger, which
// the Console does not allow: there is no event to take, so the execution
// ends with a clear error.
func (triggerWidget) run(r *run, s *State) outcome {
	return outcome{endErr: stepErr(CodeWorkflowFailed, "a transition leads back to the trigger %s, which only starts executions", s.Name)}
}

package engine

// sendAndWait sends a message and parks the execution until a reply
// (incomingMessage, filling widgets.NAME.inbound.*) or the timeout (timeout,
// in seconds, default 3600). A failed send takes deliveryFailure (81011).
// The message goes to the contact: there is no "to".
//
//	{"name": "ask", "type": "send-and-wait-for-reply",
//	 "transitions": [{"next": "check", "event": "incomingMessage"}, {"event": "timeout"}, {"event": "deliveryFailure"}],
//	 "properties": {"from": "{{flow.channel.address}}", "body": "Yes or no?", "timeout": "3600",
//	   "offset": {"x": 0, "y": 0}}}
type sendAndWait struct {
	messageProps
	Timeout string `json:"timeout"`
	// SaveResponseAs appears in a schema mirror with no documented meaning
	// (studio.md §10): it is read, so its type is checked, and ignored.
	SaveResponseAs string `json:"save_response_as"`
}

func (w *sendAndWait) check(v *validation, path string) {
	w.checkBody(v, path)
	if w.Timeout != "" {
		if _, err := parseSeconds(w.Timeout); err != nil {
			v.add(path+"/timeout", CodeInvalidDefinition, "timeout: %v", err)
		}
	}
}

func (w *sendAndWait) run(r *run, s *State) outcome {
	sent, serr, fault := w.send(r, s, "{{contact.channel.address}}")
	if fault != nil {
		return outcome{fault: fault}
	}
	if serr != nil {
		return outcome{event: "deliveryFailure", err: serr}
	}
	timeout := int(DefaultReplyTimeout.Seconds())
	if w.Timeout != "" {
		timeout, _ = parseSeconds(w.Timeout) // checked by validation
	}
	return outcome{outputs: map[string]any{"outbound": sent}, wait: true, timeout: timeout}
}

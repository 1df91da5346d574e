package engine

import "strings"

// sendMessage sends one message: into the conversation when the execution
// runs in one (From/To are then informative, studio.md §7.5), otherwise
// From → To. Events: sent, failed (81011). Outputs:
// widgets.NAME.outbound.{Body, From, Sid, Status, To} and, in a
// conversation, also {ConversationSid, Author, Index, Attributes, Media,
// ParticipantSid}.
//
//	{"name": "confirm", "type": "send-message", "transitions": [{"event": "sent"}, {"event": "failed"}],
//	 "properties": {"from": "{{flow.channel.address}}", "to": "{{contact.channel.address}}",
//	   "body": "Added support agent", "offset": {"x": 0, "y": 0}}}
type sendMessage struct {
	messageProps
	To string `json:"to"`
}

// messageProps are the properties send-message and
// send-and-wait-for-reply share.
type messageProps struct {
	From             string  `json:"from"`
	Body             string  `json:"body"`
	Service          string  `json:"service"`
	Channel          string  `json:"channel"`
	Attributes       string  `json:"attributes"`
	MediaURL         string  `json:"media_url"`
	MessageType      string  `json:"message_type"`
	ContentSid       string  `json:"content_sid"`
	ContentVariables []param `json:"content_variables"`
}

func (p *messageProps) checkBody(v *validation, path string) {
	if p.MessageType == "content_template" {
		if strings.TrimSpace(p.ContentSid) == "" {
			v.add(path+"/content_sid", CodeInvalidDefinition, "content_sid is required when message_type is content_template")
		}
		return
	}
	if strings.TrimSpace(p.Body) == "" && strings.TrimSpace(p.MediaURL) == "" {
		v.add(path+"/body", CodeInvalidDefinition, "body is required")
	}
}

func (w *sendMessage) check(v *validation, path string) { w.checkBody(v, path) }

func (w *sendMessage) run(r *run, s *State) outcome {
	to := w.To
	if strings.TrimSpace(to) == "" {
		to = "{{contact.channel.address}}"
	}
	sent, serr, fault := w.send(r, s, to)
	if fault != nil {
		return outcome{fault: fault}
	}
	if serr != nil {
		return outcome{event: "failed", err: serr}
	}
	return outcome{event: "sent", outputs: map[string]any{"outbound": sent}}
}

// send renders and sends the message, returning the outbound.* map.
func (p *messageProps) send(r *run, s *State, to string) (map[string]any, *StepError, error) {
	m := OutboundMessage{
		IdempotencyKey:  r.idempotencyKey(),
		ExecutionSid:    r.x.Sid,
		FlowSid:         r.x.Context.Flow.FlowSid,
		Widget:          s.Name,
		ConversationSid: r.x.ConversationSid,
		From:            p.From,
		To:              to,
		Body:            p.Body,
		MediaURL:        p.MediaURL,
		Attributes:      p.Attributes,
		Service:         p.Service,
		Channel:         p.Channel,
		ContentSid:      p.ContentSid,
	}
	if strings.TrimSpace(m.From) == "" {
		m.From = "{{flow.channel.address}}"
	}
	if serr := r.renderAll(&m.From, &m.To, &m.Body, &m.MediaURL, &m.Attributes, &m.Service, &m.Channel, &m.ContentSid); serr != nil {
		return nil, serr, nil
	}
	if len(p.ContentVariables) > 0 {
		m.ContentVariables = make(map[string]string, len(p.ContentVariables))
		for _, kv := range p.ContentVariables {
			v, err := r.render(kv.Value)
			if err != nil {
				return nil, stepErr(CodeLiquidRenderFailed, "unable to render content variable %s: %v", kv.Key, err), nil
			}
			m.ContentVariables[kv.Key] = v
		}
	}
	if m.Body == "" && m.MediaURL == "" && m.ContentSid == "" {
		return nil, stepErr(CodeSendFailed, "the message has no body and no media URL"), nil
	}
	if m.ConversationSid == "" && m.To == "" {
		return nil, stepErr(CodeSendFailed, "the message has no recipient: to rendered empty"), nil
	}
	res, err := r.e.opts.Messenger.Send(r.ctx, m)
	if err != nil {
		if fault := r.cancelled(); fault != nil {
			return nil, nil, fault
		}
		return nil, stepErr(CodeSendFailed, "failed to send message: %v", err), nil
	}
	out := map[string]any{
		"Sid":    res.Sid,
		"Status": res.Status,
		"From":   res.From,
		"To":     res.To,
		"Body":   res.Body,
	}
	if m.ConversationSid != "" {
		out["ConversationSid"] = res.ConversationSid
		out["Author"] = res.Author
		out["Index"] = int64(res.Index)
		out["Attributes"] = res.Attributes
		out["Media"] = res.Media
		out["ParticipantSid"] = res.ParticipantSid
	}
	return out, nil, nil
}

package engine

import (
	"encoding/json"
	"strings"
)

// unsupportedWidget stands for the voice-only and retired widget types
// (studio.md §2.4–2.6) and for the REST-only conversation widgets. They
// load and validate so real exports are accepted, but a Conversations
// engine cannot run them: reaching one takes its failure event when the
// type has one, and otherwise ends the execution (EndedError, 84002).
//
//	{"name": "say_hello", "type": "say-play",
//	 "transitions": [{"event": "audioComplete"}],
//	 "properties": {"say": "Hello", "loop": 1, "offset": {"x": 0, "y": 0}}}
type unsupportedWidget struct {
	typ      string
	failure  string
	required []string
}

func unsupported(typ, failure string, events []string, required ...string) widgetSpec {
	return widgetSpec{
		events:  events,
		failure: failure,
		make: func() widget {
			return &unsupportedWidget{typ: typ, failure: failure, required: required}
		},
	}
}

func (u *unsupportedWidget) decode(props []byte, path string) []Problem {
	var m map[string]json.RawMessage
	if len(props) > 0 {
		if err := json.Unmarshal(props, &m); err != nil {
			return []Problem{{PropertyPath: path, Message: "properties must be an object", Code: CodeInvalidDefinition}}
		}
	}
	var problems []Problem
	for _, k := range u.required {
		r, ok := m[k]
		if !ok || isNull(r) || strings.TrimSpace(string(r)) == `""` {
			problems = append(problems, Problem{PropertyPath: path + "/" + k, Message: k + " is required", Code: CodeInvalidDefinition})
		}
	}
	return problems
}

func (u *unsupportedWidget) run(r *run, s *State) outcome {
	why := "widget type " + u.typ + " needs a voice call or Twilio product that convoflow does not run"
	if u.typ == TypeStartConversation || u.typ == TypeResumeConversation {
		why = "widget type " + u.typ + " is not supported: convoflow runs executions only in the conversation that triggered them"
	}
	e := stepErr(CodeWorkflowFailed, "%s", why)
	if u.failure != "" {
		return outcome{event: u.failure, err: e}
	}
	return outcome{endErr: e}
}

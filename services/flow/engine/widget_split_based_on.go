package engine

import (
	"github.com/convoflow/convoflow/services/flow/engine/predicate"
)

// splitBasedOn tests a value against each "match" transition's conditions
// and takes the first transition whose conditions all hold, else noMatch
// (studio.md §4.4: first match in array order wins, conditions are ANDed,
// the subject is the rendered input, falling back to arguments[0]).
//
//	{"name": "check", "type": "split-based-on",
//	 "transitions": [{"event": "noMatch"},
//	   {"next": "yes", "event": "match", "conditions": [{"friendly_name": "Yes",
//	     "arguments": ["{{trigger.conversation.Body}}"], "type": "matches_any_of", "value": "yes,y"}]}],
//	 "properties": {"input": "{{trigger.conversation.Body}}", "offset": {"x": 0, "y": 0}}}
type splitBasedOn struct {
	Input *string `json:"input"`
}

func (w *splitBasedOn) run(r *run, s *State) outcome {
	var subject string
	if w.Input != nil {
		v, err := r.render(*w.Input)
		if err != nil {
			return outcome{endErr: stepErr(CodeLiquidRenderFailed, "unable to render the input of %s: %v", s.Name, err)}
		}
		subject = v
	}
	for i := range s.Transitions {
		t := &s.Transitions[i]
		if t.Event != "match" || len(t.Conditions) == 0 {
			continue
		}
		ok, serr := w.matches(r, subject, t.Conditions)
		if serr != nil {
			return outcome{endErr: serr}
		}
		if ok {
			return outcome{event: "match", via: t}
		}
	}
	return outcome{event: "noMatch"}
}

func (w *splitBasedOn) matches(r *run, subject string, conds []Condition) (bool, *StepError) {
	for _, c := range conds {
		subj := subject
		if w.Input == nil && len(c.Arguments) > 0 {
			v, err := r.render(c.Arguments[0])
			if err != nil {
				return false, stepErr(CodeLiquidRenderFailed, "unable to render the argument: %v", err)
			}
			subj = v
		}
		value, err := r.render(c.Value)
		if err != nil {
			return false, stepErr(CodeLiquidRenderFailed, "unable to render the value: %v", err)
		}
		// An evaluation error (a regex that only fails to compile once its
		// Liquid is rendered) makes the condition false, like a non-numeric
		// operand of less_than: the split falls through to noMatch.
		ok, err := predicate.Eval(c.Type, subj, value)
		if err != nil || !ok {
			return false, nil
		}
	}
	return true, nil
}

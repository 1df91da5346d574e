package engine

import (
	"regexp"
	"strconv"
	"strings"
)

// setVariables writes flow.variables.<key> (and, as [AI] describes, the
// same pairs under widgets.NAME.<key>). A value whose raw template is a bare
// number literal is stored as a number, anything else as the rendered
// string; with parse_as_json (on the widget or on the item) a rendered value
// that is JSON is stored parsed (studio.md §2.1 project decision).
//
//	{"name": "count", "type": "set-variables", "transitions": [{"next": "ask", "event": "next"}],
//	 "properties": {"variables": [
//	   {"key": "count", "value": "{% if flow.variables.count %}{{flow.variables.count | plus: 1}}{% else %}1{% endif %}"},
//	   {"key": "limit", "value": "3"}], "offset": {"x": 0, "y": 0}}}
type setVariables struct {
	Variables   []param `json:"variables"`
	ParseAsJSON bool    `json:"parse_as_json"`
}

var numberLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

func (w *setVariables) check(v *validation, path string) {
	for i, p := range w.Variables {
		switch {
		case strings.TrimSpace(p.Key) == "":
			v.add(path+"/variables/"+strconv.Itoa(i)+"/key", CodeInvalidDefinition, "key is required")
		case hasLiquid(p.Key):
			v.add(path+"/variables/"+strconv.Itoa(i)+"/key", CodeInvalidDefinition, "a variable key cannot be Liquid")
		}
	}
}

func (w *setVariables) run(r *run, s *State) outcome {
	out := map[string]any{}
	for _, p := range w.Variables {
		val, err := w.value(r, p)
		if err != nil {
			return outcome{endErr: err}
		}
		r.x.Context.Flow.Variables[p.Key] = val
		out[p.Key] = val
	}
	return outcome{event: "next", outputs: out}
}

func (w *setVariables) value(r *run, p param) (any, *StepError) {
	raw := strings.TrimSpace(p.Value)
	if numberLiteral.MatchString(raw) {
		return parseNumber(raw), nil
	}
	s, err := r.render(p.Value)
	if err != nil {
		return nil, stepErr(CodeLiquidRenderFailed, "unable to render variable %s: %v", p.Key, err)
	}
	if w.ParseAsJSON || p.ParseAsJSON {
		if v, ok := decodeJSON([]byte(s)); ok {
			return v, nil
		}
		// Not JSON: keep the string, as a lax renderer would.
	}
	return s, nil
}

func parseNumber(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

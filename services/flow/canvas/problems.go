package canvas

import (
	"strconv"
	"strings"

	"github.com/convoflow/convoflow/services/flow/engine"
)

// Problem is a validation message and the JSON pointer it concerns, as
// the engine and FlowService report them ("#/states/3/properties/body").
type Problem struct {
	PropertyPath, Message string
}

// ProblemsByWidget sorts problems into those about a widget, by widget
// name (for Options.Problems), and the rest (about the definition as a
// whole, or naming a widget index the definition does not have).
func ProblemsByWidget(def *engine.Definition, problems []Problem) (byWidget map[string][]string, other []Problem) {
	byWidget = map[string][]string{}
	for _, p := range problems {
		i, ok := stateIndex(p.PropertyPath)
		if !ok || i >= len(def.States) || def.States[i].Name == "" {
			other = append(other, p)
			continue
		}
		name := def.States[i].Name
		msg := p.Message
		if rest := strings.TrimPrefix(p.PropertyPath, "#/states/"+strconv.Itoa(i)); rest != "" {
			msg = strings.TrimPrefix(rest, "/") + ": " + msg
		}
		byWidget[name] = append(byWidget[name], msg)
	}
	return byWidget, other
}

// stateIndex reads N from "#/states/N" or "#/states/N/…".
func stateIndex(path string) (int, bool) {
	rest, ok := strings.CutPrefix(path, "#/states/")
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, "/")
	i, err := strconv.Atoi(digits)
	return i, err == nil && i >= 0
}

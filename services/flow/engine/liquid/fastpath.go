package liquid

import (
	"regexp"
	"strings"

	"github.com/osteele/liquid/render"
)

// Most Studio properties are text with plain variable outputs:
//
//	Hello {{flow.data.first_name}}, your code is {{widgets.fn.parsed.code}}.
//
// For those the library's per-render setup (copying the bindings, building
// an evaluation context per output, reflection on every property) costs far
// more than the lookups. So when a template is parsed, a template made only
// of text and {{ a.b.c }} outputs also gets a plan, and Render follows the
// plan with plain map lookups, falling back to the library whenever a value
// is not a plain map on the way (an array, a string, a special property
// such as size). The result is the library's by construction: the same
// lookups, then the same formatValue. FuzzPlanMatchesLibrary checks it.

// segment is one part of a plan: literal text, or the property path of an
// output.
type segment struct {
	text string
	path []string
}

// plainPath matches what the library's scanner reads as an identifier
// followed by properties: letters, digits, "_" and "-", an optional
// trailing "?", no spaces and no brackets.
var plainPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*\??(\.[A-Za-z_][A-Za-z0-9_-]*\??)*$`)

// scannerKeywords are words the library's scanner reads as literals or
// operators rather than variable names, when they stand alone.
var scannerKeywords = map[string]bool{
	"true": true, "false": true, "nil": true, "and": true, "or": true, "contains": true, "in": true,
}

// planFor returns the plan of a compiled (not yet rewritten) template, or
// nil when the template has anything but text and plain outputs.
func planFor(root render.Node) []segment {
	seq, ok := root.(*render.SeqNode)
	if !ok {
		return nil
	}
	plan := make([]segment, 0, len(seq.Children))
	for _, child := range seq.Children {
		switch n := child.(type) {
		case *render.TextNode:
			plan = append(plan, segment{text: n.Source})
		case *render.ObjectNode:
			args := strings.TrimSpace(n.Args)
			if !plainPath.MatchString(args) {
				return nil
			}
			path := strings.Split(args, ".")
			if scannerKeywords[path[0]] {
				return nil
			}
			plan = append(plan, segment{path: path})
		default:
			return nil
		}
	}
	return plan
}

// renderPlan renders a plan against vars. ok is false when a lookup needs
// the library's semantics; the caller then renders the template normally.
func renderPlan(plan []segment, vars map[string]any) (out string, ok bool) {
	var b strings.Builder
	for _, seg := range plan {
		if seg.path == nil {
			b.WriteString(seg.text)
			continue
		}
		v, ok := lookup(seg.path, vars)
		if !ok {
			return "", false
		}
		b.WriteString(formatValue(v))
		if b.Len() > MaxOutputBytes {
			return "", false // let the library path report the limit
		}
	}
	return b.String(), true
}

// lookup resolves path in vars as the library does for map[string]any
// values: a present key gives its value, a missing one nil, and nil has no
// properties. Anything else (another container, the size property of a
// map) is left to the library.
func lookup(path []string, vars map[string]any) (any, bool) {
	cur, found := vars[path[0]]
	if !found {
		cur = nil
	}
	for _, key := range path[1:] {
		switch m := cur.(type) {
		case nil:
			return nil, true
		case map[string]any:
			v, found := m[key]
			if !found {
				if key == "size" {
					return nil, false
				}
				v = nil
			}
			cur = v
		default:
			return nil, false
		}
	}
	return cur, true
}

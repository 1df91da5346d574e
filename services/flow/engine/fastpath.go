package engine

import (
	"strings"

	"github.com/convoflow/convoflow/services/flow/engine/liquid"
)

// fastRender renders the one template shape most Studio properties have,
// text with plain variable outputs such as
//
//	Hello, {{flow.data.patient_first_name}}. Your appointment is {{widgets.get-datetime-parts.parsed.readable_datetime}}.
//
// when every variable is a string or undefined, without going through the
// Liquid library. It is an accelerator, not a Liquid interpreter: anything
// else (tags, filters, whitespace control, brackets, numbers, objects,
// null, the size/first/last properties, output near the 16 KB limit)
// returns ok=false and the caller renders with the liquid package, whose
// result is the reference: TestFastRenderMatchesLiquid compares the two.
// Without it, a split → set-variables → send-message step spent most of its
// time in the library's per-render setup.
func fastRender(src string, vars map[string]any) (string, bool) {
	if strings.Contains(src, "{%") {
		return "", false
	}
	var b strings.Builder
	rest := src
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:open])
		rest = rest[open+2:]
		end := strings.Index(rest, "}}")
		if end < 0 {
			return "", false
		}
		v, ok := lookupString(strings.TrimSpace(rest[:end]), vars)
		if !ok {
			return "", false
		}
		b.WriteString(v)
		rest = rest[end+2:]
	}
	if b.Len() > liquid.MaxOutputBytes/2 {
		return "", false // let the library apply (and report) the limit
	}
	return b.String(), true
}

// lookupString resolves a dotted path of identifiers to a string value. An
// undefined key renders "" (lax); any other value defers to the library.
func lookupString(path string, vars map[string]any) (string, bool) {
	if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return "", false
	}
	var cur any = vars
	for path != "" {
		seg, next, _ := strings.Cut(path, ".")
		if !identifier(seg) {
			return "", false
		}
		switch seg {
		case "size", "first", "last":
			return "", false // Liquid's special properties
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		v, present := m[seg]
		if !present {
			// Undefined, and so is everything below it.
			if next == "" {
				return "", true
			}
			for _, s := range strings.Split(next, ".") {
				switch {
				case !identifier(s):
					return "", false
				case s == "size" || s == "first" || s == "last":
					return "", false
				}
			}
			return "", true
		}
		cur, path = v, next
	}
	s, ok := cur.(string)
	return s, ok
}

// identifier accepts Liquid variable names as Studio writes them: a letter
// or underscore, then letters, digits, underscores or hyphens (widget names
// such as get-datetime-parts).
func identifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case i > 0 && (c == '-' || (c >= '0' && c <= '9')):
		default:
			return false
		}
	}
	return true
}

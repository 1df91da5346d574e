package liquid

import (
	"github.com/osteele/liquid/render"
)

// UnknownFilters returns the names of the filters src applies that the
// renderer does not have, in order of first use, or nil. The library looks
// a filter up only when it applies it, so a template naming an unknown one
// parses, then fails at render time (or never, in a branch not taken);
// flow validation reports these as warnings, since a Studio export may use
// a filter this renderer lacks and should still deploy. A template that
// does not parse has none: Check reports it.
func (r *Renderer) UnknownFilters(src string) []string {
	if !hasMarkup(src) {
		return nil
	}
	root, err := r.compile(src)
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	walkArgs(root, func(args string) {
		for _, name := range filterNames(args) {
			if !r.filters[name] && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	})
	return out
}

// walkArgs calls fn with the arguments of every output and tag in the
// tree: where filters are applied.
func walkArgs(n render.Node, fn func(args string)) {
	switch n := n.(type) {
	case *render.SeqNode:
		for _, c := range n.Children {
			walkArgs(c, fn)
		}
	case *render.ObjectNode:
		fn(n.Args)
	case *render.TagNode:
		fn(n.Args)
	case *render.BlockNode:
		if n.Name == "comment" {
			return
		}
		fn(n.Args)
		for _, c := range n.Body {
			walkArgs(c, fn)
		}
		for _, c := range n.Clauses {
			walkArgs(c, fn)
		}
	}
}

// filterNames returns the names after each "|" of a Liquid expression,
// outside string literals.
func filterNames(expr string) []string {
	var names []string
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '|':
			j := i + 1
			for j < len(expr) && (expr[j] == ' ' || expr[j] == '\t' || expr[j] == '\n' || expr[j] == '\r') {
				j++
			}
			k := j
			for k < len(expr) && isNameByte(expr[k], k == j) {
				k++
			}
			if k > j {
				names = append(names, expr[j:k])
			}
			i = k - 1
		}
	}
	return names
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	case '0' <= c && c <= '9', c == '-', c == '?':
		return !first
	}
	return false
}

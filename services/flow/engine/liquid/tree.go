package liquid

// osteele/liquid has no hooks for two things Studio needs: rendering
// objects and arrays as JSON (it prints Go's map[a:1] and concatenates array
// items) and limiting loop iterations. Rather than fork it, the compiled
// tree is rewritten once, right after parsing, using only its exported
// parts: every {{ }} node is swapped for a tag node that evaluates the same
// expression and writes it Studio's way, and every for/tablerow body gets a
// guard tag node as its first child, which fails the render on the 16th
// iteration. Two library gaps are closed on the way: a for loop with an
// else clause is wrapped so the clause also runs for an undefined
// collection, and markup holding the scanner's internal statement markers
// is rejected before it can crash at render time. The tag nodes come from a
// private configuration whose tag names users cannot reach, since user
// templates are parsed with the public one.

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/osteele/liquid/expressions"
	"github.com/osteele/liquid/parser"
	"github.com/osteele/liquid/render"
)

const (
	// synthTag names the tag of synthetic nodes, in the private
	// configuration only.
	synthTag = "studio_synthetic"
	// stateKey holds the per-render *renderState in the bindings. It
	// contains a space, so no Liquid variable can name or assign it.
	stateKey = " studio render state"
)

// renderState is the mutable state of one render.
type renderState struct {
	iterations int
}

// rewriter walks one template's tree.
type rewriter struct {
	// loops records whether the template has a loop, conditions whether
	// it has a tag that compares values.
	loops, conditions bool
}

// rewrite swaps output nodes and guards loops throughout the tree.
func (rw *rewriter) rewrite(r *Renderer, n render.Node) error {
	switch n := n.(type) {
	case *render.SeqNode:
		return rw.rewriteList(r, n.Children)
	case *render.BlockNode:
		if err := checkArgs(n.Token); err != nil {
			return err
		}
		switch n.Name {
		case "if", "unless", "case", "elsif", "when":
			rw.conditions = true
		}
		if err := rw.rewriteList(r, n.Body); err != nil {
			return err
		}
		for _, c := range n.Clauses {
			if err := rw.rewrite(r, c); err != nil {
				return err
			}
		}
		if n.Name == "for" || n.Name == "tablerow" {
			// Only the body iterates; an else clause runs for an empty loop.
			rw.loops = true
			guard, err := r.guardNode(n)
			if err != nil {
				return err
			}
			n.Body = append([]render.Node{guard}, n.Body...)
		}
	}
	return nil
}

func (rw *rewriter) rewriteList(r *Renderer, nodes []render.Node) error {
	for i, child := range nodes {
		switch n := child.(type) {
		case *render.TagNode:
			if err := checkArgs(n.Token); err != nil {
				return err
			}
		case *render.ObjectNode:
			if err := checkArgs(n.Token); err != nil {
				return err
			}
		}
		obj, ok := child.(*render.ObjectNode)
		if !ok {
			if err := rw.rewrite(r, child); err != nil {
				return err
			}
			if b, ok := child.(*render.BlockNode); ok && b.Name == "for" && len(b.Clauses) == 1 && b.Clauses[0].Name == "else" {
				wrapped, err := r.forElseNode(b)
				if err != nil {
					return err
				}
				nodes[i] = wrapped
			}
			continue
		}
		out, err := r.outputNode(obj)
		if err != nil {
			return err
		}
		nodes[i] = out
	}
	return nil
}

// statementSelectors are the markers the library's expression scanner uses
// to parse tag statements; in a user's markup they make the parser build
// an expression that crashes when evaluated ({%case {%when 0%}).
var statementSelectors = []string{
	expressions.AssignStatementSelector,
	expressions.CycleStatementSelector,
	expressions.LoopStatementSelector,
	expressions.WhenStatementSelector,
}

// checkArgs rejects markup whose arguments hold a statement selector. No
// valid template has one outside a string literal, and none plausibly has
// one inside.
func checkArgs(tok parser.Token) error {
	for _, sel := range statementSelectors {
		if strings.Contains(tok.Args, sel) {
			return parser.Errorf(tok, "invalid markup %q", strings.TrimSpace(sel))
		}
	}
	return nil
}

// outputNode builds the synthetic node replacing obj. The library parsed
// obj's expression already but keeps it unexported, so it is parsed again
// here, once per template.
func (r *Renderer) outputNode(obj *render.ObjectNode) (render.Node, error) {
	expr, err := expressions.Parse(obj.Args)
	if err != nil {
		return nil, parser.WrapError(err, obj)
	}
	return r.synthNode(func(w io.Writer, ctx render.Context) error {
		v, err := ctx.Evaluate(expr)
		if err != nil {
			// Report the user's {{ }} rather than the synthetic tag.
			return parser.WrapError(err, obj)
		}
		s := formatValue(v)
		if len(s) > maxValueBytes {
			return parser.WrapError(fmt.Errorf("%w: a value of %d bytes", ErrOutputTooLarge, len(s)), obj)
		}
		_, err = io.WriteString(w, s)
		return err
	})
}

// forElseNode wraps a for loop that has an else clause. The library runs
// the else clause only for an empty array, and renders nothing at all when
// the collection is undefined or not a list; Shopify, and so a Studio user
// writing {% for x in widgets.http.parsed.items %}…{% else %}none{% endfor %},
// expects the else clause then too.
func (r *Renderer) forElseNode(loop *render.BlockNode) (render.Node, error) {
	stmt, err := expressions.ParseStatement(expressions.LoopStatementSelector, loop.Args)
	if err != nil {
		return nil, parser.WrapError(err, loop)
	}
	collection := stmt.Loop.Expr
	// RenderBlock renders a block's body, so a bare block holding the loop
	// renders the loop itself.
	whole := &render.BlockNode{Body: []render.Node{loop}}
	return r.synthNode(func(w io.Writer, ctx render.Context) error {
		v, err := ctx.Evaluate(collection)
		if err != nil {
			return parser.WrapError(err, loop)
		}
		if !iterable(v) {
			return ctx.RenderBlock(w, loop.Clauses[0])
		}
		return ctx.RenderBlock(w, whole)
	})
}

// iterable reports whether the library's for loop iterates over v (see
// makeIterator in its tags package): arrays, slices and maps.
func iterable(v any) bool {
	if v == nil {
		return false
	}
	if _, ok := v.(interface {
		Len() int
		Index(int) any
	}); ok {
		return true
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Array, reflect.Slice, reflect.Map:
		return true
	default:
		return false
	}
}

// guardNode builds the guard of one loop. It runs as the first child of
// the loop body, right after the loop has set forloop for the iteration,
// so forloop.index is this loop's.
func (r *Renderer) guardNode(loop *render.BlockNode) (render.Node, error) {
	return r.synthNode(func(_ io.Writer, ctx render.Context) error {
		if fl, ok := ctx.Get("forloop").(map[string]any); ok {
			if i, ok := fl["index"].(int); ok && i > MaxLoopIterations {
				return parser.WrapError(fmt.Errorf("%w: the loop has %v items", ErrLoopLimit, fl["length"]), loop)
			}
		}
		if st, ok := ctx.Get(stateKey).(*renderState); ok {
			st.iterations++
			if st.iterations > MaxRenderIterations {
				return parser.WrapError(fmt.Errorf("%w: more than %d iterations in all loops together", ErrLoopLimit, MaxRenderIterations), loop)
			}
		}
		return nil
	})
}

// synthNode returns a tag node that renders with fn. Tag nodes can only be
// made by compiling a tag, so fn is handed to the synthetic tag's compiler
// through synthPending, under synthMu.
func (r *Renderer) synthNode(fn func(io.Writer, render.Context) error) (render.Node, error) {
	r.synthMu.Lock()
	defer r.synthMu.Unlock()
	r.synthPending = fn
	defer func() { r.synthPending = nil }()
	root, err := r.synthCfg.Compile("{%"+synthTag+"%}", parser.SourceLoc{})
	if err != nil {
		return nil, err
	}
	return root.(*render.SeqNode).Children[0], nil
}

// compileSynth is the tag compiler of synthTag; it only runs inside
// synthNode.
func (r *Renderer) compileSynth(string) (func(io.Writer, render.Context) error, error) {
	if r.synthPending == nil {
		return nil, errors.New("synthetic tag outside a rewrite")
	}
	return r.synthPending, nil
}

// replaceUnsafeTags swaps two standard tags: include, which reads files
// from the server's disk and has no place in a flow, and cycle, whose
// library version panics when a template assigns forloop itself.
func (r *Renderer) replaceUnsafeTags() {
	r.cfg.AddTag("include", func(string) (func(io.Writer, render.Context) error, error) {
		return nil, errors.New("the include tag is not supported in Studio flows")
	})
	r.cfg.AddTag("cycle", func(args string) (func(io.Writer, render.Context) error, error) {
		stmt, err := expressions.ParseStatement(expressions.CycleStatementSelector, args)
		if err != nil {
			return nil, err
		}
		cycle := stmt.Cycle
		return func(w io.Writer, ctx render.Context) error {
			loop, _ := ctx.Get("forloop").(map[string]any)
			counts, ok := loop[".cycles"].(map[string]int)
			if !ok || len(cycle.Values) == 0 {
				return ctx.Errorf("cycle must be within a for loop")
			}
			n := counts[cycle.Group]
			counts[cycle.Group] = n + 1
			_, err := io.WriteString(w, cycle.Values[n%len(cycle.Values)])
			return err
		}, nil
	})
}

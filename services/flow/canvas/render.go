package canvas

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/convoflow/convoflow/services/flow/engine"
)

// Step is one transition an execution took, as an ExecutionStep records
// it: from a widget, by an event, to a widget (or to something that is not
// a widget of the flow, such as "Ended").
type Step struct {
	From, Event, To string
}

// Options say what to draw besides the definition. The zero value draws
// the bare flow.
type Options struct {
	// Steps are an execution's steps in order. The widgets they visit get
	// data-visited="true" and a badge with their place in the path (a
	// widget visited twice shows both), and the transitions they took are
	// highlighted with data-step.
	Steps []Step
	// Counts, when not nil, gives every widget a count badge
	// (data-count="N"; widgets missing from the map show 0), for example
	// the executions waiting at each widget.
	Counts map[string]int
	// Problems are validation errors by widget name, drawn as a red
	// border with the messages as the widget's tooltip (data-problems).
	Problems map[string][]string
	// Warnings are what validation found worth fixing in a valid
	// definition (an unknown Liquid filter, say), drawn like Problems in
	// amber (data-warnings).
	Warnings map[string][]string
}

// Render writes def as a standalone SVG document (it is also valid inline
// in HTML).
func Render(w io.Writer, def *engine.Definition, opts Options) error {
	nodes := layout(def)
	visits, taken := path(def, opts.Steps)
	bw := bufio.NewWriter(w)
	minX, minY, maxX, maxY := bounds(nodes)
	width, height := maxX-minX, maxY-minY
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" class="flow-canvas" viewBox="%s %s %s %s" width="%s" height="%s" role="img" aria-label="%s">`+"\n",
		num(minX), num(minY), num(width), num(height), num(width), num(height), esc("flow: "+def.Description))
	bw.WriteString(style)
	bw.WriteString(`<defs><marker id="cf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>` + "\n")
	bw.WriteString("<g class=\"edges\">\n")
	for i, n := range nodes {
		for k, p := range n.ports {
			writeEdge(bw, nodes, n, p, taken[portKey{i, k}])
		}
	}
	bw.WriteString("</g>\n<g class=\"nodes\">\n")
	for i, n := range nodes {
		writeNode(bw, n, visits[i], opts)
	}
	bw.WriteString("</g>\n</svg>\n")
	return bw.Flush()
}

// style makes the standalone file look like the console; the console's
// stylesheet may override it.
const style = `<style>
.flow-canvas{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f7f9}
.node rect.box{fill:#fff;stroke:#8a94a6;stroke-width:1.5}
.node .name{font-size:13px;font-weight:600;fill:#1f2937}
.node .type{font-size:11px;fill:#6b7280}
.node .port{fill:#8a94a6}
.node.visited rect.box{fill:#e8f5ee;stroke:#138a4b;stroke-width:3}
.node.invalid rect.box{stroke:#c62828;stroke-width:3;stroke-dasharray:6 3}
.node.warned rect.box{stroke:#b45309;stroke-width:3;stroke-dasharray:6 3}
.badge circle{fill:#138a4b}.badge text{fill:#fff;font-size:11px;font-weight:700}
.count rect{fill:#2563eb}.count text{fill:#fff;font-size:11px;font-weight:700}
.problem circle{fill:#c62828}.problem text,.warning text{fill:#fff;font-size:12px;font-weight:700}
.warning circle{fill:#b45309}
.edge path{fill:none;stroke:#8a94a6;stroke-width:1.5}
.edge text{font-size:10px;fill:#4b5563;paint-order:stroke;stroke:#f6f7f9;stroke-width:3px}
.edge.taken path{stroke:#138a4b;stroke-width:3}
.edge.taken text{fill:#0b5e33;font-weight:600}
.edge.loose path{stroke-dasharray:3 3}
.edge.dangling path{stroke:#c62828}
.edge .end{fill:#fff;stroke:#8a94a6;stroke-width:1.5}
</style>
`

type portKey struct{ node, port int }

// path turns steps into the visit order of each widget (1-based places in
// the path) and the step numbers of each transition taken.
func path(def *engine.Definition, steps []Step) (map[int][]int, map[portKey][]int) {
	visits := map[int][]int{}
	taken := map[portKey][]int{}
	index := map[string]int{}
	for i, s := range def.States {
		if _, dup := index[s.Name]; !dup {
			index[s.Name] = i
		}
	}
	place := 0
	visit := func(name string) {
		if i, ok := index[name]; ok {
			place++
			visits[i] = append(visits[i], place)
		}
	}
	for n, st := range steps {
		if n == 0 {
			visit(st.From)
		}
		if i, ok := index[st.From]; ok {
			for k, t := range def.States[i].Transitions {
				if t.Event == st.Event {
					taken[portKey{i, k}] = append(taken[portKey{i, k}], n+1)
					break
				}
			}
		}
		visit(st.To)
	}
	return visits, taken
}

func bounds(nodes []node) (minX, minY, maxX, maxY float64) {
	if len(nodes) == 0 {
		return -margin, -margin, margin, margin
	}
	minX, minY = math.Inf(1), math.Inf(1)
	maxX, maxY = math.Inf(-1), math.Inf(-1)
	for _, n := range nodes {
		minX, minY = min(minX, n.x), min(minY, n.y)
		maxX, maxY = max(maxX, n.x+n.w), max(maxY, n.y+nodeHeight+looseLength+8)
	}
	return minX - margin, minY - margin, maxX + margin, maxY + margin
}

func writeNode(w *bufio.Writer, n node, visits []int, opts Options) {
	class := "node"
	if len(visits) > 0 {
		class += " visited"
	}
	problems, warnings := opts.Problems[n.name], opts.Warnings[n.name]
	if len(problems) > 0 {
		class += " invalid"
	} else if len(warnings) > 0 {
		class += " warned"
	}
	fmt.Fprintf(w, `<g class="%s" data-widget="%s" data-type="%s"`, class, esc(n.name), esc(n.typ))
	if len(visits) > 0 {
		fmt.Fprintf(w, ` data-visited="true" data-order="%s"`, joinInts(visits, " "))
	}
	if len(problems) > 0 {
		fmt.Fprintf(w, ` data-problems="%d"`, len(problems))
	}
	if len(warnings) > 0 {
		fmt.Fprintf(w, ` data-warnings="%d"`, len(warnings))
	}
	fmt.Fprintf(w, ` transform="translate(%s,%s)">`+"\n", num(n.x), num(n.y))
	title := n.name + " (" + n.typ + ")"
	for _, p := range problems {
		title += "\nerror: " + p
	}
	for _, p := range warnings {
		title += "\nwarning: " + p
	}
	fmt.Fprintf(w, "<title>%s</title>\n", esc(title))
	fmt.Fprintf(w, `<rect class="box" width="%s" height="%d" rx="6"/>`+"\n", num(n.w), nodeHeight)
	fmt.Fprintf(w, `<text class="name" x="12" y="24">%s</text>`+"\n", esc(n.name))
	fmt.Fprintf(w, `<text class="type" x="12" y="42">%s</text>`+"\n", esc(n.typ))
	for _, p := range n.ports {
		fmt.Fprintf(w, `<circle class="port" cx="%s" cy="%d" r="3.5"/>`+"\n", num(p.x), nodeHeight)
	}
	if len(visits) > 0 {
		label := joinInts(visits, ",")
		r := max(11, 4+3.5*float64(len(label)))
		fmt.Fprintf(w, `<g class="badge"><circle cx="0" cy="0" r="%s"/><text x="0" y="4" text-anchor="middle">%s</text></g>`+"\n", num(r), label)
	}
	if opts.Counts != nil {
		c := opts.Counts[n.name]
		fmt.Fprintf(w, `<g class="count" data-count="%d"><rect x="%s" y="-10" width="36" height="20" rx="10"/><text x="%s" y="4" text-anchor="middle">%d</text></g>`+"\n",
			c, num(n.w-30), num(n.w-12), c)
	}
	if len(problems)+len(warnings) > 0 {
		badge := "problem"
		if len(problems) == 0 {
			badge = "warning"
		}
		fmt.Fprintf(w, `<g class="%s">`, badge)
		fmt.Fprintf(w, `<circle cx="%s" cy="20" r="9"/><text x="%s" y="24" text-anchor="middle">!</text></g>`+"\n", num(n.w-18), num(n.w-18))
	}
	w.WriteString("</g>\n")
}

func writeEdge(w *bufio.Writer, nodes []node, n node, p port, steps []int) {
	x0, y0 := n.x+p.x, n.y+nodeHeight
	class := "edge"
	switch {
	case p.target == noTarget:
		class += " loose"
	case p.target == missingTarget:
		class += " dangling"
	}
	if len(steps) > 0 {
		class += " taken"
	}
	fmt.Fprintf(w, `<g class="%s" data-from="%s" data-event="%s"`, class, esc(n.name), esc(p.event))
	if p.next != "" {
		fmt.Fprintf(w, ` data-to="%s"`, esc(p.next))
	}
	if len(steps) > 0 {
		fmt.Fprintf(w, ` data-step="%s"`, joinInts(steps, " "))
	}
	w.WriteString(">")
	title := p.label
	if p.label != p.event {
		title += " (" + p.event + ")"
	}
	if p.target == missingTarget {
		title += ": leads to " + p.next + ", which is not a widget of this flow"
	}
	fmt.Fprintf(w, "<title>%s</title>", esc(title))
	if p.target >= 0 {
		t := nodes[p.target]
		x1, y1 := t.x+t.w/2, t.y
		// The curve leaves downwards and enters the target from above, as
		// Studio draws it; targets above their source loop round.
		dy := max(40, math.Abs(y1-y0)/2)
		fmt.Fprintf(w, `<path d="M%s,%s C%s,%s %s,%s %s,%s" marker-end="url(#cf-arrow)"/>`,
			num(x0), num(y0), num(x0), num(y0+dy), num(x1), num(y1-dy), num(x1), num(y1-2))
	} else {
		fmt.Fprintf(w, `<path d="M%s,%s V%s"/><circle class="end" cx="%s" cy="%s" r="4"/>`,
			num(x0), num(y0), num(y0+looseLength), num(x0), num(y0+looseLength+4))
	}
	label := p.label
	if r := []rune(label); len(r) > maxLabel {
		label = string(r[:maxLabel-1]) + "…"
	}
	if len(steps) > 0 {
		label = "#" + joinInts(steps, ",") + " " + label
	}
	fmt.Fprintf(w, `<text x="%s" y="%s" text-anchor="middle">%s</text></g>`+"\n", num(x0), num(y0+16), esc(label))
}

// num formats a coordinate without needless decimals, so the output is
// stable and small.
func num(f float64) string {
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

func joinInts(xs []int, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

func esc(s string) string { return html.EscapeString(s) }

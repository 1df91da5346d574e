package canvas

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/convoflow/convoflow/services/flow/engine"
)

// Geometry of the drawing, in SVG user units (pixels at zoom 1). Studio's
// offsets place a widget's top-left corner; its boxes are about this size.
const (
	minNodeWidth = 220
	nodeHeight   = 64
	portSpacing  = 112
	// charWidth estimates the width of one character of a widget's name
	// (13px sans-serif), to widen boxes whose name would not fit.
	charWidth = 8
	// looseLength is how far a loose end reaches below its port.
	looseLength = 30
	// margin surrounds the drawing, leaving room for badges and labels.
	margin = 48
	// fallbackGap separates widgets without an offset, stacked in a column
	// right of the others.
	fallbackGap = 120
	// maxLabel is the longest transition label drawn in full; longer ones
	// are cut and keep the whole text in a tooltip.
	maxLabel = 20
)

// node is one widget as laid out.
type node struct {
	name, typ string
	x, y, w   float64
	ports     []port
}

// port is one transition, drawn from the bottom edge of its widget.
type port struct {
	event string
	label string
	next  string
	// target is the index of the widget next names, -1 when nothing is
	// connected and -2 when next names no widget of the definition.
	target int
	x      float64 // relative to the node's x
}

const (
	noTarget      = -1
	missingTarget = -2
)

// layout places every widget of def: at its offset, or, when it has none,
// in a column right of the widgets that have one.
func layout(def *engine.Definition) []node {
	index := make(map[string]int, len(def.States))
	for i, s := range def.States {
		if _, dup := index[s.Name]; !dup {
			index[s.Name] = i
		}
	}
	nodes := make([]node, len(def.States))
	var unplaced []int
	maxX, placed := 0.0, false
	for i, s := range def.States {
		n := node{name: s.Name, typ: s.Type}
		for _, t := range s.Transitions {
			p := port{event: t.Event, label: Label(s, t), next: t.Next, target: noTarget}
			if t.Next != "" {
				p.target = missingTarget
				if j, ok := index[t.Next]; ok {
					p.target = j
				}
			}
			n.ports = append(n.ports, p)
		}
		n.w = max(minNodeWidth, float64(len(n.ports))*portSpacing, float64(len([]rune(s.Name)))*charWidth+32)
		for k := range n.ports {
			// Ports spread evenly along the bottom edge.
			n.ports[k].x = n.w * (float64(k) + 0.5) / float64(len(n.ports))
		}
		if x, y, ok := offset(s.Properties); ok {
			n.x, n.y = x, y
			if !placed || x+n.w > maxX {
				maxX = x + n.w
			}
			placed = true
		} else {
			unplaced = append(unplaced, i)
		}
		nodes[i] = n
	}
	col := 0.0
	if placed {
		col = maxX + fallbackGap
	}
	y := 0.0
	for _, i := range unplaced {
		nodes[i].x, nodes[i].y = col, y
		y += nodeHeight + fallbackGap
	}
	return nodes
}

// offset reads properties.offset. Studio writes numbers; strings holding
// numbers are accepted too, as the engine accepts them elsewhere.
func offset(props json.RawMessage) (x, y float64, ok bool) {
	if len(props) == 0 {
		return 0, 0, false
	}
	var p struct {
		Offset *struct {
			X json.RawMessage `json:"x"`
			Y json.RawMessage `json:"y"`
		} `json:"offset"`
	}
	if json.Unmarshal(props, &p) != nil || p.Offset == nil {
		return 0, 0, false
	}
	x, okX := number(p.Offset.X)
	y, okY := number(p.Offset.Y)
	return x, y, okX && okY
}

func number(raw json.RawMessage) (float64, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// eventLabels are the names Studio's canvas gives transitions, by widget
// type and event, then by event alone; other events are shown as they are.
var eventLabels = map[string]string{
	"trigger/incomingMessage":                 "Incoming Message",
	"trigger/incomingCall":                    "Incoming Call",
	"trigger/incomingConversationMessage":     "Incoming Conversation",
	"trigger/incomingRequest":                 "REST API",
	"trigger/incomingParent":                  "Subflow",
	"send-and-wait-for-reply/incomingMessage": "Reply",
	"noMatch":         "No Condition Matches",
	"timeout":         "No Reply",
	"deliveryFailure": "Delivery Failure",
	"success":         "Success",
	"fail":            "Fail",
	"failed":          "Failed",
	"sent":            "Sent",
	"completed":       "Completed",
	"callComplete":    "Call Complete",
	"callFailure":     "Call Failure",
}

// Label is the text Studio shows on a transition: a split-based-on match
// by its first condition's friendly name (or its test and value when it
// has none), Studio's names for the common events, the event otherwise.
func Label(s *engine.State, t engine.Transition) string {
	if t.Event == "match" && len(t.Conditions) > 0 {
		c := t.Conditions[0]
		if c.FriendlyName != "" {
			return c.FriendlyName
		}
		return strings.TrimSpace(strings.ReplaceAll(c.Type, "_", " ") + " " + c.Value)
	}
	if l, ok := eventLabels[s.Type+"/"+t.Event]; ok {
		return l
	}
	if l, ok := eventLabels[t.Event]; ok {
		return l
	}
	return t.Event
}

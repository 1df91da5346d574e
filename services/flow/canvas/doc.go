// Package canvas draws a Studio flow definition the way Studio's canvas
// shows it, as SVG: every widget as a box at its properties.offset,
// labelled with its name and type, and every transition as an arrow from a
// port on the widget's bottom edge to the widget it leads to, labelled with
// its event (a split-based-on match by its condition's friendly name).
// Transitions that lead nowhere are drawn as loose ends, as Studio does.
//
// Options add what an execution or a draft says about the flow: the
// widgets an execution visited (data-visited="true" on exactly those
// nodes, numbered in visit order, the transitions taken highlighted), a
// count per widget and validation problems on the widgets they concern.
//
// Every widget's group carries data-widget="NAME" and every transition's
// data-event, so tests and users' own tools can find them without reading
// coordinates. The package is pure: it reads a parsed definition
// (engine.Parse) and writes SVG, and imports no server, store or network
// package, so the console and `flowservice render-flow` draw alike.
package canvas

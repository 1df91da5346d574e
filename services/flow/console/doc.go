// Package console is FlowService's web console under /console/: read-only
// HTML pages that show each flow as Studio's canvas draws it (package
// canvas), its executions, the path an execution took with every step's
// context, and, while an execution is active, its steps as they happen.
//
// The pages are Go html/template with a small hand-written script and
// stylesheet embedded in the binary (no JavaScript toolchain); without
// scripts they are plain readable HTML, and the script adds pan and zoom,
// the revision picker's auto-submit and live updates.
//
// The console keeps no state and reads nothing itself: every page is
// made from FlowService's own handler (flowv1connect.FlowServiceHandler),
// the value that serves the RPCs, so it shows exactly what the API
// answers. Live updates are server-sent events over WatchExecution.
//
// Its routes are plain HTTP routes, which the server's API-key check does
// not cover, so the console checks keys itself (see auth.go).
package console

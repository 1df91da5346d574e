package flow

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

// updateScreenshots writes the README's screenshots from the browser
// test: go test ./services/flow -run TestConsole_browser -update-screenshots
var updateScreenshots = flag.Bool("update-screenshots", false, "write the console screenshots under docs/ (README)")

// envRequireBrowser makes a missing chromium fail the browser tests
// instead of skipping them; CI sets it.
const envRequireBrowser = "CONVOFLOW_REQUIRE_BROWSER"

// browser starts a headless chromium for one test (tooling.md §7) and
// returns its context, bounded by timeout.
func browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv(envRequireBrowser) == "1" {
			t.Fatalf("no chromium on PATH and %s=1: install it (apt-get install -y chromium)", envRequireBrowser)
		}
		t.Skipf("no chromium on PATH (apt-get install -y chromium); set %s=1 to fail instead", envRequireBrowser)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // chromium refuses to run as root with its sandbox
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// attrsOf returns attribute attr of every element matching selector.
func attrsOf(t *testing.T, ctx context.Context, selector, attr string) []string {
	t.Helper()
	js := `[...document.querySelectorAll(` + jsString(selector) + `)].map(e => e.getAttribute(` + jsString(attr) + `))`
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
	if err != nil {
		t.Fatalf("reading %s[%s]: %v", selector, attr, err)
	}
	return out
}

func jsString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// screenshot saves the page under the test's temporary directory and,
// with -update-screenshots, as docs/NAME.png for the README.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(t.TempDir(), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	if *updateScreenshots {
		if err := os.WriteFile(filepath.Join("docs", name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConsole_browser drives the console in headless chromium against an
// in-process FlowService with the tutorial flow and one finished execution
// in which a customer texted "support", then follows a live execution.
func TestConsole_browser(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	c := s.svc.clients[0]
	def := readShared(t, "flows/support-agent.json")
	flowSid := deploy(t, c, "support agent", def)
	ch := s.conversation(t, flowSid, customer, colleague)
	s.text(t, customer, "support")
	e := executionIn(t, c, flowSid, ch, ended)
	steps := stepsOf(t, c, flowSid, e.GetSid())

	ctx := browser(t, 90*time.Second)
	base := s.svc.url + "/console/"

	t.Run("flow_list", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "support agent") || !strings.Contains(text, flowSid) {
			t.Errorf("/console/ does not name the flow:\n%s", text)
		}
	})

	t.Run("flow_page", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"flows/"+flowSid), chromedp.WaitVisible(chromedp.CSS(`svg.flow-canvas [data-widget]`))); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, st := range def.GetFields()["states"].GetListValue().GetValues() {
			want = append(want, st.GetStructValue().GetFields()["name"].GetStringValue())
		}
		if diff := cmp.Diff(want, attrsOf(t, ctx, "svg.flow-canvas [data-widget]", "data-widget")); diff != "" {
			t.Errorf("one node per widget (-want +got):\n%s", diff)
		}
		// The script made the canvas zoomable.
		viewBox := func() string {
			v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("svg.flow-canvas").getAttribute("viewBox")`))
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		before := viewBox()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.canvas .zoom button[title="Zoom in"]`))); err != nil {
			t.Fatal(err)
		}
		if after := viewBox(); after == before {
			t.Errorf("zoom in left the viewBox at %q", after)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.canvas .zoom button[title="Fit"]`))); err != nil {
			t.Fatal(err)
		}
		if after := viewBox(); after != before {
			t.Errorf("fit gives viewBox %q, want the drawing's %q", after, before)
		}
		screenshot(t, ctx, "console-flow")
	})

	t.Run("execution_page", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"flows/"+flowSid+"/executions/"+e.GetSid()), chromedp.WaitVisible(chromedp.CSS(`[data-visited="true"]`))); err != nil {
			t.Fatal(err)
		}
		// The visited widgets, by their place in the path, are exactly
		// the recorded steps: the first step's widget, then where each
		// step led (but "Ended").
		want := []string{steps[0].GetTransitionedFrom()}
		for _, st := range steps {
			if st.GetTransitionedTo() != "Ended" {
				want = append(want, st.GetTransitionedTo())
			}
		}
		if diff := cmp.Diff([]string{"Trigger", "check-support", "add-support-agent", "support-confirmation-message"}, want); diff != "" {
			t.Fatalf("recorded path (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, visitedInOrder(t, ctx)); diff != "" {
			t.Errorf("visited widgets (-want +got):\n%s", diff)
		}
		panel := attrsOf(t, ctx, "aside.steps li[data-step]", "data-step")
		var sids []string
		for _, st := range steps {
			sids = append(sids, st.GetSid())
		}
		if diff := cmp.Diff(sids, panel); diff != "" {
			t.Errorf("side panel steps (-want +got):\n%s", diff)
		}
		screenshot(t, ctx, "console-execution")
	})

	t.Run("live_execution", func(t *testing.T) {
		waitSid := deploy(t, c, "wait", waitDefinition(t, "3600"))
		ch := s.conversation(t, waitSid, "+15551250001", "+15551250002")
		s.text(t, "+15551250001", "hi")
		live := executionIn(t, c, waitSid, ch, waitingIn(t, c, waitSid, "ask"))
		// The flow page counts it at the widget it waits at.
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"flows/"+waitSid), chromedp.WaitVisible(chromedp.CSS(`svg.flow-canvas [data-widget]`))); err != nil {
			t.Fatal(err)
		}
		counts := attrsOf(t, ctx, `svg.flow-canvas [data-widget] .count`, "data-count")
		if diff := cmp.Diff([]string{"0", "1", "0", "0"}, counts); diff != "" {
			t.Errorf("counts of Trigger, ask, thanks, too-late (-want +got):\n%s", diff)
		}
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"flows/"+waitSid+"/executions/"+live.GetSid()),
			chromedp.WaitVisible(chromedp.CSS(`[data-visited="true"]`)),
			// Marks this page load: a reload would forget it.
			chromedp.Evaluate[chromedp.Void](`window.consoleTestMark = "same page"; undefined`),
		); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"Trigger", "ask"}, visitedInOrder(t, ctx)); diff != "" {
			t.Fatalf("visited while waiting (-want +got):\n%s", diff)
		}
		s.text(t, "+15551250002", "42")
		if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(`[data-status="ended"]`))); err != nil {
			t.Fatalf("the page did not show the end: %v", err)
		}
		mark, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.consoleTestMark || "reloaded"`))
		if err != nil {
			t.Fatal(err)
		}
		if mark != "same page" {
			t.Errorf("the page was reloaded (mark %q); it should update in place", mark)
		}
		if diff := cmp.Diff([]string{"Trigger", "ask", "thanks"}, visitedInOrder(t, ctx)); diff != "" {
			t.Errorf("visited after the reply (-want +got):\n%s", diff)
		}
		e := executionIn(t, c, waitSid, ch, ended)
		if e.GetStatus() != flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED {
			t.Errorf("execution = %v", e)
		}
	})
}

// visitedInOrder returns the widgets marked visited, ordered by their
// first place in the path (data-order).
func visitedInOrder(t *testing.T, ctx context.Context) []string {
	t.Helper()
	type visited struct {
		Name  string `json:"name"`
		Order string `json:"order"`
	}
	js := `[...document.querySelectorAll('svg.flow-canvas [data-visited="true"]')].map(e => ({name: e.dataset.widget, order: e.dataset.order}))`
	nodes, err := chromedp.Run(ctx, chromedp.Evaluate[[]visited](js))
	if err != nil {
		t.Fatal(err)
	}
	first := func(o string) int {
		f := strings.Fields(o)
		if len(f) == 0 {
			t.Fatalf("a visited node without data-order: %v", nodes)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("data-order %q: %v", o, err)
		}
		return n
	}
	sort.SliceStable(nodes, func(i, j int) bool { return first(nodes[i].Order) < first(nodes[j].Order) })
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return slices.Clip(out)
}

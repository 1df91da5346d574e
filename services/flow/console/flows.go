package console

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/canvas"
	"github.com/convoflow/convoflow/services/flow/engine"
)

// recentCap bounds the executions counted for "in the last hour" (one
// page of ListExecutions); more show as "1000+".
const recentCap = 1000

// activeCap bounds the active executions whose position the flow page
// counts; the page says when there are more.
const activeCap = 200

type flowRow struct {
	Flow   *flowv1.Flow
	Recent string
}

type flowsPage struct {
	Now   time.Time
	Flows []flowRow
	Next  string
}

// flowList is /console/: every flow with its status, revision, last
// change and executions in the last hour.
func (c *Console) flowList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	resp, err := c.flows.ListFlows(ctx, &flowv1.ListFlowsRequest{PageSize: 100, PageToken: r.URL.Query().Get("page")})
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	now := c.now()
	page := flowsPage{Now: now, Next: resp.GetNextPageToken()}
	for _, f := range resp.GetFlows() {
		ex, err := c.flows.ListExecutions(ctx, &flowv1.ListExecutionsRequest{
			FlowSid: f.GetSid(), CreateTimeFrom: timestamppb.New(now.Add(-time.Hour)), PageSize: recentCap,
		})
		if err != nil {
			c.failRPC(w, r, err)
			return
		}
		n := strconv.Itoa(len(ex.GetExecutions()))
		if ex.GetNextPageToken() != "" {
			n += "+"
		}
		page.Flows = append(page.Flows, flowRow{Flow: f, Recent: n})
	}
	c.render(w, r, http.StatusOK, "flows", page)
}

type flowPage struct {
	Flow      *flowv1.Flow
	Revision  *flowv1.FlowRevision
	Revisions []*flowv1.FlowRevision
	Canvas    template.HTML
	// Problems are the revision's validation errors and warnings that
	// concern no single widget (those are drawn on the canvas).
	Problems []canvas.Problem
	// Warnings says whether the canvas shows warnings.
	Warnings bool
	// Active is how many active executions the counts cover, and More
	// whether there are more than activeCap.
	Active int
	More   bool
}

// flowPage is /console/flows/{flow}[?revision=N]: the canvas of a
// revision (the latest by default), its validation errors on the widgets
// they concern, and how many active executions wait at each widget.
func (c *Console) flowPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sid := r.PathValue("flow")
	fr, err := c.flows.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: sid})
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	number := fr.GetFlow().GetRevision()
	if q := r.URL.Query().Get("revision"); q != "" {
		n, err := strconv.ParseInt(q, 10, 32)
		if err != nil || n < 1 {
			c.fail(w, r, http.StatusBadRequest, "revision must be a revision number (1, 2, …), not "+strconv.Quote(q)+".")
			return
		}
		number = int32(n)
	}
	rev, def, ok := c.revision(w, r, sid, number)
	if !ok {
		return
	}
	revs, err := c.flows.ListFlowRevisions(ctx, &flowv1.ListFlowRevisionsRequest{FlowSid: sid, PageSize: 100})
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	counts, active, more, err := c.positions(ctx, sid, number)
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	var problems []canvas.Problem
	for _, p := range rev.GetErrors() {
		problems = append(problems, canvas.Problem{PropertyPath: p.GetPropertyPath(), Message: p.GetMessage()})
	}
	byWidget, other := canvas.ProblemsByWidget(def, problems)
	// Warnings are reported for the latest revision only (Flow.warnings).
	var warnings map[string][]string
	if number == fr.GetFlow().GetRevision() {
		var ws []canvas.Problem
		for _, p := range fr.GetFlow().GetWarnings() {
			ws = append(ws, canvas.Problem{PropertyPath: p.GetPropertyPath(), Message: p.GetMessage()})
		}
		var rest []canvas.Problem
		warnings, rest = canvas.ProblemsByWidget(def, ws)
		other = append(other, rest...)
	}
	svg, err := draw(def, canvas.Options{Counts: counts, Problems: byWidget, Warnings: warnings})
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "flow", flowPage{
		Flow: fr.GetFlow(), Revision: rev, Revisions: revs.GetRevisions(),
		Canvas: svg, Problems: other, Warnings: len(warnings) > 0, Active: active, More: more,
	})
}

// positions counts the flow's active executions on revision by the
// widget they are at (where their last step led).
func (c *Console) positions(ctx context.Context, flowSid string, revision int32) (counts map[string]int, active int, more bool, err error) {
	resp, err := c.flows.ListExecutions(ctx, &flowv1.ListExecutionsRequest{
		FlowSid: flowSid, Status: flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE, PageSize: activeCap,
	})
	if err != nil {
		return nil, 0, false, err
	}
	counts = map[string]int{}
	for _, e := range resp.GetExecutions() {
		if e.GetFlowRevision() != revision {
			continue
		}
		steps, err := c.steps(ctx, flowSid, e.GetSid())
		if err != nil {
			return nil, 0, false, err
		}
		active++
		if len(steps) > 0 {
			counts[steps[len(steps)-1].GetTransitionedTo()]++
		}
	}
	return counts, active, resp.GetNextPageToken() != "", nil
}

// steps reads all of an execution's steps, in order.
func (c *Console) steps(ctx context.Context, flowSid, executionSid string) ([]*flowv1.ExecutionStep, error) {
	var out []*flowv1.ExecutionStep
	token := ""
	for {
		resp, err := c.flows.ListExecutionSteps(ctx, &flowv1.ListExecutionStepsRequest{
			FlowSid: flowSid, ExecutionSid: executionSid, PageSize: 1000, PageToken: token,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.GetSteps()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// revision reads a revision of a flow and parses its definition; when
// that fails it answers and returns false.
func (c *Console) revision(w http.ResponseWriter, r *http.Request, flowSid string, number int32) (*flowv1.FlowRevision, *engine.Definition, bool) {
	resp, err := c.flows.GetFlowRevision(r.Context(), &flowv1.GetFlowRevisionRequest{FlowSid: flowSid, Selector: &flowv1.GetFlowRevisionRequest_Number{Number: number}})
	if err != nil {
		c.failRPC(w, r, err)
		return nil, nil, false
	}
	def, err := parseDefinition(resp.GetRevision().GetDefinition())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "The stored definition cannot be drawn: "+err.Error())
		return nil, nil, false
	}
	return resp.GetRevision(), def, true
}

// parseDefinition reads a stored definition the way the engine does.
func parseDefinition(def *structpb.Struct) (*engine.Definition, error) {
	b, err := protojson.Marshal(def)
	if err != nil {
		return nil, err
	}
	return engine.Parse(b)
}

// draw renders the canvas for inline use. canvas escapes every name it
// writes, so its output is safe HTML.
func draw(def *engine.Definition, opts canvas.Options) (template.HTML, error) {
	var buf bytes.Buffer
	if err := canvas.Render(&buf, def, opts); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil //nolint:gosec // canvas escapes everything it writes
}

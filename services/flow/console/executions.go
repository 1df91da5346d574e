package console

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/canvas"
)

// executionsPageSize is how many executions one list page shows.
const executionsPageSize = 50

// executionFilter is the list's filter form, read from the query.
type executionFilter struct {
	Status  string // "", "active" or "ended"
	Contact string // a substring of the contact's address
	From    string // a date, YYYY-MM-DD (UTC)
}

type executionsPage struct {
	Now        time.Time
	Flow       *flowv1.Flow
	Filter     executionFilter
	Executions []*flowv1.Execution
	// Next is the query of the next page, empty on the last.
	Next string
}

// executionList is /console/flows/{flow}/executions: the flow's
// executions, newest first, filtered by status, contact and start date.
func (c *Console) executionList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sid := r.PathValue("flow")
	q := r.URL.Query()
	f := executionFilter{Status: q.Get("status"), Contact: strings.TrimSpace(q.Get("contact")), From: q.Get("from")}
	req := &flowv1.ListExecutionsRequest{FlowSid: sid, PageSize: executionsPageSize, PageToken: q.Get("page")}
	switch f.Status {
	case "":
	case "active":
		req.Status = flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE
	case "ended":
		req.Status = flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED
	default:
		c.fail(w, r, http.StatusBadRequest, "status must be active or ended, not "+f.Status+".")
		return
	}
	if f.From != "" {
		from, err := time.Parse(time.DateOnly, f.From)
		if err != nil {
			c.fail(w, r, http.StatusBadRequest, "from must be a date such as 2026-12-07, not "+f.From+".")
			return
		}
		req.CreateTimeFrom = timestamppb.New(from)
	}
	fr, err := c.flows.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: sid})
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	resp, err := c.flows.ListExecutions(ctx, req)
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	page := executionsPage{Now: c.now(), Flow: fr.GetFlow(), Filter: f}
	// The contact filter applies to the page the RPC returned, which has
	// no such filter; a page may so show fewer rows than its size.
	for _, e := range resp.GetExecutions() {
		if f.Contact == "" || strings.Contains(e.GetContactChannelAddress(), f.Contact) {
			page.Executions = append(page.Executions, e)
		}
	}
	if t := resp.GetNextPageToken(); t != "" {
		next := url.Values{"page": {t}}
		for k, v := range map[string]string{"status": f.Status, "contact": f.Contact, "from": f.From} {
			if v != "" {
				next.Set(k, v)
			}
		}
		page.Next = next.Encode()
	}
	c.render(w, r, http.StatusOK, "executions", page)
}

// stepView is one step in the execution page's side panel.
type stepView struct {
	Number  int
	Step    *flowv1.ExecutionStep
	Context []contextPart
}

// contextPart is one top-level key of a step's context (widgets, flow,
// trigger, …) as indented JSON.
type contextPart struct {
	Key, JSON string
}

type executionPage struct {
	Flow      *flowv1.Flow
	Execution *flowv1.Execution
	Active    bool
	Canvas    template.HTML
	Steps     []stepView
	Context   []contextPart
}

// executionPage is /console/flows/{flow}/executions/{execution}: the
// canvas of the revision the execution ran with the widgets it visited
// marked and numbered, and each step with its event, time and context.
// While the execution is active, the script follows its event stream and
// reloads the page's live parts at every step.
func (c *Console) executionPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	flowSid, sid := r.PathValue("flow"), r.PathValue("execution")
	fr, err := c.flows.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: flowSid})
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	er, err := c.flows.GetExecution(ctx, &flowv1.GetExecutionRequest{FlowSid: flowSid, Sid: sid})
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	e := er.GetExecution()
	steps, err := c.steps(ctx, flowSid, sid)
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	_, def, ok := c.revision(w, r, flowSid, e.GetFlowRevision())
	if !ok {
		return
	}
	page := executionPage{Flow: fr.GetFlow(), Execution: e, Active: e.GetStatus() == flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE}
	var path []canvas.Step
	for i, st := range steps {
		// Steps of a subflow run in another flow's widgets; this canvas
		// shows the parent's path only.
		if st.GetFlowSid() == "" || st.GetFlowSid() == flowSid {
			path = append(path, canvas.Step{From: st.GetTransitionedFrom(), Event: st.GetName(), To: st.GetTransitionedTo()})
		}
		sc, err := c.flows.GetExecutionStepContext(ctx, &flowv1.GetExecutionStepContextRequest{FlowSid: flowSid, ExecutionSid: sid, StepSid: st.GetSid()})
		if err != nil {
			c.failRPC(w, r, err)
			return
		}
		page.Steps = append(page.Steps, stepView{Number: i + 1, Step: st, Context: parts(sc.GetContext())})
	}
	xc, err := c.flows.GetExecutionContext(ctx, &flowv1.GetExecutionContextRequest{FlowSid: flowSid, ExecutionSid: sid})
	if err != nil {
		c.failRPC(w, r, err)
		return
	}
	page.Context = parts(xc.GetContext())
	if page.Canvas, err = draw(def, canvas.Options{Steps: path}); err != nil {
		c.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "execution", page)
}

// parts splits a context into its top-level keys, sorted, each as
// indented JSON (encoding/json sorts object keys, so the text is stable).
func parts(s *structpb.Struct) []contextPart {
	m := s.AsMap()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]contextPart, 0, len(keys))
	for _, k := range keys {
		b, err := json.MarshalIndent(m[k], "", "  ")
		if err != nil {
			// AsMap holds only JSON values; this cannot happen.
			b = []byte(err.Error())
		}
		out = append(out, contextPart{Key: k, JSON: string(b)})
	}
	return out
}

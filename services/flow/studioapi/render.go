package studioapi

import (
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/internal/twiliorest"
)

// Wire shapes, with the spec's field names and nullability. Fields the
// engine does not model (author_sid, contact_sid) are rendered as null,
// as Twilio renders an unset value.

// isoTime formats t as Twilio does (ISO 8601 UTC, no fractional
// seconds); unset is null.
func isoTime(t *timestamppb.Timestamp) *string {
	if t == nil {
		return nil
	}
	return twiliorest.Time(t.AsTime())
}

// object renders a Struct as a JSON object; nil is {}.
func object(s *structpb.Struct) map[string]any {
	if s == nil {
		return map[string]any{}
	}
	return s.AsMap()
}

// problemJSON is one validation problem in errors, warnings and the
// details of error 81022.
type problemJSON struct {
	Message      string `json:"message"`
	PropertyPath string `json:"property_path"`
	Code         int32  `json:"code,omitempty"`
}

// problemsJSON renders problems; none is [], as Twilio renders it.
func problemsJSON(ps []*flowv1.ValidationProblem) []problemJSON {
	out := make([]problemJSON, len(ps))
	for i, p := range ps {
		out[i] = problemJSON{Message: p.GetMessage(), PropertyPath: p.GetPropertyPath(), Code: p.GetCode()}
	}
	return out
}

func statusName(s flowv1.FlowStatus) string {
	if s == flowv1.FlowStatus_FLOW_STATUS_DRAFT {
		return "draft"
	}
	return "published"
}

// revisionJSON is a flow revision; flowJSON adds to it what only the flow
// has.
type revisionJSON struct {
	Sid           string         `json:"sid"`
	AccountSid    string         `json:"account_sid"`
	AuthorSid     *string        `json:"author_sid"`
	FriendlyName  string         `json:"friendly_name"`
	Definition    map[string]any `json:"definition"`
	Status        string         `json:"status"`
	Revision      int32          `json:"revision"`
	CommitMessage *string        `json:"commit_message"`
	Valid         *bool          `json:"valid"`
	Errors        []problemJSON  `json:"errors"`
	DateCreated   *string        `json:"date_created"`
	DateUpdated   *string        `json:"date_updated"`
	URL           string         `json:"url"`
}

type flowJSON struct {
	revisionJSON
	Warnings   []problemJSON     `json:"warnings"`
	WebhookURL string            `json:"webhook_url"`
	Links      map[string]string `json:"links"`
}

// renderRevision renders a revision. full adds what Studio's lists leave
// null: the definition, valid and errors.
func (a *API) renderRevision(r *flowv1.FlowRevision, full bool) revisionJSON {
	j := revisionJSON{
		Sid:           r.GetSid(),
		AccountSid:    a.accountSid,
		FriendlyName:  r.GetFriendlyName(),
		Status:        statusName(r.GetStatus()),
		Revision:      r.GetRevision(),
		CommitMessage: twiliorest.Null(r.GetCommitMessage()),
		DateCreated:   isoTime(r.GetCreateTime()),
		DateUpdated:   isoTime(r.GetUpdateTime()),
		URL:           a.url("Flows", r.GetSid(), "Revisions", itoa(r.GetRevision())),
	}
	if full {
		valid := r.GetValid()
		j.Definition, j.Valid, j.Errors = object(r.GetDefinition()), &valid, problemsJSON(r.GetErrors())
	}
	return j
}

// renderFlow renders a flow: its latest revision, its own url and links,
// and, when full, its warnings.
func (a *API) renderFlow(f *flowv1.Flow, full bool) flowJSON {
	latest := &flowv1.FlowRevision{
		Sid: f.GetSid(), FriendlyName: f.GetFriendlyName(), Status: f.GetStatus(), Revision: f.GetRevision(),
		Definition: f.GetDefinition(), CommitMessage: f.GetCommitMessage(), Valid: f.GetValid(), Errors: f.GetErrors(),
		CreateTime: f.GetCreateTime(), UpdateTime: f.GetUpdateTime(),
	}
	u := a.url("Flows", f.GetSid())
	j := flowJSON{
		revisionJSON: a.renderRevision(latest, full),
		WebhookURL:   f.GetWebhookUrl(),
		Links: map[string]string{
			"test_users": u + "/TestUsers",
			"revisions":  u + "/Revisions",
			"executions": u + "/Executions",
		},
	}
	j.URL = u
	if full {
		j.Warnings = problemsJSON(f.GetWarnings())
	}
	return j
}

type executionJSON struct {
	Sid                   string            `json:"sid"`
	AccountSid            string            `json:"account_sid"`
	FlowSid               string            `json:"flow_sid"`
	ContactChannelAddress string            `json:"contact_channel_address"`
	ContactSid            *string           `json:"contact_sid"`
	FlowVersion           int32             `json:"flow_version"`
	Context               map[string]any    `json:"context"`
	Status                string            `json:"status"`
	DateCreated           *string           `json:"date_created"`
	DateUpdated           *string           `json:"date_updated"`
	InitiatedBy           *string           `json:"initiated_by"`
	URL                   string            `json:"url"`
	Links                 map[string]string `json:"links"`
}

// renderExecution renders an execution. Its context is {}, as Studio
// renders it on this resource: the context itself is the Execution
// Context resource, links.execution_context. initiated_by is the
// conversation that started it, null for a REST-created one.
func (a *API) renderExecution(e *flowv1.Execution) executionJSON {
	u := a.url("Flows", e.GetFlowSid(), "Executions", e.GetSid())
	status := "active"
	if e.GetStatus() == flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED {
		status = "ended"
	}
	return executionJSON{
		Sid:                   e.GetSid(),
		AccountSid:            a.accountSid,
		FlowSid:               e.GetFlowSid(),
		ContactChannelAddress: e.GetContactChannelAddress(),
		FlowVersion:           e.GetFlowRevision(),
		Context:               map[string]any{},
		Status:                status,
		DateCreated:           isoTime(e.GetCreateTime()),
		DateUpdated:           isoTime(e.GetUpdateTime()),
		InitiatedBy:           twiliorest.Null(e.GetConversationSid()),
		URL:                   u,
		Links: map[string]string{
			"steps":             u + "/Steps",
			"execution_context": u + "/Context",
		},
	}
}

type executionContextJSON struct {
	AccountSid   string         `json:"account_sid"`
	Context      map[string]any `json:"context"`
	FlowSid      string         `json:"flow_sid"`
	ExecutionSid string         `json:"execution_sid"`
	URL          string         `json:"url"`
}

type stepJSON struct {
	Sid              string            `json:"sid"`
	AccountSid       string            `json:"account_sid"`
	FlowSid          string            `json:"flow_sid"`
	ExecutionSid     string            `json:"execution_sid"`
	ParentStepSid    *string           `json:"parent_step_sid"`
	Name             string            `json:"name"`
	Context          map[string]any    `json:"context"`
	TransitionedFrom string            `json:"transitioned_from"`
	TransitionedTo   string            `json:"transitioned_to"`
	Type             string            `json:"type"`
	DateCreated      *string           `json:"date_created"`
	DateUpdated      *string           `json:"date_updated"`
	URL              string            `json:"url"`
	Links            map[string]string `json:"links"`
}

// renderStep renders a step of the execution of flowSid. As for
// executions, its context is {} and lives at links.step_context; a step
// never changes, so date_updated is null, as in Studio's examples.
func (a *API) renderStep(flowSid string, s *flowv1.ExecutionStep) stepJSON {
	u := a.url("Flows", flowSid, "Executions", s.GetExecutionSid(), "Steps", s.GetSid())
	return stepJSON{
		Sid:              s.GetSid(),
		AccountSid:       a.accountSid,
		FlowSid:          s.GetFlowSid(),
		ExecutionSid:     s.GetExecutionSid(),
		ParentStepSid:    twiliorest.Null(s.GetParentStepSid()),
		Name:             s.GetName(),
		Context:          map[string]any{},
		TransitionedFrom: s.GetTransitionedFrom(),
		TransitionedTo:   s.GetTransitionedTo(),
		Type:             s.GetType(),
		DateCreated:      isoTime(s.GetCreateTime()),
		URL:              u,
		Links:            map[string]string{"step_context": u + "/Context"},
	}
}

type stepContextJSON struct {
	AccountSid   string         `json:"account_sid"`
	Context      map[string]any `json:"context"`
	ExecutionSid string         `json:"execution_sid"`
	FlowSid      string         `json:"flow_sid"`
	StepSid      string         `json:"step_sid"`
	URL          string         `json:"url"`
}

type testUserJSON struct {
	Sid       string   `json:"sid"`
	TestUsers []string `json:"test_users"`
	URL       string   `json:"url"`
}

// renderTestUsers renders a flow's test users; none is [], as Twilio
// renders an empty list.
func (a *API) renderTestUsers(t *flowv1.FlowTestUsers) testUserJSON {
	users := t.GetTestUsers()
	if users == nil {
		users = []string{}
	}
	return testUserJSON{Sid: t.GetFlowSid(), TestUsers: users, URL: a.url("Flows", t.GetFlowSid(), "TestUsers")}
}

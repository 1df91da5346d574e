package studioapi

import (
	"net/http"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

func (a *API) createExecution(c *call) (int, any, error) {
	// The service requires To and From.
	to, _ := c.optional("To")
	from, _ := c.optional("From")
	params, err := c.jsonObject("Parameters")
	if err != nil {
		return 0, nil, err
	}
	res, err := a.svc.CreateExecution(c.r.Context(), &flowv1.CreateExecutionRequest{FlowSid: c.r.PathValue("FlowSid"), To: to, From: from, Parameters: params})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, a.renderExecution(res.GetExecution()), nil
}

func (a *API) fetchExecution(c *call) (int, any, error) {
	res, err := a.svc.GetExecution(c.r.Context(), &flowv1.GetExecutionRequest{FlowSid: c.r.PathValue("FlowSid"), Sid: c.r.PathValue("Sid")})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.renderExecution(res.GetExecution()), nil
}

// executionStatusFilter reads the list's status filter. twilio-go sends
// it as "status", the spec's name; Twilio's docs write "Status".
func (c *call) executionStatusFilter() (flowv1.ExecutionStatus, error) {
	v, ok := c.optional("status")
	if !ok {
		v, ok = c.optional("Status")
	}
	switch {
	case !ok || v == "":
		return flowv1.ExecutionStatus_EXECUTION_STATUS_UNSPECIFIED, nil
	case v == "active":
		return flowv1.ExecutionStatus_EXECUTION_STATUS_ACTIVE, nil
	case v == "ended":
		return flowv1.ExecutionStatus_EXECUTION_STATUS_ENDED, nil
	}
	return 0, invalidParam("Status must be active or ended, not %q", v)
}

func (a *API) listExecution(c *call) (int, any, error) {
	p, err := c.paging()
	if err != nil {
		return 0, nil, err
	}
	req := &flowv1.ListExecutionsRequest{FlowSid: c.r.PathValue("FlowSid"), PageSize: int32(p.size), PageToken: p.token}
	if req.Status, err = c.executionStatusFilter(); err != nil {
		return 0, nil, err
	}
	if req.CreateTimeFrom, err = c.timestamp("DateCreatedFrom"); err != nil {
		return 0, nil, err
	}
	if req.CreateTimeTo, err = c.timestamp("DateCreatedTo"); err != nil {
		return 0, nil, err
	}
	res, err := a.svc.ListExecutions(c.r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	out := make([]executionJSON, len(res.GetExecutions()))
	for i, e := range res.GetExecutions() {
		out[i] = a.renderExecution(e)
	}
	return http.StatusOK, map[string]any{"executions": out, "meta": a.meta(c, "executions", p, res.GetNextPageToken())}, nil
}

// updateExecution is Studio's only update of an execution: Status=ended.
func (a *API) updateExecution(c *call) (int, any, error) {
	status, err := c.required("Status")
	if err != nil {
		return 0, nil, err
	}
	if status != "ended" {
		return 0, nil, invalidParam("Status can only be set to ended, not %q", status)
	}
	res, err := a.svc.EndExecution(c.r.Context(), &flowv1.EndExecutionRequest{FlowSid: c.r.PathValue("FlowSid"), Sid: c.r.PathValue("Sid")})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.renderExecution(res.GetExecution()), nil
}

func (a *API) deleteExecution(c *call) (int, any, error) {
	if _, err := a.svc.DeleteExecution(c.r.Context(), &flowv1.DeleteExecutionRequest{FlowSid: c.r.PathValue("FlowSid"), Sid: c.r.PathValue("Sid")}); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *API) fetchExecutionContext(c *call) (int, any, error) {
	flowSid, execSid := c.r.PathValue("FlowSid"), c.r.PathValue("ExecutionSid")
	res, err := a.svc.GetExecutionContext(c.r.Context(), &flowv1.GetExecutionContextRequest{FlowSid: flowSid, ExecutionSid: execSid})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, executionContextJSON{
		AccountSid:   a.accountSid,
		Context:      object(res.GetContext()),
		FlowSid:      flowSid,
		ExecutionSid: execSid,
		URL:          a.url("Flows", flowSid, "Executions", execSid, "Context"),
	}, nil
}

func (a *API) listExecutionStep(c *call) (int, any, error) {
	p, err := c.paging()
	if err != nil {
		return 0, nil, err
	}
	flowSid := c.r.PathValue("FlowSid")
	res, err := a.svc.ListExecutionSteps(c.r.Context(), &flowv1.ListExecutionStepsRequest{
		FlowSid: flowSid, ExecutionSid: c.r.PathValue("ExecutionSid"), PageSize: int32(p.size), PageToken: p.token,
	})
	if err != nil {
		return 0, nil, err
	}
	out := make([]stepJSON, len(res.GetSteps()))
	for i, s := range res.GetSteps() {
		out[i] = a.renderStep(flowSid, s)
	}
	return http.StatusOK, map[string]any{"steps": out, "meta": a.meta(c, "steps", p, res.GetNextPageToken())}, nil
}

func (a *API) fetchExecutionStep(c *call) (int, any, error) {
	flowSid := c.r.PathValue("FlowSid")
	res, err := a.svc.GetExecutionStep(c.r.Context(), &flowv1.GetExecutionStepRequest{
		FlowSid: flowSid, ExecutionSid: c.r.PathValue("ExecutionSid"), Sid: c.r.PathValue("Sid"),
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.renderStep(flowSid, res.GetStep()), nil
}

func (a *API) fetchExecutionStepContext(c *call) (int, any, error) {
	flowSid, execSid, stepSid := c.r.PathValue("FlowSid"), c.r.PathValue("ExecutionSid"), c.r.PathValue("StepSid")
	res, err := a.svc.GetExecutionStepContext(c.r.Context(), &flowv1.GetExecutionStepContextRequest{FlowSid: flowSid, ExecutionSid: execSid, StepSid: stepSid})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, stepContextJSON{
		AccountSid:   a.accountSid,
		Context:      object(res.GetContext()),
		ExecutionSid: execSid,
		FlowSid:      flowSid,
		StepSid:      stepSid,
		URL:          a.url("Flows", flowSid, "Executions", execSid, "Steps", stepSid, "Context"),
	}, nil
}

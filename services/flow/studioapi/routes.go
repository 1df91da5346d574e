package studioapi

import "net/http"

// route is one operation of the API: an http.ServeMux method and pattern
// and the handler, named after the spec's operationId.
type route struct {
	method  string
	pattern string
	handle  func(*API, *call) (int, any, error)
}

// routes is the route table, the only place a path is declared. Patterns
// use the spec's parameter names; ServeMux prefers /v2/Flows/Validate to
// /v2/Flows/{Sid} because it is more specific.
var routes = []route{
	{http.MethodPost, "/v2/Flows", (*API).createFlow},
	{http.MethodGet, "/v2/Flows", (*API).listFlow},
	{http.MethodPost, "/v2/Flows/Validate", (*API).updateFlowValidate},
	{http.MethodGet, "/v2/Flows/{Sid}", (*API).fetchFlow},
	{http.MethodPost, "/v2/Flows/{Sid}", (*API).updateFlow},
	{http.MethodDelete, "/v2/Flows/{Sid}", (*API).deleteFlow},
	{http.MethodGet, "/v2/Flows/{Sid}/Revisions", (*API).listFlowRevision},
	{http.MethodGet, "/v2/Flows/{Sid}/Revisions/{Revision}", (*API).fetchFlowRevision},
	{http.MethodGet, "/v2/Flows/{Sid}/TestUsers", (*API).fetchTestUser},
	{http.MethodPost, "/v2/Flows/{Sid}/TestUsers", (*API).updateTestUser},
	{http.MethodPost, "/v2/Flows/{FlowSid}/Executions", (*API).createExecution},
	{http.MethodGet, "/v2/Flows/{FlowSid}/Executions", (*API).listExecution},
	{http.MethodGet, "/v2/Flows/{FlowSid}/Executions/{Sid}", (*API).fetchExecution},
	{http.MethodPost, "/v2/Flows/{FlowSid}/Executions/{Sid}", (*API).updateExecution},
	{http.MethodDelete, "/v2/Flows/{FlowSid}/Executions/{Sid}", (*API).deleteExecution},
	{http.MethodGet, "/v2/Flows/{FlowSid}/Executions/{ExecutionSid}/Context", (*API).fetchExecutionContext},
	{http.MethodGet, "/v2/Flows/{FlowSid}/Executions/{ExecutionSid}/Steps", (*API).listExecutionStep},
	{http.MethodGet, "/v2/Flows/{FlowSid}/Executions/{ExecutionSid}/Steps/{Sid}", (*API).fetchExecutionStep},
	{http.MethodGet, "/v2/Flows/{FlowSid}/Executions/{ExecutionSid}/Steps/{StepSid}/Context", (*API).fetchExecutionStepContext},
}

package studioapi

import (
	"net/http"
	"strconv"

	"google.golang.org/protobuf/types/known/structpb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// flowParams reads the parameters CreateFlow and Validate share. Only
// Status is checked here, because its names are Twilio's; whether a name
// and a definition are given, and whether the definition is valid, the
// service decides, with its one set of rules.
func (c *call) flowParams() (name string, status flowv1.FlowStatus, def *structpb.Struct, commit string, err error) {
	if status, err = c.requiredStatus(); err != nil {
		return
	}
	if def, err = c.jsonObject("Definition"); err != nil {
		return
	}
	name, _ = c.optional("FriendlyName")
	commit, _ = c.optional("CommitMessage")
	return
}

func (a *API) createFlow(c *call) (int, any, error) {
	name, status, def, commit, err := c.flowParams()
	if err != nil {
		return 0, nil, err
	}
	res, err := a.svc.CreateFlow(c.r.Context(), &flowv1.CreateFlowRequest{FriendlyName: name, Status: status, Definition: def, CommitMessage: commit})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, a.renderFlow(res.GetFlow(), true), nil
}

func (a *API) fetchFlow(c *call) (int, any, error) {
	res, err := a.svc.GetFlow(c.r.Context(), &flowv1.GetFlowRequest{Sid: c.r.PathValue("Sid")})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.renderFlow(res.GetFlow(), true), nil
}

func (a *API) listFlow(c *call) (int, any, error) {
	p, err := c.paging()
	if err != nil {
		return 0, nil, err
	}
	res, err := a.svc.ListFlows(c.r.Context(), &flowv1.ListFlowsRequest{PageSize: int32(p.size), PageToken: p.token})
	if err != nil {
		return 0, nil, err
	}
	flows := make([]flowJSON, len(res.GetFlows()))
	for i, f := range res.GetFlows() {
		flows[i] = a.renderFlow(f, false)
	}
	return http.StatusOK, map[string]any{"flows": flows, "meta": a.meta(c, "flows", p, res.GetNextPageToken())}, nil
}

func (a *API) updateFlow(c *call) (int, any, error) {
	status, err := c.requiredStatus()
	if err != nil {
		return 0, nil, err
	}
	req := &flowv1.UpdateFlowRequest{Sid: c.r.PathValue("Sid"), Status: status}
	if name, ok := c.optional("FriendlyName"); ok {
		req.FriendlyName = &name
	}
	if req.Definition, err = c.jsonObject("Definition"); err != nil {
		return 0, nil, err
	}
	req.CommitMessage, _ = c.optional("CommitMessage")
	res, err := a.svc.UpdateFlow(c.r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.renderFlow(res.GetFlow(), true), nil
}

func (a *API) deleteFlow(c *call) (int, any, error) {
	if _, err := a.svc.DeleteFlow(c.r.Context(), &flowv1.DeleteFlowRequest{Sid: c.r.PathValue("Sid")}); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// updateFlowValidate is POST /v2/Flows/Validate: {"valid": true}, or error
// 81022 listing every problem, as Studio answers.
func (a *API) updateFlowValidate(c *call) (int, any, error) {
	name, status, def, commit, err := c.flowParams()
	if err != nil {
		return 0, nil, err
	}
	res, err := a.svc.ValidateFlow(c.r.Context(), &flowv1.ValidateFlowRequest{FriendlyName: name, Status: status, Definition: def, CommitMessage: commit})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"valid": res.GetValid()}, nil
}

func (a *API) listFlowRevision(c *call) (int, any, error) {
	p, err := c.paging()
	if err != nil {
		return 0, nil, err
	}
	res, err := a.svc.ListFlowRevisions(c.r.Context(), &flowv1.ListFlowRevisionsRequest{FlowSid: c.r.PathValue("Sid"), PageSize: int32(p.size), PageToken: p.token})
	if err != nil {
		return 0, nil, err
	}
	revs := make([]revisionJSON, len(res.GetRevisions()))
	for i, r := range res.GetRevisions() {
		// As in Studio, a list leaves definition, valid and errors null.
		revs[i] = a.renderRevision(r, false)
	}
	return http.StatusOK, map[string]any{"revisions": revs, "meta": a.meta(c, "revisions", p, res.GetNextPageToken())}, nil
}

// revisionAliases are the names Studio accepts for {Revision}.
var revisionAliases = map[string]flowv1.RevisionAlias{
	"LatestPublished": flowv1.RevisionAlias_REVISION_ALIAS_LATEST_PUBLISHED,
	"LatestRevision":  flowv1.RevisionAlias_REVISION_ALIAS_LATEST_REVISION,
}

func (a *API) fetchFlowRevision(c *call) (int, any, error) {
	req := &flowv1.GetFlowRevisionRequest{FlowSid: c.r.PathValue("Sid")}
	rev := c.r.PathValue("Revision")
	if alias, ok := revisionAliases[rev]; ok {
		req.Selector = &flowv1.GetFlowRevisionRequest_Alias{Alias: alias}
	} else if n, err := strconv.ParseInt(rev, 10, 32); err == nil && n >= 1 {
		req.Selector = &flowv1.GetFlowRevisionRequest_Number{Number: int32(n)}
	} else {
		return 0, nil, &restError{Status: http.StatusBadRequest, Code: codeInvalidRevision,
			Message: "Flow revision must be a positive integer, LatestPublished or LatestRevision, not " + strconv.Quote(rev)}
	}
	res, err := a.svc.GetFlowRevision(c.r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.renderRevision(res.GetRevision(), true), nil
}

func (a *API) fetchTestUser(c *call) (int, any, error) {
	res, err := a.svc.GetFlowTestUsers(c.r.Context(), &flowv1.GetFlowTestUsersRequest{FlowSid: c.r.PathValue("Sid")})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.renderTestUsers(res.GetFlowTestUsers()), nil
}

// updateTestUser replaces the list with the TestUsers values. The
// parameter is required, as in the spec; given once and empty
// ("TestUsers="), it is the empty list, which a form can say no other way.
func (a *API) updateTestUser(c *call) (int, any, error) {
	users, ok := c.form["TestUsers"]
	if !ok {
		return 0, nil, invalidParam("Missing required parameter TestUsers in the post body")
	}
	if len(users) == 1 && users[0] == "" {
		users = nil
	}
	res, err := a.svc.UpdateFlowTestUsers(c.r.Context(), &flowv1.UpdateFlowTestUsersRequest{FlowSid: c.r.PathValue("Sid"), TestUsers: users})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.renderTestUsers(res.GetFlowTestUsers()), nil
}

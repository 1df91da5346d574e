package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// runSubflow runs another flow inside this execution (studio.md §2.3): the
// subflow gets the parent's trigger data plus
// trigger.parent.parameters.<key> (strings), shares the 1000-step budget,
// and when it ends its flow.variables come back flat as widgets.NAME.<key>
// with the event completed. failed (81024) when the subflow cannot be
// found, when a subflow would start another (one level only), or when the
// subflow reaches a widget that cannot run here. flow_sid and
// flow_revision cannot be Liquid.
//
//	{"name": "collect", "type": "run-subflow",
//	 "transitions": [{"next": "thanks", "event": "completed"}, {"event": "failed"}],
//	 "properties": {"flow_sid": "FW…", "flow_revision": "LatestPublished",
//	   "parameters": [{"key": "name", "value": "{{flow.variables.name}}"}], "offset": {"x": 0, "y": 0}}}
type runSubflow struct {
	FlowSid      string  `json:"flow_sid" studio:"required"`
	FlowRevision string  `json:"flow_revision" studio:"required"`
	Parameters   []param `json:"parameters"`
}

func (w *runSubflow) check(v *validation, path string) {
	if hasLiquid(w.FlowSid) {
		v.add(path+"/flow_sid", CodeInvalidDefinition, "flow_sid cannot be Liquid")
	}
	if !validRevision(w.FlowRevision) {
		v.add(path+"/flow_revision", CodeInvalidRevision, "flow_revision must be an integer, LatestPublished, LatestRevision or LatestDraft, not %q", w.FlowRevision)
	}
}

// validRevision follows the project decision: the three spellings Twilio's
// pages use, or a revision number.
func validRevision(s string) bool {
	switch s {
	case "LatestPublished", "LatestRevision", "LatestDraft":
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0
}

func (w *runSubflow) run(r *run, s *State) outcome {
	if r.x.Subflow != nil {
		return outcome{event: "failed", err: stepErr(CodeSubflowError, "subflow %s cannot start subflow %s: only one level of nesting is allowed", r.x.Subflow.FlowSid, w.FlowSid)}
	}
	params := make(map[string]any, len(w.Parameters))
	for _, p := range w.Parameters {
		v, err := r.render(p.Value)
		if err != nil {
			return outcome{event: "failed", err: stepErr(CodeLiquidRenderFailed, "unable to render parameter %s: %v", p.Key, err)}
		}
		params[p.Key] = v
	}
	sub, err := r.e.resolve(r.ctx, w.FlowSid, w.FlowRevision)
	switch {
	case errors.Is(err, ErrSubflowNotFound), errors.Is(err, ErrInvalidDefinition):
		return outcome{event: "failed", err: stepErr(CodeSubflowError, "subflow %s revision %s: %v", w.FlowSid, w.FlowRevision, err)}
	case err != nil:
		if fault := r.cancelled(); fault != nil {
			return outcome{fault: fault}
		}
		return outcome{fault: fmt.Errorf("engine: resolving subflow %s: %w", w.FlowSid, err)}
	}
	for _, st := range sub.Definition.States {
		if st.Type == TypeRunSubflow {
			return outcome{event: "failed", err: stepErr(CodeSubflowError, "subflow %s itself runs a subflow (%s); only one level of nesting is allowed", w.FlowSid, st.Name)}
		}
	}
	return outcome{enter: &subflowEntry{flowSid: strings.TrimSpace(w.FlowSid), sub: sub, params: params}}
}

func itoa(i int) string { return strconv.Itoa(i) }

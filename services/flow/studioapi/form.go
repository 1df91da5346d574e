package studioapi

import (
	"encoding/json"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

// Parameter readers. Each returns Twilio's 400 / 20001 naming the
// parameter when a value is malformed; checks that need the store (a
// definition's validity, a SID's existence) are left to the service.

// optional returns the parameter name and whether it was given.
func (c *call) optional(name string) (string, bool) {
	vs, ok := c.form[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// required returns a parameter that must be given and not blank.
func (c *call) required(name string) (string, error) {
	v, ok := c.optional(name)
	if !ok || strings.TrimSpace(v) == "" {
		return "", invalidParam("Missing required parameter %s in the post body", name)
	}
	return v, nil
}

// flowStatus reads a flow's Status: draft or published.
func flowStatus(v string) (flowv1.FlowStatus, error) {
	switch v {
	case "draft":
		return flowv1.FlowStatus_FLOW_STATUS_DRAFT, nil
	case "published":
		return flowv1.FlowStatus_FLOW_STATUS_PUBLISHED, nil
	}
	return 0, invalidParam("Status must be draft or published, not %q", v)
}

// requiredStatus reads the required Status of a flow.
func (c *call) requiredStatus() (flowv1.FlowStatus, error) {
	v, err := c.required("Status")
	if err != nil {
		return 0, err
	}
	return flowStatus(v)
}

// jsonObject reads a parameter that carries a JSON object as a string, as
// Twilio takes Definition and Parameters; absent gives nil.
func (c *call) jsonObject(name string) (*structpb.Struct, error) {
	v, ok := c.optional(name)
	if !ok {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		// An SDK given the JSON text instead of the decoded object
		// (twilio-go's SetDefinition(string(file))) encodes it once more,
		// as a JSON string: its content is what the caller meant.
		var text string
		if json.Unmarshal([]byte(v), &text) != nil || json.Unmarshal([]byte(text), &m) != nil || m == nil {
			return nil, invalidParam("%s must be a JSON object", name)
		}
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, invalidParam("%s: %v", name, err)
	}
	return s, nil
}

// timestamp reads an ISO 8601 date-time parameter; absent gives nil.
func (c *call) timestamp(name string) (*timestamppb.Timestamp, error) {
	v, ok := c.optional(name)
	if !ok || v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, invalidParam("%s must be an ISO 8601 date-time such as 2026-12-07T12:00:00Z, not %q", name, v)
	}
	return timestamppb.New(t), nil
}

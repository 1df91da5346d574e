// Package tutorial sets up convoflow's tutorial on a running stack through
// public interfaces only: it publishes a Studio flow on FlowService and
// points a Twilio number at it with a Conversations address configuration.
// The dev stack (`make run`, `make demo`) and the e2e suite share it.
package tutorial

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/twilio/twilio-go"
	openapi "github.com/twilio/twilio-go/rest/conversations/v1"
	"google.golang.org/protobuf/types/known/structpb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
)

// LoadDefinition reads a Studio flow definition file as a Struct, the form
// FlowService takes definitions in.
func LoadDefinition(path string) (*structpb.Struct, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var def map[string]any
	if err := json.Unmarshal(raw, &def); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return structpb.NewStruct(def)
}

// PublishFlow makes sure a published flow named name has definition def and
// returns its SID with a note on what it did. A flow of that name is reused
// (FlowService keeps flows across restarts) and gets a new revision only
// when its definition or status differs.
func PublishFlow(ctx context.Context, fc flowv1connect.FlowServiceClient, name string, def *structpb.Struct) (sid, note string, err error) {
	existing, err := findFlow(ctx, fc, name)
	if err != nil {
		return "", "", err
	}
	if existing == "" {
		res, err := fc.CreateFlow(ctx, &flowv1.CreateFlowRequest{
			FriendlyName: name, Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED,
			Definition: def, CommitMessage: "published by the convoflow tutorial",
		})
		if err != nil {
			return "", "", fmt.Errorf("create flow: %w", err)
		}
		return res.GetFlow().GetSid(), "published", nil
	}
	got, err := fc.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: existing})
	if err != nil {
		return "", "", fmt.Errorf("get flow: %w", err)
	}
	if sameJSON(got.GetFlow().GetDefinition(), def) && got.GetFlow().GetStatus() == flowv1.FlowStatus_FLOW_STATUS_PUBLISHED {
		return existing, fmt.Sprintf("already published (revision %d)", got.GetFlow().GetRevision()), nil
	}
	res, err := fc.UpdateFlow(ctx, &flowv1.UpdateFlowRequest{
		Sid: existing, Status: flowv1.FlowStatus_FLOW_STATUS_PUBLISHED,
		Definition: def, CommitMessage: "updated by the convoflow tutorial",
	})
	if err != nil {
		return "", "", fmt.Errorf("update flow: %w", err)
	}
	return existing, fmt.Sprintf("updated to revision %d", res.GetFlow().GetRevision()), nil
}

func findFlow(ctx context.Context, fc flowv1connect.FlowServiceClient, name string) (string, error) {
	token := ""
	for {
		res, err := fc.ListFlows(ctx, &flowv1.ListFlowsRequest{PageSize: 50, PageToken: token})
		if err != nil {
			return "", fmt.Errorf("list flows: %w", err)
		}
		for _, f := range res.GetFlows() {
			if f.GetFriendlyName() == name {
				return f.GetSid(), nil
			}
		}
		if token = res.GetNextPageToken(); token == "" {
			return "", nil
		}
	}
}

func sameJSON(a, b *structpb.Struct) bool {
	ja, err1 := a.MarshalJSON()
	jb, err2 := b.MarshalJSON()
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// ConfigureAddress points the SMS number at the flow, as Twilio's address
// configuration does: an SMS to it from a number with no open conversation
// creates one, adds the sender and attaches the flow as a studio webhook.
// An existing configuration for the number is replaced.
func ConfigureAddress(rc *twilio.RestClient, number, flowSid string) error {
	existing, err := rc.ConversationsV1.ListConfigurationAddress(&openapi.ListConfigurationAddressParams{})
	if err != nil {
		return fmt.Errorf("list address configurations: %w", err)
	}
	for _, a := range existing {
		if a.Address != nil && *a.Address == number && a.Sid != nil {
			if err := rc.ConversationsV1.DeleteConfigurationAddress(*a.Sid); err != nil {
				return fmt.Errorf("delete address configuration %s: %w", *a.Sid, err)
			}
		}
	}
	_, err = rc.ConversationsV1.CreateConfigurationAddress(new(openapi.CreateConfigurationAddressParams).
		SetType("sms").
		SetAddress(number).
		SetFriendlyName("convoflow tutorial number").
		SetAutoCreationEnabled(true).
		SetAutoCreationType("studio").
		SetAutoCreationStudioFlowSid(flowSid).
		SetAutoCreationStudioRetryCount(1))
	if err != nil {
		return fmt.Errorf("create address configuration: %w", err)
	}
	return nil
}

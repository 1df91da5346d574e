package load

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/twilio/twilio-go"
	convapi "github.com/twilio/twilio-go/rest/conversations/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/convoflow/convoflow/examples/tutorial"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
)

//go:embed echo.json
var echoFlow []byte

// echoFlowName is the name the echo flow is published under (reused by
// later runs).
const echoFlowName = "convoflow-load echo"

// publish returns the flow to drive: --flow-sid, or the definition
// published (created, or updated when it changed) on FlowService.
func publish(ctx context.Context, c Config) (string, error) {
	if c.FlowSid != "" {
		return c.FlowSid, nil
	}
	name := echoFlowName
	var def *structpb.Struct
	if c.FlowFile == "" {
		def = &structpb.Struct{}
		if err := def.UnmarshalJSON(echoFlow); err != nil {
			return "", err
		}
	} else {
		var err error
		if def, err = tutorial.LoadDefinition(c.FlowFile); err != nil {
			return "", err
		}
		name = "convoflow-load " + strings.TrimSuffix(filepath.Base(c.FlowFile), filepath.Ext(c.FlowFile))
	}
	hc := &http.Client{Transport: apikey.RoundTripper(c.APIKey, nil)}
	sid, _, err := tutorial.PublishFlow(ctx, flowv1connect.NewFlowServiceClient(hc, c.FlowServiceURL), name, def)
	if err != nil {
		return "", fmt.Errorf("publishing the flow on %s: %w", c.FlowServiceURL, err)
	}
	return sid, nil
}

// hookDeliveries points the fake's account-level post-event webhook at
// callback with onDeliveryUpdated added to its filters, and returns the
// function that puts the previous configuration back.
func hookDeliveries(rc *twilio.RestClient, callback string) (restore func() error, err error) {
	prev, err := rc.ConversationsV1.FetchConfigurationWebhook()
	if err != nil {
		return nil, fmt.Errorf("reading the fake's webhook configuration: %w", err)
	}
	filters := []string{}
	if prev.Filters != nil {
		filters = slices.Clone(*prev.Filters)
	}
	if !slices.Contains(filters, "onDeliveryUpdated") {
		filters = append(filters, "onDeliveryUpdated")
	}
	if _, err := rc.ConversationsV1.UpdateConfigurationWebhook(new(convapi.UpdateConfigurationWebhookParams).
		SetPostWebhookUrl(callback).SetFilters(filters).SetMethod("POST")); err != nil {
		return nil, fmt.Errorf("pointing the fake's post-event webhook at %s: %w", callback, err)
	}
	return func() error {
		p := new(convapi.UpdateConfigurationWebhookParams).SetPostWebhookUrl(deref(prev.PostWebhookUrl))
		if prev.Filters != nil {
			p.SetFilters(*prev.Filters)
		}
		if prev.Method != nil {
			p.SetMethod(*prev.Method)
		}
		_, err := rc.ConversationsV1.UpdateConfigurationWebhook(p)
		return err
	}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

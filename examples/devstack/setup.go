package main

import (
	"context"
	"net/http"

	"github.com/twilio/twilio-go"

	"github.com/convoflow/convoflow/examples/tutorial"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
	"github.com/convoflow/convoflow/internal/twilioclient"
)

// keyed is an HTTP client sending the services' API key.
func keyed(c config) *http.Client {
	return &http.Client{Transport: apikey.RoundTripper(c.apiKey, nil)}
}

func flowClient(c config) flowv1connect.FlowServiceClient {
	return flowv1connect.NewFlowServiceClient(keyed(c), c.flowURL())
}

func conversationsClient(c config) (*twilio.RestClient, error) {
	return twilioclient.New(twilioclient.Options{AccountSID: accountSid, AuthToken: authToken, BaseURL: c.fakeURL()})
}

// setUp publishes the demo flow (reusing the one an earlier run left in
// FlowService's database) and points the demo number at it. The fake keeps
// no state across restarts, so the address configuration is made every time.
func setUp(ctx context.Context, c config) (flowSid, note string, err error) {
	def, err := tutorial.LoadDefinition(c.flow)
	if err != nil {
		return "", "", err
	}
	flowSid, note, err = tutorial.PublishFlow(ctx, flowClient(c), flowName, def)
	if err != nil {
		return "", "", err
	}
	rc, err := conversationsClient(c)
	if err != nil {
		return "", "", err
	}
	return flowSid, note, tutorial.ConfigureAddress(rc, twilioNumber, flowSid)
}

package load

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go"
	convapi "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/convoflow/convoflow/internal/twiliosig"
	"github.com/convoflow/convoflow/services/flow/engine"
)

// webhookSender is --via webhook: each customer gets a conversation in the
// fake with an SMS participant (so the flow's reply has a delivery receipt
// to report), and each message is the onMessageAdded webhook Conversations
// would post for it, signed with the auth token, posted straight to
// FlowService. The fake's inbound path and studio delivery are not on the
// way, so the figures are FlowService's more nearly.
type webhookSender struct {
	rc        *twilio.RestClient
	hc        *http.Client
	url       string // FlowService's webhook for the flow
	authToken string
	account   string
	number    string
}

func newWebhookSender(cfg Config, rc *twilio.RestClient, hc *http.Client, flowSid string) *webhookSender {
	return &webhookSender{
		rc: rc, hc: hc, authToken: cfg.AuthToken, account: cfg.AccountSid, number: cfg.Number,
		url: strings.TrimRight(cfg.FlowServiceURL, "/") + "/v1/Accounts/" + cfg.AccountSid + "/Flows/" + flowSid,
	}
}

// open makes c's conversation and participant in the fake.
func (w *webhookSender) open(c *customer) (conv, participant string, err error) {
	ch, err := w.rc.ConversationsV1.CreateConversation(new(convapi.CreateConversationParams).SetFriendlyName("convoflow-load " + c.number))
	if err != nil || ch.Sid == nil {
		return "", "", fmt.Errorf("creating a conversation: %w", err)
	}
	p, err := w.rc.ConversationsV1.CreateConversationParticipant(*ch.Sid, new(convapi.CreateConversationParticipantParams).
		SetMessagingBindingAddress(c.number).SetMessagingBindingProxyAddress(w.number))
	if err != nil || p.Sid == nil {
		return "", "", fmt.Errorf("adding %s to conversation %s: %w", c.number, *ch.Sid, err)
	}
	return *ch.Sid, *p.Sid, nil
}

// post delivers message index of c as Conversations would.
func (w *webhookSender) post(ctx context.Context, c *customer, index int) error {
	form := url.Values{
		"EventType": {"onMessageAdded"}, "AccountSid": {w.account}, "ConversationSid": {c.conv},
		"MessageSid": {engine.RandomIDs{}.NewSID("IM")}, "Index": {strconv.Itoa(index)}, "Author": {c.number},
		"ParticipantSid": {c.participant}, "Body": {"load " + c.number}, "Source": {"SMS"}, "Attributes": {"{}"},
		"DateCreated": {time.Now().UTC().Format(time.RFC3339)}, "RetryCount": {"0"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliosig.Sign(w.authToken, w.url, form))
	req.Header.Set("I-Twilio-Idempotency-Token", engine.RandomIDs{}.NewSID(""))
	resp, err := w.hc.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &statusError{status: resp.StatusCode}
	}
	return nil
}

// statusError is a webhook FlowService did not accept.
type statusError struct{ status int }

func (e *statusError) Error() string { return fmt.Sprintf("webhook answered %d", e.status) }

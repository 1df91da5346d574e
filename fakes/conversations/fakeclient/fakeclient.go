// Package fakeclient drives a running Conversations fake through its control
// plane (/_fake/…) over HTTP: simulate a customer's inbound SMS, read the
// outbox of SMS "sent" to phones, inject faults. It is what tools and tests
// outside the fake's process use (the dev stack, `make demo`, the e2e suite);
// tests in the same process can call the fake's Go API directly.
package fakeclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one fake. The zero HTTP client means http.DefaultClient.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// New returns a client for the fake at baseURL (e.g. http://127.0.0.1:8083).
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// InboundResult says where a simulated inbound message went.
type InboundResult struct {
	ConversationSid string `json:"conversation_sid"`
	MessageSid      string `json:"message_sid"`
	ParticipantSid  string `json:"participant_sid"`
	Index           int    `json:"index"`
	Created         bool   `json:"created"` // an address configuration created the conversation
}

// OutboundMessage is one SMS the fake delivered to a phone.
type OutboundMessage struct {
	Sid             string    `json:"sid"`
	Channel         string    `json:"channel"`
	From            string    `json:"from"`
	To              string    `json:"to"`
	Body            string    `json:"body"`
	ConversationSid string    `json:"conversation_sid"`
	MessageSid      string    `json:"message_sid"`
	ParticipantSid  string    `json:"participant_sid"`
	DateCreated     time.Time `json:"date_created"`
}

// Fault is an injected failure for API requests matching Method and Path
// (a pattern such as /v1/Conversations/*/Messages).
type Fault struct {
	Method      string
	Path        string
	Status      int           // HTTP status to answer with
	Code        int           // Twilio error code in the body
	Message     string        // error message in the body
	Latency     time.Duration // added before answering
	Drop        bool          // close the connection without answering
	Count       int           // the next Count matching requests; 0 = until cleared
	Probability float64       // chance per matching request; 0 = always
}

// Error is a non-2xx answer from the fake's control plane.
type Error struct {
	Status int
	Body   string
}

func (e *Error) Error() string { return fmt.Sprintf("fake answered %d: %s", e.Status, e.Body) }

// Healthy reports nil when the fake answers its health check.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/_fake/healthz", nil, nil)
}

// Inbound simulates a customer's message from → to (an SMS unless channel
// is "whatsapp").
func (c *Client) Inbound(ctx context.Context, from, to, body, channel string) (InboundResult, error) {
	form := url.Values{"From": {from}, "To": {to}, "Body": {body}}
	if channel != "" {
		form.Set("Channel", channel)
	}
	var res InboundResult
	err := c.do(ctx, http.MethodPost, "/_fake/inbound", form, &res)
	return res, err
}

// Outbox lists delivered SMS, optionally only those to or from address
// and/or of one conversation.
func (c *Client) Outbox(ctx context.Context, address, conversationSid string) ([]OutboundMessage, error) {
	q := url.Values{}
	if address != "" {
		q.Set("Address", address)
	}
	if conversationSid != "" {
		q.Set("ConversationSid", conversationSid)
	}
	path := "/_fake/outbox"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Messages []OutboundMessage `json:"messages"`
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Messages, err
}

// InjectFault adds a fault.
func (c *Client) InjectFault(ctx context.Context, f Fault) error {
	form := url.Values{"Method": {f.Method}, "Path": {f.Path}}
	set := func(k string, v int) {
		if v != 0 {
			form.Set(k, strconv.Itoa(v))
		}
	}
	set("Status", f.Status)
	set("Code", f.Code)
	set("Count", f.Count)
	if f.Message != "" {
		form.Set("Message", f.Message)
	}
	if f.Latency > 0 {
		form.Set("Latency", f.Latency.String())
	}
	if f.Drop {
		form.Set("Drop", "true")
	}
	if f.Probability > 0 {
		form.Set("Probability", strconv.FormatFloat(f.Probability, 'f', -1, 64))
	}
	return c.do(ctx, http.MethodPost, "/_fake/faults", form, nil)
}

// ClearFaults removes every injected fault.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/_fake/faults", nil, nil)
}

// Reset forgets all state (conversations, configuration, outbox, logs).
func (c *Client) Reset(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/_fake/reset", nil, nil)
}

// WaitFor polls Outbox until match holds for its result or ctx ends, and
// returns the last outbox read.
func (c *Client) WaitFor(ctx context.Context, address, conversationSid string, match func([]OutboundMessage) bool) ([]OutboundMessage, error) {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		msgs, err := c.Outbox(ctx, address, conversationSid)
		if err == nil && match(msgs) {
			return msgs, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return msgs, err
		case <-t.C:
		}
	}
}

func (c *Client) do(ctx context.Context, method, path string, form url.Values, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &Error{Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}

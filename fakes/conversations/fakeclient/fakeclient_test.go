package fakeclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/fakes/conversations/fakeclient"
)

func TestClient(t *testing.T) {
	t.Parallel()
	srv, err := conversations.NewServer(conversations.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx := t.Context()
	c := fakeclient.New(srv.URL())

	if err := c.Healthy(ctx); err != nil {
		t.Fatal(err)
	}

	// A conversation with two SMS participants, made through the REST API.
	api := func(path string, form url.Values) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(srv.AccountSid(), srv.AuthToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s = %d", path, resp.StatusCode)
		}
	}
	api("/v1/Conversations", url.Values{"UniqueName": {"c1"}})
	conv := srv.Conversations()[0]
	for _, addr := range []string{"+15005550001", "+15005550002"} {
		api("/v1/Conversations/"+conv.Sid+"/Participants", url.Values{
			"MessagingBinding.Address": {addr}, "MessagingBinding.ProxyAddress": {"+15005550100"}})
	}

	res, err := c.Inbound(ctx, "+15005550001", "+15005550100", "hi there", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.ConversationSid != conv.Sid || !strings.HasPrefix(res.MessageSid, "IM") || res.Created {
		t.Fatalf("Inbound = %+v, want the existing conversation %s", res, conv.Sid)
	}

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msgs, err := c.WaitFor(wctx, "+15005550002", conv.Sid, func(m []fakeclient.OutboundMessage) bool { return len(m) == 1 })
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs[0]; m.Body != "hi there" || m.From != "+15005550100" || m.To != "+15005550002" || m.DateCreated.IsZero() {
		t.Fatalf("outbox = %+v", m)
	}
	if all, _ := c.Outbox(ctx, "", ""); len(all) != 1 {
		t.Fatalf("the author got a copy of its own message: %+v", all)
	}

	// A fault answers the next matching request with a Twilio error.
	if err := c.InjectFault(ctx, fakeclient.Fault{Method: "POST", Path: "/v1/Conversations", Status: 503, Code: 20503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v1/Conversations", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(srv.AccountSid(), srv.AuthToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("faulted request = %d, want 503", resp.StatusCode)
	}
	if err := c.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}

	// Bad input comes back as an *Error with the fake's status.
	_, err = c.Inbound(ctx, "not-a-number", "+15005550100", "x", "")
	var ferr *fakeclient.Error
	if !errors.As(err, &ferr) || ferr.Status != http.StatusBadRequest {
		t.Fatalf("Inbound(bad address) err = %v, want a 400 *Error", err)
	}

	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Conversations()); n != 0 {
		t.Fatalf("after Reset %d conversations remain", n)
	}
}

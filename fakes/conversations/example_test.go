package conversations_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/convoflow/convoflow/fakes/conversations"
)

// A customer texts a number whose conversation already exists; the reply
// posted through the API is "sent" back to the customer's phone.
func ExampleServer_Inbound() {
	srv, err := conversations.NewServer(conversations.Options{Seed: 1})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	post := func(path string, form url.Values) {
		req, _ := http.NewRequest("POST", srv.URL()+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(srv.AccountSid(), srv.AuthToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	post("/v1/Conversations", url.Values{"UniqueName": {"support"}})
	post("/v1/Conversations/support/Participants", url.Values{
		"MessagingBinding.Address": {"+15551234567"}, "MessagingBinding.ProxyAddress": {"+15550001111"}})

	in, err := srv.Inbound(context.Background(), conversations.InboundMessage{From: "+15551234567", To: "+15550001111", Body: "Where is my order?"})
	if err != nil {
		panic(err)
	}
	post("/v1/Conversations/support/Messages", url.Values{"Body": {"On its way!"}, "Author": {"agent"}})

	fmt.Println("inbound index:", in.Index)
	for _, m := range srv.Outbox(conversations.OutboxFilter{Address: "+15551234567"}) {
		fmt.Printf("%s -> %s: %s\n", m.From, m.To, m.Body)
	}
	// Output:
	// inbound index: 0
	// +15550001111 -> +15551234567: On its way!
}

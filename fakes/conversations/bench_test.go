package conversations_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/fakes/conversations"
)

// BenchmarkCreateMessage posts messages to a conversation with two SMS
// participants over a real loopback listener, so every request pays for
// HTTP, auth, form parsing, fan-out to two phones with receipts and JSON.
func BenchmarkCreateMessage(b *testing.B) {
	srv := startFake(b, conversations.Options{})
	sid := str(mustCall(b, 201, srv, "POST", "/v1/Conversations", nil)["sid"])
	for _, addr := range []string{"+15550000001", "+15550000002"} {
		mustCall(b, 201, srv, "POST", "/v1/Conversations/"+sid+"/Participants",
			form("MessagingBinding.Address", addr, "MessagingBinding.ProxyAddress", "+15559999999"))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}}
	target := srv.URL() + "/v1/Conversations/" + sid + "/Messages"
	body := "Body=Hello+from+the+benchmark&Author=agent"
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(srv.AccountSid(), srv.AuthToken())
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if got := len(srv.Outbox(conversations.OutboxFilter{ConversationSid: sid})); got != 2*len(srv.Messages(sid)) {
		b.Fatalf("outbox has %d messages for %d conversation messages", got, len(srv.Messages(sid)))
	}
}

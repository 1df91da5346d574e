package conversations_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/fakes/conversations"
)

// TestRawPagingFollowsNextPageURL pages the way twilio-node and curl users
// do: by requesting meta.next_page_url verbatim, filters included.
func TestRawPagingFollowsNextPageURL(t *testing.T) {
	t.Parallel()
	srv := startFake(t, conversations.Options{})
	for range 5 {
		mustCall(t, 201, srv, "POST", "/v1/Conversations", form("State", "inactive"))
	}
	mustCall(t, 201, srv, "POST", "/v1/Conversations", nil)
	var sids []string
	next := "/v1/Conversations?" + form("State", "inactive", "PageSize", "2").Encode()
	pages := 0
	for next != "" {
		page := mustCall(t, 200, srv, "GET", next, nil)
		meta, _ := page["meta"].(map[string]any)
		if meta["key"] != "conversations" || meta["page"] != float64(pages) || meta["page_size"] != float64(2) {
			t.Fatalf("page %d meta %v", pages, meta)
		}
		if pages > 0 && meta["previous_page_url"] == nil {
			t.Fatalf("page %d has no previous_page_url", pages)
		}
		for _, c := range page["conversations"].([]any) {
			sids = append(sids, str(c.(map[string]any)["sid"]))
		}
		next = ""
		if u := str(meta["next_page_url"]); u != "" {
			if !strings.HasPrefix(u, srv.URL()+"/v1/Conversations?") || !strings.Contains(u, "State=inactive") {
				t.Fatalf("next_page_url %q does not lead back here with the filter", u)
			}
			next = strings.TrimPrefix(u, srv.URL())
		}
		pages++
	}
	if pages != 3 || len(sids) != 5 {
		t.Fatalf("%d pages, %d conversations; want 3 pages of the 5 inactive ones", pages, len(sids))
	}
}

func TestPublicBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   conversations.Options
		header []string
		want   func(srv *conversations.Server) string
	}{
		{name: "derived_from_host", want: func(srv *conversations.Server) string { return srv.URL() }},
		{name: "twilio_host", header: []string{"Host", "conversations.twilio.com"}, want: func(*conversations.Server) string { return "https://conversations.twilio.com" }},
		{name: "configured", opts: conversations.Options{PublicBaseURL: "https://fake.example/"}, want: func(*conversations.Server) string { return "https://fake.example" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, tt.opts)
			c := mustCall(t, 201, srv, "POST", "/v1/Conversations", nil, tt.header...)
			want := tt.want(srv) + "/v1/Conversations/" + str(c["sid"])
			if c["url"] != want {
				t.Fatalf("url %v, want %s", c["url"], want)
			}
			links, _ := c["links"].(map[string]any)
			if links["participants"] != want+"/Participants" {
				t.Fatalf("links %v", links)
			}
			u, _ := url.Parse(str(c["url"]))
			if u.Path != "/v1/Conversations/"+str(c["sid"]) {
				t.Fatalf("path %s", u.Path)
			}
		})
	}
}

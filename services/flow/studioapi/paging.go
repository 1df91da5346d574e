package studioapi

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// Twilio's paging limits: PageSize defaults to 50 and may be 1 to 1000.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// page is the window a list request asks for. token is FlowService's
// page token, which Twilio's PageToken carries unchanged; number is
// Twilio's Page, which only labels the page (the token says where it
// starts).
type page struct {
	size   int
	number int
	token  string
}

// paging reads PageSize, Page and PageToken.
func (c *call) paging() (page, error) {
	p := page{size: defaultPageSize}
	if v, ok := c.optional("PageSize"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return page{}, invalidParam("PageSize must be an integer from 1 to %d, not %q", maxPageSize, v)
		}
		p.size = n
	}
	if v, ok := c.optional("Page"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return page{}, invalidParam("Page must be a non-negative integer, not %q", v)
		}
		p.number = n
	}
	p.token, _ = c.optional("PageToken")
	if p.number > 0 && p.token == "" {
		// The service pages by cursor: a page can only be reached through
		// the next_page_url of the one before it.
		return page{}, invalidParam("Page %d needs the PageToken of the previous page's next_page_url", p.number)
	}
	return p, nil
}

// meta describes page p of a list under key; next is the service's token
// for the following page, "" on the last. The URLs keep the request's
// filters and point at the public URL, so SDKs that follow next_page_url
// (twilio-go does) come back here. previous_page_url is always null:
// page tokens lead forward only.
func (a *API) meta(c *call, key string, p page, next string) twiliorest.ListMeta {
	filters := url.Values{}
	for k, vs := range c.r.URL.Query() {
		if k != "PageSize" && k != "Page" && k != "PageToken" {
			filters[k] = vs
		}
	}
	base := strings.TrimSuffix(a.publicURL(), "/") + c.r.URL.Path
	mk := func(number int, token string) string {
		q := url.Values{}
		for k, vs := range filters {
			q[k] = vs
		}
		q.Set("PageSize", strconv.Itoa(p.size))
		q.Set("Page", strconv.Itoa(number))
		if token != "" {
			q.Set("PageToken", token)
		}
		return base + "?" + q.Encode()
	}
	m := twiliorest.ListMeta{
		Page:         p.number,
		PageSize:     p.size,
		FirstPageURL: mk(0, ""),
		URL:          mk(p.number, p.token),
		Key:          key,
	}
	if next != "" {
		u := mk(p.number+1, next)
		m.NextPageURL = &u
	}
	return m
}

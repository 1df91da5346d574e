package conversations

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// Wire shapes, with the spec's field names. Nullable strings are *string so
// they render as null; chat_service_sid is omitted on default-service paths
// of participants, messages, receipts and webhooks, exactly as the spec's
// default-service schemas lack it.

type conversationJSON struct {
	AccountSid          string            `json:"account_sid"`
	ChatServiceSid      string            `json:"chat_service_sid"`
	MessagingServiceSid *string           `json:"messaging_service_sid"`
	Sid                 string            `json:"sid"`
	FriendlyName        *string           `json:"friendly_name"`
	UniqueName          *string           `json:"unique_name"`
	Attributes          string            `json:"attributes"`
	State               string            `json:"state"`
	DateCreated         *string           `json:"date_created"`
	DateUpdated         *string           `json:"date_updated"`
	Timers              map[string]string `json:"timers"`
	URL                 string            `json:"url"`
	Links               map[string]string `json:"links"`
	Bindings            map[string]any    `json:"bindings"`
}

func (c *call) conversationURL(sid string) string {
	return c.base + c.prefix() + "/Conversations/" + sid
}

func (c *call) renderConversation(cv *Conversation) conversationJSON {
	u := c.conversationURL(cv.Sid)
	timers := map[string]string{}
	if d := twiliorest.Time(cv.DateInactive); d != nil && cv.State == StateActive {
		timers["date_inactive"] = *d
	}
	if d := twiliorest.Time(cv.DateClosed); d != nil {
		timers["date_closed"] = *d
	}
	bindings := map[string]any{}
	if cv.EmailAddress != "" {
		bindings["email"] = map[string]any{"address": cv.EmailAddress, "name": twiliorest.Null(cv.EmailName)}
	}
	return conversationJSON{
		AccountSid:          cv.AccountSid,
		ChatServiceSid:      cv.ChatServiceSid,
		MessagingServiceSid: twiliorest.Null(cv.MessagingServiceSid),
		Sid:                 cv.Sid,
		FriendlyName:        twiliorest.Null(cv.FriendlyName),
		UniqueName:          twiliorest.Null(cv.UniqueName),
		Attributes:          cv.Attributes,
		State:               cv.State,
		DateCreated:         twiliorest.Time(cv.DateCreated),
		DateUpdated:         twiliorest.Time(cv.DateUpdated),
		Timers:              timers,
		URL:                 u,
		Links: map[string]string{
			"participants": u + "/Participants",
			"messages":     u + "/Messages",
			"webhooks":     u + "/Webhooks",
			"export":       u + "/Export",
		},
		Bindings: bindings,
	}
}

type bindingJSON struct {
	Type             string  `json:"type"`
	Address          *string `json:"address"`
	ProxyAddress     *string `json:"proxy_address"`
	ProjectedAddress *string `json:"projected_address"`
	Level            *string `json:"level"`
	Name             *string `json:"name"`
}

func renderBinding(b *MessagingBinding) *bindingJSON {
	if b == nil {
		return nil
	}
	return &bindingJSON{Type: b.Type, Address: twiliorest.Null(b.Address), ProxyAddress: twiliorest.Null(b.ProxyAddress), ProjectedAddress: twiliorest.Null(b.ProjectedAddress)}
}

type participantJSON struct {
	AccountSid           string       `json:"account_sid"`
	ChatServiceSid       string       `json:"chat_service_sid,omitempty"`
	ConversationSid      string       `json:"conversation_sid"`
	Sid                  string       `json:"sid"`
	Identity             *string      `json:"identity"`
	Attributes           string       `json:"attributes"`
	MessagingBinding     *bindingJSON `json:"messaging_binding"`
	RoleSid              *string      `json:"role_sid"`
	DateCreated          *string      `json:"date_created"`
	DateUpdated          *string      `json:"date_updated"`
	URL                  string       `json:"url"`
	LastReadMessageIndex *int         `json:"last_read_message_index"`
	LastReadTimestamp    *string      `json:"last_read_timestamp"`
}

func (c *call) renderParticipant(p *Participant) participantJSON {
	j := participantJSON{
		AccountSid:           p.AccountSid,
		ConversationSid:      p.ConversationSid,
		Sid:                  p.Sid,
		Identity:             twiliorest.Null(p.Identity),
		Attributes:           p.Attributes,
		MessagingBinding:     renderBinding(p.Binding),
		RoleSid:              twiliorest.Null(p.RoleSid),
		DateCreated:          twiliorest.Time(p.DateCreated),
		DateUpdated:          twiliorest.Time(p.DateUpdated),
		URL:                  c.conversationURL(p.ConversationSid) + "/Participants/" + p.Sid,
		LastReadMessageIndex: p.LastReadMessageIndex,
		LastReadTimestamp:    twiliorest.Null(p.LastReadTimestamp),
	}
	if c.scoped {
		j.ChatServiceSid = p.ChatServiceSid
	}
	return j
}

type deliveryJSON struct {
	Total       int    `json:"total"`
	Sent        string `json:"sent"`
	Delivered   string `json:"delivered"`
	Read        string `json:"read"`
	Failed      string `json:"failed"`
	Undelivered string `json:"undelivered"`
}

// deliverySummary folds a message's receipts into the `delivery` object;
// null when the message went to no channel participant.
func deliverySummary(rs []Receipt) *deliveryJSON {
	if len(rs) == 0 {
		return nil
	}
	count := func(statuses ...string) string {
		n := 0
		for _, r := range rs {
			if slices.Contains(statuses, r.Status) {
				n++
			}
		}
		switch n {
		case 0:
			return "none"
		case len(rs):
			return "all"
		}
		return "some"
	}
	return &deliveryJSON{
		Total:       len(rs),
		Sent:        count("sent", "delivered", "read"),
		Delivered:   count("delivered", "read"),
		Read:        count("read"),
		Failed:      count("failed"),
		Undelivered: count("undelivered"),
	}
}

type messageJSON struct {
	AccountSid      string            `json:"account_sid"`
	ChatServiceSid  string            `json:"chat_service_sid,omitempty"`
	ConversationSid string            `json:"conversation_sid"`
	Sid             string            `json:"sid"`
	Index           int               `json:"index"`
	Author          string            `json:"author"`
	Body            *string           `json:"body"`
	Media           []Media           `json:"media"`
	Attributes      string            `json:"attributes"`
	ParticipantSid  *string           `json:"participant_sid"`
	DateCreated     *string           `json:"date_created"`
	DateUpdated     *string           `json:"date_updated"`
	URL             string            `json:"url"`
	Delivery        *deliveryJSON     `json:"delivery"`
	Links           map[string]string `json:"links"`
	ContentSid      *string           `json:"content_sid"`
}

func (c *call) messageURL(m *Message) string {
	return c.conversationURL(m.ConversationSid) + "/Messages/" + m.Sid
}

func (c *call) renderMessage(m *Message) messageJSON {
	u := c.messageURL(m)
	j := messageJSON{
		AccountSid:      m.AccountSid,
		ConversationSid: m.ConversationSid,
		Sid:             m.Sid,
		Index:           m.Index,
		Author:          m.Author,
		Body:            twiliorest.Null(m.Body),
		Media:           m.Media,
		Attributes:      m.Attributes,
		ParticipantSid:  twiliorest.Null(m.ParticipantSid),
		DateCreated:     twiliorest.Time(m.DateCreated),
		DateUpdated:     twiliorest.Time(m.DateUpdated),
		URL:             u,
		Delivery:        deliverySummary(m.Receipts),
		Links: map[string]string{
			"delivery_receipts": u + "/Receipts",
			"channel_metadata":  u + "/ChannelMetadata",
		},
		ContentSid: twiliorest.Null(m.ContentSid),
	}
	if c.scoped {
		j.ChatServiceSid = m.ChatServiceSid
	}
	return j
}

type receiptJSON struct {
	AccountSid        string  `json:"account_sid"`
	ChatServiceSid    string  `json:"chat_service_sid,omitempty"`
	ConversationSid   string  `json:"conversation_sid"`
	Sid               string  `json:"sid"`
	MessageSid        string  `json:"message_sid"`
	ChannelMessageSid string  `json:"channel_message_sid"`
	ParticipantSid    string  `json:"participant_sid"`
	Status            string  `json:"status"`
	ErrorCode         int     `json:"error_code"`
	DateCreated       *string `json:"date_created"`
	DateUpdated       *string `json:"date_updated"`
	URL               string  `json:"url"`
}

func (c *call) renderReceipt(r *Receipt) receiptJSON {
	j := receiptJSON{
		AccountSid:        r.AccountSid,
		ConversationSid:   r.ConversationSid,
		Sid:               r.Sid,
		MessageSid:        r.MessageSid,
		ChannelMessageSid: r.ChannelMessageSid,
		ParticipantSid:    r.ParticipantSid,
		Status:            r.Status,
		ErrorCode:         r.ErrorCode,
		DateCreated:       twiliorest.Time(r.DateCreated),
		DateUpdated:       twiliorest.Time(r.DateUpdated),
		URL:               c.conversationURL(r.ConversationSid) + "/Messages/" + r.MessageSid + "/Receipts/" + r.Sid,
	}
	if c.scoped {
		j.ChatServiceSid = r.ChatServiceSid
	}
	return j
}

type scopedWebhookJSON struct {
	Sid             string         `json:"sid"`
	AccountSid      string         `json:"account_sid"`
	ChatServiceSid  string         `json:"chat_service_sid,omitempty"`
	ConversationSid string         `json:"conversation_sid"`
	Target          string         `json:"target"`
	URL             string         `json:"url"`
	Configuration   map[string]any `json:"configuration"`
	DateCreated     *string        `json:"date_created"`
	DateUpdated     *string        `json:"date_updated"`
}

func (c *call) renderScopedWebhook(w *ScopedWebhook) scopedWebhookJSON {
	cfg := map[string]any{}
	switch w.Target {
	case "studio":
		cfg["flow_sid"] = w.FlowSid
	case "trigger":
		cfg["url"], cfg["method"], cfg["filters"] = w.URL, w.Method, nonNil(w.Triggers)
	default:
		cfg["url"], cfg["method"], cfg["filters"] = w.URL, w.Method, nonNil(w.Filters)
	}
	if w.ReplayAfter != nil {
		cfg["replay_after"] = *w.ReplayAfter
	}
	j := scopedWebhookJSON{
		Sid:             w.Sid,
		AccountSid:      w.AccountSid,
		ConversationSid: w.ConversationSid,
		Target:          w.Target,
		URL:             c.conversationURL(w.ConversationSid) + "/Webhooks/" + w.Sid,
		Configuration:   cfg,
		DateCreated:     twiliorest.Time(w.DateCreated),
		DateUpdated:     twiliorest.Time(w.DateUpdated),
	}
	if c.scoped {
		j.ChatServiceSid = w.ChatServiceSid
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// page is the window a list request asks for.
type page struct {
	size   int
	offset int
}

// paging reads PageSize (default def; larger values are capped at max, as
// Twilio caps them: twilio-go asks for 50 even where the spec's maximum is 5),
// PageToken (issued by the fake as PT<offset>) and Page (client state, used
// only without a token).
func (c *call) paging(def, max int) (page, error) {
	p := page{size: def}
	if n, ok := c.form.integer("PageSize", 1, 1<<30); ok {
		p.size = min(n, max)
	}
	pageNo, hasPage := c.form.integer("Page", 0, 1<<30)
	if tok, ok := c.form.str("PageToken", 0); ok && tok != "" {
		off, err := strconv.Atoi(strings.TrimPrefix(tok, "PT"))
		if !strings.HasPrefix(tok, "PT") || err != nil || off < 0 {
			c.form.fail(errInvalid("PageToken", "not a page token issued by this server"))
		}
		p.offset = off
	} else if hasPage {
		p.offset = pageNo * p.size
	}
	return p, c.formErr()
}

// writeList answers a list request with items[p.offset:][:p.size] under key
// and a meta whose URLs echo the request's filters and lead back to the fake.
func writeList[T any](c *call, key string, items []T, p page) error {
	total := len(items)
	lo := min(p.offset, total)
	hi := min(lo+p.size, total)
	window := items[lo:hi]
	if window == nil {
		window = []T{}
	}
	filters := url.Values{}
	for k, vs := range c.r.URL.Query() {
		if k != "PageSize" && k != "Page" && k != "PageToken" {
			filters[k] = vs
		}
	}
	pageNo := p.offset / p.size
	mk := func(n, offset int) string {
		q := filters.Encode()
		if q != "" {
			q += "&"
		}
		q += "PageSize=" + strconv.Itoa(p.size) + "&Page=" + strconv.Itoa(n)
		if offset > 0 {
			q += "&PageToken=PT" + strconv.Itoa(offset)
		}
		return c.base + c.r.URL.Path + "?" + q
	}
	meta := twiliorest.ListMeta{
		Page:         pageNo,
		PageSize:     p.size,
		FirstPageURL: mk(0, 0),
		URL:          mk(pageNo, p.offset),
		Key:          key,
	}
	if p.offset > 0 {
		prev := mk(max(pageNo-1, 0), max(p.offset-p.size, 0))
		meta.PreviousPageURL = &prev
	}
	if hi < total {
		next := mk(pageNo+1, hi)
		meta.NextPageURL = &next
	}
	return c.ok(map[string]any{key: window, "meta": meta})
}

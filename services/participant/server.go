package participant

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twilio/twilio-go"
	twconv "github.com/twilio/twilio-go/rest/conversations/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/services/participant/address"
	"github.com/convoflow/convoflow/services/participant/roster"
)

// Limits on request fields, Twilio's own where it has one
// (conversations-api.md §5 "Limits").
const (
	maxIdentity       = 256
	maxAttributes     = 4 << 10
	defaultPageSize   = 50
	maxTwilioPageSize = 100
	// participantsPageSize is the page size of the service's own reads of a
	// conversation's participants: the most Twilio allows, so that a typical
	// conversation takes one request.
	participantsPageSize = 100
	// maxLoadReads bounds the concurrent ParticipantConversations reads of
	// one AddSupportAgent or ListAgents call.
	maxLoadReads = 8
)

var (
	conversationSidRE = regexp.MustCompile(`^CH[0-9a-fA-F]{32}$`)
	participantSidRE  = regexp.MustCompile(`^MB[0-9a-fA-F]{32}$`)
	roleSidRE         = regexp.MustCompile(`^RL[0-9a-fA-F]{32}$`)
)

// RosterSource supplies the current support-agent roster; *roster.File is
// one, and reloads behind it are picked up at the next call.
type RosterSource interface {
	Roster() *roster.Roster
}

// Deps is what the service needs.
type Deps struct {
	// Twilio is the client the Conversations API is called through (see
	// internal/twilioclient); required.
	Twilio *twilio.RestClient
	// Roster supplies the support agents; nil makes AddSupportAgent and
	// ListAgents fail with FailedPrecondition.
	Roster RosterSource
	// DefaultProxyAddress is the Twilio number used as proxy when a request
	// or a roster entry gives none.
	DefaultProxyAddress string
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// Retry says how failed Conversations API calls are retried.
	Retry RetryPolicy
	// Metrics, when set, receives the service's Prometheus series
	// (participants added and removed, agents' load).
	Metrics prometheus.Registerer
}

// conversationsAPI is the part of twilio-go's Conversations client the
// service uses.
type conversationsAPI interface {
	CreateConversationParticipant(conversationSid string, params *twconv.CreateConversationParticipantParams) (*twconv.ConversationsV1ConversationParticipant, error)
	FetchConversationParticipant(conversationSid, sid string) (*twconv.ConversationsV1ConversationParticipant, error)
	PageConversationParticipant(conversationSid string, params *twconv.ListConversationParticipantParams, pageToken, pageNumber string) (*twconv.ListConversationParticipantResponse, error)
	UpdateConversationParticipant(conversationSid, sid string, params *twconv.UpdateConversationParticipantParams) (*twconv.ConversationsV1ConversationParticipant, error)
	DeleteConversationParticipant(conversationSid, sid string, params *twconv.DeleteConversationParticipantParams) error
	ListParticipantConversation(params *twconv.ListParticipantConversationParams) ([]twconv.ConversationsV1ParticipantConversation, error)
	FetchConversation(sid string) (*twconv.ConversationsV1Conversation, error)
}

var _ conversationsAPI = (*twconv.ApiService)(nil)

// server implements ParticipantService on the Conversations API.
type server struct {
	api          conversationsAPI
	roster       RosterSource
	defaultProxy string
	log          *slog.Logger
	retry        RetryPolicy
	picker       roster.Picker
	m            *metrics
}

var _ participantv1connect.ParticipantServiceHandler = (*server)(nil)

// New returns the ParticipantService handler.
func New(deps Deps) (participantv1connect.ParticipantServiceHandler, error) {
	if deps.Twilio == nil {
		return nil, errors.New("participant: Deps.Twilio is required")
	}
	if deps.DefaultProxyAddress != "" {
		if _, err := address.Parse(deps.DefaultProxyAddress); err != nil {
			return nil, fmt.Errorf("participant: default proxy address: %w", err)
		}
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, fmt.Errorf("participant: metrics: %w", err)
	}
	return &server{
		api:          deps.Twilio.ConversationsV1,
		roster:       deps.Roster,
		defaultProxy: deps.DefaultProxyAddress,
		log:          log,
		retry:        deps.Retry.WithDefaults(),
		m:            m,
	}, nil
}

//----------------------------------------------------------------------------
// AddParticipant
//----------------------------------------------------------------------------

// addInput is a validated participant to add.
type addInput struct {
	conv                      string
	identity                  string
	address, proxy, projected string
	attributes, roleSid       string
}

// matches reports whether p is the participant in asks for: the same
// identity, or the same binding (address and proxy address).
func (in addInput) matches(p *twconv.ConversationsV1ConversationParticipant) bool {
	if in.identity != "" {
		return p.Identity != nil && *p.Identity == in.identity
	}
	b := bindingOf(p)
	return b != nil && b.Address == in.address && b.ProxyAddress == in.proxy
}

func (s *server) AddParticipant(ctx context.Context, req *participantv1.AddParticipantRequest) (*participantv1.AddParticipantResponse, error) {
	in, err := s.checkAdd(req)
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	p, present, err := s.add(ctx, in)
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	return &participantv1.AddParticipantResponse{Participant: toParticipant(p), AlreadyPresent: present}, nil
}

func (s *server) checkAdd(req *participantv1.AddParticipantRequest) (addInput, error) {
	in := addInput{conv: req.GetConversationSid(), attributes: req.GetAttributes(), roleSid: req.GetRoleSid()}
	if err := checkConversationSid(in.conv); err != nil {
		return in, err
	}
	switch who := req.GetParticipant().(type) {
	case *participantv1.AddParticipantRequest_Identity:
		in.identity = who.Identity
		if err := checkIdentity(in.identity); err != nil {
			return in, err
		}
	case *participantv1.AddParticipantRequest_MessagingBinding:
		b := who.MessagingBinding
		in.address, in.proxy, in.projected = b.GetAddress(), b.GetProxyAddress(), b.GetProjectedAddress()
		if err := s.checkBinding(&in); err != nil {
			return in, err
		}
	default:
		return in, invalidf("one of messaging_binding or identity is required")
	}
	if err := checkAttributes(in.attributes); err != nil {
		return in, err
	}
	if in.roleSid != "" && !roleSidRE.MatchString(in.roleSid) {
		return in, invalidf("role_sid %q is not a role SID (RL followed by 32 hex digits)", in.roleSid)
	}
	return in, nil
}

// checkBinding validates a binding and fills in the default proxy address.
func (s *server) checkBinding(in *addInput) error {
	if in.address == "" {
		return invalidf("messaging_binding.address is required")
	}
	if in.proxy == "" {
		if s.defaultProxy == "" {
			return invalidf("messaging_binding.proxy_address is required: the service has no default proxy address (--default-proxy-address)")
		}
		in.proxy = s.defaultProxy
	}
	if _, err := address.ParsePair(in.address, in.proxy); err != nil {
		return err
	}
	if in.projected != "" {
		if _, err := address.Parse(in.projected); err != nil {
			return fmt.Errorf("projected address: %w", err)
		}
	}
	return nil
}

// add creates in's participant, or finds it already there. Twilio itself
// keeps a binding (address and proxy) in at most one open conversation and
// an identity at most once per conversation, so creating a participant that
// is already present fails with 50416 naming this very conversation, or
// with 50433; add then reads the participants and returns that one with
// present = true. Creating first costs one Conversations call in the common
// case instead of a list before every create, and it makes the create safe
// to repeat: an attempt whose answer was lost (a 5xx, a dropped
// connection) is retried, and a retry of one that landed finds it.
func (s *server) add(ctx context.Context, in addInput) (*twconv.ConversationsV1ConversationParticipant, bool, error) {
	p, err := s.create(ctx, in)
	if err == nil {
		s.m.added.Inc()
		return p, false, nil
	}
	if !s.lostRace(in.conv, err) {
		return nil, false, err
	}
	existing, lerr := s.participants(ctx, in.conv)
	if lerr != nil {
		return nil, false, lerr
	}
	for i := range existing {
		if in.matches(&existing[i]) {
			return &existing[i], true, nil
		}
	}
	// Held here a moment ago and gone now: report Twilio's conflict.
	return nil, false, err
}

// lostRace reports whether a failed create means that the participant is
// already in conv.
func (s *server) lostRace(conv string, err error) bool {
	if holder, ok := bindingHolder(err); ok {
		return holder == conv
	}
	code, _, _ := twilioCode(err)
	return code == codeIdentityExists
}

func (s *server) create(ctx context.Context, in addInput) (*twconv.ConversationsV1ConversationParticipant, error) {
	params := &twconv.CreateConversationParticipantParams{}
	if in.identity != "" {
		params.SetIdentity(in.identity)
	} else {
		params.SetMessagingBindingAddress(in.address)
		params.SetMessagingBindingProxyAddress(in.proxy)
		if in.projected != "" {
			params.SetMessagingBindingProjectedAddress(in.projected)
		}
	}
	if in.attributes != "" {
		params.SetAttributes(in.attributes)
	}
	if in.roleSid != "" {
		params.SetRoleSid(in.roleSid)
	}
	var p *twconv.ConversationsV1ConversationParticipant
	// Repeatable: a repeat of a create that landed fails with the conflict
	// add resolves (see add).
	err := s.call(ctx, "add participant to "+in.conv, func() (err error) {
		p, err = s.api.CreateConversationParticipant(in.conv, params)
		return err
	})
	return p, err
}

// participants reads every participant of conv, page by page. It follows
// next_page_url itself rather than through twilio-go's List helper, which
// re-encodes every page to JSON to find the link and costs a goroutine per
// call.
func (s *server) participants(ctx context.Context, conv string) ([]twconv.ConversationsV1ConversationParticipant, error) {
	var all []twconv.ConversationsV1ConversationParticipant
	pageNumber, pageToken := "", ""
	for {
		var page *twconv.ListConversationParticipantResponse
		err := s.call(ctx, "list participants of "+conv, func() (err error) {
			params := &twconv.ListConversationParticipantParams{}
			params.SetPageSize(participantsPageSize)
			page, err = s.api.PageConversationParticipant(conv, params, pageToken, pageNumber)
			return err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, page.Participants...)
		next := page.Meta.NextPageUrl
		if next == nil || *next == "" {
			return all, nil
		}
		u, err := url.Parse(*next)
		if err != nil || u.Query().Get("PageToken") == "" {
			return nil, fmt.Errorf("list participants of %s: unusable next_page_url %q", conv, *next)
		}
		pageNumber, pageToken = u.Query().Get("Page"), u.Query().Get("PageToken")
	}
}

//----------------------------------------------------------------------------
// GetParticipant, ListParticipants, UpdateParticipant
//----------------------------------------------------------------------------

func (s *server) GetParticipant(ctx context.Context, req *participantv1.GetParticipantRequest) (*participantv1.GetParticipantResponse, error) {
	if err := checkConversationSid(req.GetConversationSid()); err != nil {
		return nil, toConnectError(s.log, err)
	}
	if err := checkParticipantSid(req.GetSid()); err != nil {
		return nil, toConnectError(s.log, err)
	}
	var p *twconv.ConversationsV1ConversationParticipant
	err := s.call(ctx, "get participant "+req.GetSid(), func() (err error) {
		p, err = s.api.FetchConversationParticipant(req.GetConversationSid(), req.GetSid())
		return err
	})
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	return &participantv1.GetParticipantResponse{Participant: toParticipant(p)}, nil
}

func (s *server) ListParticipants(ctx context.Context, req *participantv1.ListParticipantsRequest) (*participantv1.ListParticipantsResponse, error) {
	conv := req.GetConversationSid()
	if err := checkConversationSid(conv); err != nil {
		return nil, toConnectError(s.log, err)
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, toConnectError(s.log, invalidf("page_size must not be negative"))
	case size == 0:
		size = defaultPageSize
	case size > maxTwilioPageSize:
		// A page may hold fewer items than asked for; Twilio's pages hold
		// at most 100.
		size = maxTwilioPageSize
	}
	pageNumber, pageToken, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	var page *twconv.ListConversationParticipantResponse
	err = s.call(ctx, "list participants of "+conv, func() (err error) {
		params := &twconv.ListConversationParticipantParams{}
		params.SetPageSize(size)
		page, err = s.api.PageConversationParticipant(conv, params, pageToken, pageNumber)
		return err
	})
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	res := &participantv1.ListParticipantsResponse{}
	for i := range page.Participants {
		res.Participants = append(res.Participants, toParticipant(&page.Participants[i]))
	}
	if next := page.Meta.NextPageUrl; next != nil && *next != "" {
		res.NextPageToken = encodePageToken(*next)
	}
	return res, nil
}

// encodePageToken turns Twilio's next_page_url into an opaque token
// carrying its Page and PageToken parameters, which Twilio needs together.
func encodePageToken(nextPageURL string) string {
	u, err := url.Parse(nextPageURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	v := url.Values{}
	v.Set("Page", q.Get("Page"))
	v.Set("PageToken", q.Get("PageToken"))
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

func decodePageToken(token string) (pageNumber, pageToken string, err error) {
	if token == "" {
		return "", "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", "", invalidf("page_token is not a token this service issued")
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil || v.Get("PageToken") == "" {
		return "", "", invalidf("page_token is not a token this service issued")
	}
	return v.Get("Page"), v.Get("PageToken"), nil
}

func (s *server) UpdateParticipant(ctx context.Context, req *participantv1.UpdateParticipantRequest) (*participantv1.UpdateParticipantResponse, error) {
	conv, sid := req.GetConversationSid(), req.GetSid()
	if err := checkConversationSid(conv); err != nil {
		return nil, toConnectError(s.log, err)
	}
	if err := checkParticipantSid(sid); err != nil {
		return nil, toConnectError(s.log, err)
	}
	params := &twconv.UpdateConversationParticipantParams{}
	changed := false
	if req.Attributes != nil {
		attrs := req.GetAttributes()
		if attrs == "" {
			// Empty means "no attributes", which Conversations writes "{}".
			attrs = "{}"
		}
		if err := checkAttributes(attrs); err != nil {
			return nil, toConnectError(s.log, err)
		}
		params.SetAttributes(attrs)
		changed = true
	}
	if req.RoleSid != nil {
		if !roleSidRE.MatchString(req.GetRoleSid()) {
			return nil, toConnectError(s.log, invalidf("role_sid %q is not a role SID (RL followed by 32 hex digits)", req.GetRoleSid()))
		}
		params.SetRoleSid(req.GetRoleSid())
		changed = true
	}
	var p *twconv.ConversationsV1ConversationParticipant
	var err error
	if changed {
		// Setting the same values again changes nothing: safe to retry.
		err = s.call(ctx, "update participant "+sid, func() (err error) {
			p, err = s.api.UpdateConversationParticipant(conv, sid, params)
			return err
		})
	} else {
		err = s.call(ctx, "get participant "+sid, func() (err error) {
			p, err = s.api.FetchConversationParticipant(conv, sid)
			return err
		})
	}
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	return &participantv1.UpdateParticipantResponse{Participant: toParticipant(p)}, nil
}

//----------------------------------------------------------------------------
// RemoveParticipant
//----------------------------------------------------------------------------

func (s *server) RemoveParticipant(ctx context.Context, req *participantv1.RemoveParticipantRequest) (*participantv1.RemoveParticipantResponse, error) {
	res, err := s.remove(ctx, req)
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	return res, nil
}

func (s *server) remove(ctx context.Context, req *participantv1.RemoveParticipantRequest) (*participantv1.RemoveParticipantResponse, error) {
	conv := req.GetConversationSid()
	if err := checkConversationSid(conv); err != nil {
		return nil, err
	}
	var match func(*twconv.ConversationsV1ConversationParticipant) bool
	switch who := req.GetParticipant().(type) {
	case *participantv1.RemoveParticipantRequest_ParticipantSid:
		if err := checkParticipantSid(who.ParticipantSid); err != nil {
			return nil, err
		}
		gone, err := s.delete(ctx, conv, who.ParticipantSid)
		if err != nil {
			return nil, err
		}
		return &participantv1.RemoveParticipantResponse{ParticipantSid: who.ParticipantSid, AlreadyAbsent: gone}, nil
	case *participantv1.RemoveParticipantRequest_Address:
		if _, err := address.Parse(who.Address); err != nil {
			return nil, err
		}
		match = func(p *twconv.ConversationsV1ConversationParticipant) bool {
			b := bindingOf(p)
			return b != nil && b.Address == who.Address
		}
	case *participantv1.RemoveParticipantRequest_Identity:
		if err := checkIdentity(who.Identity); err != nil {
			return nil, err
		}
		match = func(p *twconv.ConversationsV1ConversationParticipant) bool {
			return p.Identity != nil && *p.Identity == who.Identity
		}
	default:
		return nil, invalidf("one of participant_sid, address or identity is required")
	}
	ps, err := s.participants(ctx, conv)
	if err != nil {
		return nil, err
	}
	// Every participant with that address goes (the same person may be
	// bound through two proxy numbers); the first one's SID is reported.
	res := &participantv1.RemoveParticipantResponse{AlreadyAbsent: true}
	for i := range ps {
		if !match(&ps[i]) || ps[i].Sid == nil {
			continue
		}
		gone, err := s.delete(ctx, conv, *ps[i].Sid)
		if err != nil {
			return nil, err
		}
		if !gone && res.AlreadyAbsent {
			res.ParticipantSid, res.AlreadyAbsent = *ps[i].Sid, false
		}
	}
	return res, nil
}

// delete removes participant sid from conv; alreadyGone is true when it
// was not there. A 404 may mean an unknown conversation as well, which is
// told apart by reading the conversation.
func (s *server) delete(ctx context.Context, conv, sid string) (alreadyGone bool, err error) {
	err = s.call(ctx, "remove participant "+sid, func() error {
		return s.api.DeleteConversationParticipant(conv, sid, nil)
	})
	if err == nil {
		s.m.removed.Inc()
		return false, nil
	}
	if !isNotFound(err) {
		return false, err
	}
	cerr := s.call(ctx, "get conversation "+conv, func() error {
		_, err := s.api.FetchConversation(conv)
		return err
	})
	if cerr != nil {
		return false, cerr
	}
	return true, nil
}

func isNotFound(err error) bool {
	code, status, ok := twilioCode(err)
	return ok && (status == 404 || code == codeNotFound || code == codeParticipantMissing)
}

//----------------------------------------------------------------------------
// AddSupportAgent, ListAgents
//----------------------------------------------------------------------------

func (s *server) AddSupportAgent(ctx context.Context, req *participantv1.AddSupportAgentRequest) (*participantv1.AddSupportAgentResponse, error) {
	res, err := s.addSupportAgent(ctx, req.GetConversationSid(), req.GetPool())
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	return res, nil
}

func (s *server) addSupportAgent(ctx context.Context, conv, pool string) (*participantv1.AddSupportAgentResponse, error) {
	if err := checkConversationSid(conv); err != nil {
		return nil, err
	}
	if s.roster == nil {
		return nil, errNoRoster
	}
	r := s.roster.Roster()
	existing, err := s.participants(ctx, conv)
	if err != nil {
		return nil, err
	}
	inConv := map[string]bool{}
	for i := range existing {
		if b := bindingOf(&existing[i]); b != nil {
			inConv[b.Address] = true
		}
	}
	var candidates []roster.Agent
	for _, a := range r.Agents {
		if a.InPool(pool) && !inConv[a.Address] {
			candidates = append(candidates, a)
		}
	}
	loads, err := s.loads(ctx, candidates)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int, len(loads))
	for name, l := range loads {
		counts[name] = l.open
	}
	// Agents passed over after they were picked, with the reason: every
	// number they are reached through is held by another open
	// conversation, which Twilio allows for one conversation at a time.
	skipped := map[string]string{}
	for {
		a, err := s.picker.Pick(r, pool, counts, func(a roster.Agent) bool {
			return inConv[a.Address] || skipped[a.Name] != ""
		})
		if err != nil {
			if len(skipped) > 0 {
				reasons := make([]string, 0, len(skipped))
				for name, why := range skipped {
					reasons = append(reasons, name+": "+why)
				}
				slices.Sort(reasons)
				return nil, fmt.Errorf("%w; passed over: %s", err, strings.Join(reasons, "; "))
			}
			return nil, err
		}
		res, why, err := s.addAgentThrough(ctx, conv, a, loads[a.Name])
		if err != nil || res != nil {
			return res, err
		}
		skipped[a.Name] = why
	}
}

// addAgentThrough adds agent a to conv through the first of its numbers
// that no other open conversation holds: those load.held names are passed
// over without a call, and a number Twilio reports held (50416, another
// conversation took it since the load was read) sends it to the next one.
// With no number left it returns a nil response and the reason.
func (s *server) addAgentThrough(ctx context.Context, conv string, a roster.Agent, load agentLoad) (*participantv1.AddSupportAgentResponse, string, error) {
	proxies := s.proxiesOf(a)
	if len(proxies) == 0 {
		// The roster allows an agent without a proxy only for a service
		// with a default; skip the agent rather than fail every request
		// until the roster is fixed.
		s.log.Error("support agent has no proxy address and the service has no default; skipping", "agent", a.Name)
		return nil, "no proxy address configured", nil
	}
	var held []string
	for _, proxy := range proxies {
		if holder := load.held[proxy]; holder != "" {
			held = append(held, heldBy(proxy, holder))
			continue
		}
		in := addInput{conv: conv, address: a.Address, proxy: proxy, attributes: agentAttributes(a)}
		p, present, err := s.add(ctx, in)
		if err == nil {
			open := load.open
			if !present {
				open++
				s.m.agentsAdded.WithLabelValues(a.Name).Inc()
			}
			s.m.agentLoad.WithLabelValues(a.Name).Set(float64(open))
			agent := s.toAgent(a, load.open)
			agent.ProxyAddress = proxy
			s.log.Info("support agent added", "conversation", conv, "agent", a.Name, "proxy", proxy, "load", load.open, "already_present", present)
			return &participantv1.AddSupportAgentResponse{Participant: toParticipant(p), Agent: agent, AlreadyPresent: present}, "", nil
		}
		holder, ok := bindingHolder(err)
		if !ok {
			return nil, "", err
		}
		s.log.Info("support agent's number is held by another conversation; trying the next", "agent", a.Name, "proxy", proxy, "holder", holder, "conversation", conv)
		held = append(held, heldBy(proxy, holder))
	}
	return nil, strings.Join(held, ", "), nil
}

// heldBy says why an agent's number cannot be used, in the reason
// ResourceExhausted gives when nobody is left.
func heldBy(proxy, holder string) string {
	return fmt.Sprintf("number %s held by open conversation %s", proxy, holder)
}

// agentAttributes marks the agent's participant with the roster name, so
// that flows and other services can tell support agents from customers.
func agentAttributes(a roster.Agent) string {
	b, _ := json.Marshal(map[string]string{"support_agent": a.Name})
	return string(b)
}

func (s *server) ListAgents(ctx context.Context, req *participantv1.ListAgentsRequest) (*participantv1.ListAgentsResponse, error) {
	if s.roster == nil {
		return nil, toConnectError(s.log, errNoRoster)
	}
	var agents []roster.Agent
	for _, a := range s.roster.Roster().Agents {
		if a.InPool(req.GetPool()) {
			agents = append(agents, a)
		}
	}
	loads, err := s.loads(ctx, agents)
	if err != nil {
		return nil, toConnectError(s.log, err)
	}
	res := &participantv1.ListAgentsResponse{}
	for _, a := range agents {
		res.Agents = append(res.Agents, s.toAgent(a, loads[a.Name].open))
	}
	return res, nil
}

// agentLoad is what Conversations says of an agent's address.
type agentLoad struct {
	// open counts the non-closed conversations it is in.
	open int
	// held maps each proxy address it is bound through in a non-closed
	// conversation to that conversation's SID.
	held map[string]string
}

// loads reads each agent's load from Conversations (ParticipantConversations
// by address), a few agents at a time.
func (s *server) loads(ctx context.Context, agents []roster.Agent) (map[string]agentLoad, error) {
	loads := make(map[string]agentLoad, len(agents))
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	sem := make(chan struct{}, maxLoadReads)
	for _, a := range agents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			l, err := s.load(ctx, a.Address)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			loads[a.Name] = l
			s.m.agentLoad.WithLabelValues(a.Name).Set(float64(l.open))
		}()
	}
	wg.Wait()
	return loads, firstErr
}

func (s *server) load(ctx context.Context, addr string) (agentLoad, error) {
	var convs []twconv.ConversationsV1ParticipantConversation
	err := s.call(ctx, "count conversations of "+addr, func() (err error) {
		params := &twconv.ListParticipantConversationParams{}
		params.SetAddress(addr)
		params.SetPageSize(50)
		convs, err = s.api.ListParticipantConversation(params)
		return err
	})
	if err != nil {
		return agentLoad{}, err
	}
	l := agentLoad{held: map[string]string{}}
	for _, c := range convs {
		if c.ConversationState != nil && *c.ConversationState == "closed" {
			continue
		}
		l.open++
		if proxy := bindingProxy(c.ParticipantMessagingBinding); proxy != "" && c.ConversationSid != nil {
			l.held[proxy] = *c.ConversationSid
		}
	}
	return l, nil
}

// bindingProxy reads proxy_address from a participant_messaging_binding,
// which twilio-go leaves as untyped JSON.
func bindingProxy(b *any) string {
	if b == nil {
		return ""
	}
	m, _ := (*b).(map[string]any)
	proxy, _ := m["proxy_address"].(string)
	return proxy
}

//----------------------------------------------------------------------------
// Validation and conversion
//----------------------------------------------------------------------------

func checkConversationSid(sid string) error {
	if sid == "" {
		return invalidf("conversation_sid is required")
	}
	if !conversationSidRE.MatchString(sid) {
		return invalidf("conversation_sid %q is not a conversation SID (CH followed by 32 hex digits)", sid)
	}
	return nil
}

func checkParticipantSid(sid string) error {
	if sid == "" {
		return invalidf("participant SID is required")
	}
	if !participantSidRE.MatchString(sid) {
		return invalidf("%q is not a participant SID (MB followed by 32 hex digits)", sid)
	}
	return nil
}

func checkIdentity(identity string) error {
	switch {
	case strings.TrimSpace(identity) == "":
		return invalidf("identity must not be empty")
	case len(identity) > maxIdentity:
		return invalidf("identity is longer than %d bytes", maxIdentity)
	}
	return nil
}

func checkAttributes(attrs string) error {
	if attrs == "" {
		return nil
	}
	if len(attrs) > maxAttributes {
		return invalidf("attributes are larger than %d bytes", maxAttributes)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(attrs), &v); err != nil {
		return invalidf("attributes must be a JSON object: %v", err)
	}
	return nil
}

// binding is a participant's messaging_binding as twilio-go decodes it
// (into an interface{}).
type binding struct {
	Type             string `json:"type"`
	Address          string `json:"address"`
	ProxyAddress     string `json:"proxy_address"`
	ProjectedAddress string `json:"projected_address"`
}

func bindingOf(p *twconv.ConversationsV1ConversationParticipant) *binding {
	if p.MessagingBinding == nil {
		return nil
	}
	m, ok := (*p.MessagingBinding).(map[string]any)
	if !ok {
		return nil
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	return &binding{Type: str("type"), Address: str("address"), ProxyAddress: str("proxy_address"), ProjectedAddress: str("projected_address")}
}

func toParticipant(p *twconv.ConversationsV1ConversationParticipant) *participantv1.Participant {
	if p == nil {
		return nil
	}
	out := &participantv1.Participant{
		Sid:             deref(p.Sid),
		ConversationSid: deref(p.ConversationSid),
		Identity:        deref(p.Identity),
		Attributes:      deref(p.Attributes),
		RoleSid:         deref(p.RoleSid),
		CreateTime:      timestamp(p.DateCreated),
		UpdateTime:      timestamp(p.DateUpdated),
	}
	if b := bindingOf(p); b != nil {
		out.MessagingBinding = &participantv1.MessagingBinding{
			Type: b.Type, Address: b.Address, ProxyAddress: b.ProxyAddress, ProjectedAddress: b.ProjectedAddress,
		}
	}
	return out
}

// proxiesOf returns the numbers agent a is reached through: the roster's,
// or else the service's default proxy address; none when neither is set.
func (s *server) proxiesOf(a roster.Agent) []string {
	if proxies := a.Proxies(); len(proxies) > 0 {
		return proxies
	}
	if s.defaultProxy != "" {
		return []string{s.defaultProxy}
	}
	return nil
}

// toAgent converts a roster agent: its numbers are proxiesOf's, and
// proxy_address is the first.
func (s *server) toAgent(a roster.Agent, load int) *participantv1.Agent {
	out := &participantv1.Agent{
		Name:           a.Name,
		Address:        a.Address,
		ProxyAddresses: s.proxiesOf(a),
		Capacity:       int32(a.Capacity),
		Pools:          a.Pools,
		Load:           int32(load),
	}
	if len(out.ProxyAddresses) > 0 {
		out.ProxyAddress = out.ProxyAddresses[0]
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func timestamp(t *time.Time) *timestamppb.Timestamp {
	if t == nil || t.IsZero() {
		return nil
	}
	return timestamppb.New(*t)
}

package flow

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
)

// Deps are what the FlowService handler needs.
type Deps struct {
	// Store keeps flows, executions and events.
	Store store.Store
	// Runner runs executions: CreateExecution, EndExecution,
	// HandleConversationEvent and the live part of WatchExecution. Its
	// engine (Runner.Engine) validates definitions, so validation resolves
	// subflows the way execution does.
	Runner *runner.Runner
	// AccountSid is the account the webhook route accepts and webhook_url
	// names.
	AccountSid string
	// PublicURL returns the externally visible base URL (no trailing
	// slash) used for webhook_url and for checking X-Twilio-Signature. It
	// is a function because a server listening on port 0 learns its URL
	// only once it listens.
	PublicURL func() string
	// IDs mints flow SIDs; nil means engine.RandomIDs.
	IDs engine.IDGen
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// service implements FlowService; New is its only constructor.
type service struct {
	store      store.Store
	engine     *engine.Engine
	runner     *runner.Runner
	accountSid string
	publicURL  func() string
	ids        engine.IDGen
	log        *slog.Logger
}

// New returns the FlowService handler for the generated connect
// constructor (flowv1connect.NewFlowServiceHandler).
func New(d Deps) (flowv1connect.FlowServiceHandler, error) {
	return newService(d)
}

func newService(d Deps) (*service, error) {
	if d.Store == nil || d.Runner == nil {
		return nil, errors.New("flow: Deps.Store and Deps.Runner are required")
	}
	if d.AccountSid == "" || d.PublicURL == nil {
		return nil, errors.New("flow: Deps.AccountSid and Deps.PublicURL are required")
	}
	s := &service{
		store:      d.Store,
		engine:     d.Runner.Engine(),
		runner:     d.Runner,
		accountSid: d.AccountSid,
		publicURL:  d.PublicURL,
		ids:        d.IDs,
		log:        d.Logger,
	}
	if s.ids == nil {
		s.ids = engine.RandomIDs{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// webhookPath is where Conversations delivers a flow's events, the path
// Studio uses.
func webhookPath(accountSid, flowSid string) string {
	return "/v1/Accounts/" + accountSid + "/Flows/" + flowSid
}

func (s *service) webhookURL(flowSid string) string {
	return strings.TrimSuffix(s.publicURL(), "/") + webhookPath(s.accountSid, flowSid)
}

// fail maps err for the client (see toConnectError).
func (s *service) fail(ctx context.Context, err error) error {
	return toConnectError(ctx, s.log, err)
}

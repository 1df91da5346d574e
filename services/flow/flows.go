package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// updateRetries bounds how often UpdateFlow validates again a definition
// that another UpdateFlow replaced in the meantime.
const updateRetries = 5

// validated is a definition that passed validation, ready to store.
type validated struct {
	json     json.RawMessage
	warnings []engine.Problem
}

// validate checks a definition with the runner's engine. Every problem
// comes back at once in a *engine.ValidationError, which toConnectError
// turns into InvalidArgument with a ValidationErrors detail.
func (s *service) validate(ctx context.Context, def *structpb.Struct) (validated, error) {
	if def == nil {
		return validated{}, badRequest("definition is required")
	}
	raw, err := structToJSON(def)
	if err != nil {
		return validated{}, err
	}
	d, err := engine.Parse(raw)
	if err != nil {
		return validated{}, err
	}
	warnings, err := s.engine.Check(ctx, d)
	if err != nil {
		return validated{}, err
	}
	return validated{json: raw, warnings: warnings}, nil
}

func (s *service) CreateFlow(ctx context.Context, req *flowv1.CreateFlowRequest) (*flowv1.CreateFlowResponse, error) {
	if strings.TrimSpace(req.GetFriendlyName()) == "" {
		return nil, s.fail(ctx, badRequest("friendly_name is required"))
	}
	status, err := flowStatusFromProto(req.GetStatus())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	v, err := s.validate(ctx, req.GetDefinition())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	f, err := s.store.CreateFlow(ctx, store.Flow{
		SID:           s.ids.NewSID(store.PrefixFlow),
		FriendlyName:  req.GetFriendlyName(),
		Status:        status,
		Definition:    v.json,
		CommitMessage: req.GetCommitMessage(),
		Valid:         true,
		Warnings:      problemsJSON(v.warnings),
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out, err := s.flowToProto(f, true)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.CreateFlowResponse{Flow: out}, nil
}

func (s *service) GetFlow(ctx context.Context, req *flowv1.GetFlowRequest) (*flowv1.GetFlowResponse, error) {
	f, err := s.store.GetFlow(ctx, req.GetSid())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out, err := s.flowToProto(f, true)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.GetFlowResponse{Flow: out}, nil
}

func (s *service) ListFlows(ctx context.Context, req *flowv1.ListFlowsRequest) (*flowv1.ListFlowsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	page, err := s.store.ListFlows(ctx, store.PageParams{PageSize: size, PageToken: req.GetPageToken()})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &flowv1.ListFlowsResponse{Flows: make([]*flowv1.Flow, len(page.Flows)), NextPageToken: page.NextPageToken}
	for i, f := range page.Flows {
		// As in Studio, a list carries no definitions: they can be large.
		if out.Flows[i], err = s.flowToProto(f, false); err != nil {
			return nil, s.fail(ctx, err)
		}
	}
	return out, nil
}

func (s *service) UpdateFlow(ctx context.Context, req *flowv1.UpdateFlowRequest) (*flowv1.UpdateFlowResponse, error) {
	status, err := flowStatusFromProto(req.GetStatus())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if req.FriendlyName != nil && strings.TrimSpace(req.GetFriendlyName()) == "" {
		return nil, s.fail(ctx, badRequest("friendly_name, when given, must not be empty"))
	}
	// A new definition is validated once. An unchanged one is validated
	// again, because subflows it references may have changed; that needs
	// the store (the subflow resolver), so it happens before the write
	// transaction, and the transaction checks the definition is still the
	// one validated.
	var v validated
	if req.GetDefinition() != nil {
		if v, err = s.validate(ctx, req.GetDefinition()); err != nil {
			return nil, s.fail(ctx, err)
		}
	}
	for attempt := 1; ; attempt++ {
		if req.GetDefinition() == nil {
			cur, err := s.store.GetFlow(ctx, req.GetSid())
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			if _, err := s.engine.Read(ctx, cur.Definition); err != nil {
				return nil, s.fail(ctx, err)
			}
			v = validated{json: cur.Definition}
		}
		var f store.Flow
		// Reading the latest revision and saving the next one in one write
		// transaction serialises concurrent updates instead of failing
		// them.
		err := s.store.InTx(ctx, func(tx store.Tx) error {
			cur, err := tx.GetFlow(ctx, req.GetSid())
			if err != nil {
				return err
			}
			if req.GetDefinition() == nil && !bytes.Equal(cur.Definition, v.json) {
				return errDefinitionChanged
			}
			u := store.FlowUpdate{
				SID:           cur.SID,
				BaseRevision:  cur.Revision,
				FriendlyName:  cur.FriendlyName,
				Status:        status,
				Definition:    v.json,
				CommitMessage: req.GetCommitMessage(),
				Valid:         true,
				Warnings:      problemsJSON(v.warnings),
			}
			if req.FriendlyName != nil {
				u.FriendlyName = req.GetFriendlyName()
			}
			if req.GetDefinition() == nil {
				u.Warnings = cur.Warnings
			}
			f, err = tx.UpdateFlow(ctx, u)
			return err
		})
		if errors.Is(err, errDefinitionChanged) && attempt < updateRetries {
			continue // another update replaced the definition: validate that one
		}
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out, err := s.flowToProto(f, true)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &flowv1.UpdateFlowResponse{Flow: out}, nil
	}
}

// errDefinitionChanged makes UpdateFlow validate again: the definition it
// validated was replaced before its transaction ran.
var errDefinitionChanged = fmt.Errorf("flow definition changed during the update: %w", store.ErrConflict)

func (s *service) DeleteFlow(ctx context.Context, req *flowv1.DeleteFlowRequest) (*flowv1.DeleteFlowResponse, error) {
	if err := s.store.DeleteFlow(ctx, req.GetSid()); err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.DeleteFlowResponse{}, nil
}

func (s *service) ValidateFlow(ctx context.Context, req *flowv1.ValidateFlowRequest) (*flowv1.ValidateFlowResponse, error) {
	// Studio's Validate takes the create parameters and checks them all.
	if strings.TrimSpace(req.GetFriendlyName()) == "" {
		return nil, s.fail(ctx, badRequest("friendly_name is required"))
	}
	if _, err := flowStatusFromProto(req.GetStatus()); err != nil {
		return nil, s.fail(ctx, err)
	}
	v, err := s.validate(ctx, req.GetDefinition())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.ValidateFlowResponse{Valid: true, Warnings: problemsToProto(v.warnings)}, nil
}

func (s *service) ListFlowRevisions(ctx context.Context, req *flowv1.ListFlowRevisionsRequest) (*flowv1.ListFlowRevisionsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	page, err := s.store.ListFlowRevisions(ctx, req.GetFlowSid(), store.PageParams{PageSize: size, PageToken: req.GetPageToken()})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &flowv1.ListFlowRevisionsResponse{Revisions: make([]*flowv1.FlowRevision, len(page.Flows)), NextPageToken: page.NextPageToken}
	for i, f := range page.Flows {
		if out.Revisions[i], err = revisionToProto(f); err != nil {
			return nil, s.fail(ctx, err)
		}
	}
	return out, nil
}

func (s *service) GetFlowRevision(ctx context.Context, req *flowv1.GetFlowRevisionRequest) (*flowv1.GetFlowRevisionResponse, error) {
	var (
		f   store.Flow
		err error
	)
	switch sel := req.GetSelector().(type) {
	case *flowv1.GetFlowRevisionRequest_Number:
		if sel.Number < 1 {
			return nil, s.fail(ctx, badRequest("number must be 1 or more, got %d", sel.Number))
		}
		f, err = s.store.GetFlowRevision(ctx, req.GetFlowSid(), int(sel.Number))
	case *flowv1.GetFlowRevisionRequest_Alias:
		switch sel.Alias {
		case flowv1.RevisionAlias_REVISION_ALIAS_LATEST_PUBLISHED:
			f, err = s.store.GetLatestPublishedRevision(ctx, req.GetFlowSid())
		case flowv1.RevisionAlias_REVISION_ALIAS_LATEST_REVISION:
			f, err = s.store.GetLatestRevision(ctx, req.GetFlowSid())
		default:
			err = badRequest("alias must be REVISION_ALIAS_LATEST_PUBLISHED or REVISION_ALIAS_LATEST_REVISION, not %v", sel.Alias)
		}
	default:
		err = badRequest("one of number and alias is required")
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	rev, err := revisionToProto(f)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.GetFlowRevisionResponse{Revision: rev}, nil
}

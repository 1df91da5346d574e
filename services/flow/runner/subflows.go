package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// subflowResolver is the engine's SubflowResolver: it reads run-subflow
// targets from the store. "LatestPublished" is the newest published
// revision, or the newest of any status when the parent execution's
// contact is one of the parent flow's test users ("the parent's test users
// decide draft versus published", studio.md §2.3); "LatestRevision" and
// "LatestDraft" the newest revision of any status (a draft is always the
// newest revision when there is one).
type subflowResolver struct {
	st   store.Store
	defs *defCache
}

func (s *subflowResolver) ResolveSubflow(ctx context.Context, flowSid, revision string) (*engine.Subflow, error) {
	var (
		f   store.Flow
		err error
	)
	switch revision {
	case "LatestPublished", "":
		// During a run the engine's context carries the attempt, and with
		// it the parent execution. Validating a definition has none: no
		// contact, and no contact is a test user, so that is the
		// published revision.
		p := store.RevisionForContactParams{FlowSID: flowSid}
		if at := attemptFrom(ctx); at != nil {
			p.TestUsersOf, p.Contact = at.row.FlowSID, at.row.ContactChannelAddress
		}
		f, err = s.st.GetRevisionForContact(ctx, p)
	case "LatestRevision", "LatestDraft":
		f, err = s.st.GetLatestRevision(ctx, flowSid)
	default:
		n, convErr := strconv.Atoi(revision)
		if convErr != nil || n < 1 {
			return nil, fmt.Errorf("%w: revision %q of flow %s is not a number or LatestPublished/LatestRevision", engine.ErrSubflowNotFound, revision, flowSid)
		}
		if def := s.defs.lookup(flowSid, n); def != nil {
			return &engine.Subflow{Definition: def, Revision: n}, nil
		}
		f, err = s.st.GetFlowRevision(ctx, flowSid, n)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidArgument) {
		return nil, fmt.Errorf("%w: flow %s revision %s: %v", engine.ErrSubflowNotFound, flowSid, revision, err)
	}
	if err != nil {
		return nil, fmt.Errorf("runner: resolving subflow %s revision %s: %w", flowSid, revision, err)
	}
	def, err := s.defs.get(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrSubflowNotFound, err)
	}
	return &engine.Subflow{Definition: def, Revision: f.Revision}, nil
}

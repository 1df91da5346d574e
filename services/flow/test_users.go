package flow

import (
	"context"
	"strings"
	"unicode/utf8"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

// Limits of a flow's test users. Studio documents none; these keep a list
// what it is for, the few people who try a draft, and an identity the
// size of an address or a chat identity.
const (
	maxTestUsers      = 100
	maxTestUserLength = 256
)

func (s *service) GetFlowTestUsers(ctx context.Context, req *flowv1.GetFlowTestUsersRequest) (*flowv1.GetFlowTestUsersResponse, error) {
	users, err := s.store.GetFlowTestUsers(ctx, req.GetFlowSid())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.GetFlowTestUsersResponse{FlowTestUsers: &flowv1.FlowTestUsers{FlowSid: req.GetFlowSid(), TestUsers: users}}, nil
}

func (s *service) UpdateFlowTestUsers(ctx context.Context, req *flowv1.UpdateFlowTestUsersRequest) (*flowv1.UpdateFlowTestUsersResponse, error) {
	users, err := testUsers(req.GetTestUsers())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if err := s.store.SetFlowTestUsers(ctx, req.GetFlowSid(), users); err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.UpdateFlowTestUsersResponse{FlowTestUsers: &flowv1.FlowTestUsers{FlowSid: req.GetFlowSid(), TestUsers: users}}, nil
}

// testUsers checks a requested list of test users and returns it as it is
// stored.
//
// A repeated identity is dropped, keeping its first place, rather than
// refused: the list stands for a set of contacts, and a deploy script that
// merges two lists sharing someone means that person once.
//
// What is refused could never match a contact as the caller meant: an
// empty identity, and one with leading or trailing whitespace, since a
// contact address has none and a "+" sent unencoded in a form (curl -d
// TestUsers=+1555…) arrives as a space.
func testUsers(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, u := range in {
		switch {
		case u == "":
			return nil, badRequest("test_users[%d] is empty", i)
		case strings.TrimSpace(u) != u:
			return nil, badRequest("test_users[%d] %q has leading or trailing whitespace (a \"+\" sent unencoded in a form arrives as a space)", i, u)
		case utf8.RuneCountInString(u) > maxTestUserLength:
			return nil, badRequest("test_users[%d] is longer than %d characters", i, maxTestUserLength)
		case seen[u]:
			continue
		}
		seen[u] = true
		out = append(out, u)
	}
	if len(out) > maxTestUsers {
		return nil, badRequest("a flow has at most %d test users, not %d", maxTestUsers, len(out))
	}
	return out, nil
}

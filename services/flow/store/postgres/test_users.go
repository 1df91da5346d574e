package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/convoflow/convoflow/services/flow/store"
)

// revisionForContactQuery picks a contact's revision with two point lookups
// whichever way the test-user check goes: the flows row's revision (the
// latest) for a test user, the published partial index's newest entry for
// everyone else. The check reads the test users of the flow $2 names (the
// parent's, for a subflow); = ANY of a NULL array is not true, so a flow
// without test users takes the published branch.
const revisionForContactQuery = `SELECT ` + revisionCols + ` FROM flows f JOIN flow_revisions r ON r.flow_sid = f.sid
	WHERE f.sid = $1 AND r.revision = CASE
		WHEN EXISTS (SELECT 1 FROM flows t WHERE t.sid = $2 AND $3::text = ANY (t.test_users)) THEN f.revision
		ELSE (SELECT max(p.revision) FROM flow_revisions p WHERE p.flow_sid = f.sid AND p.status = 'published')
	END`

func (q *queries) GetRevisionForContact(ctx context.Context, p store.RevisionForContactParams) (store.Flow, error) {
	notFound := fmt.Errorf("revision of flow %s for contact %q: %w", p.FlowSID, p.Contact, store.ErrNotFound)
	testUsersOf := p.TestUsersOf
	if testUsersOf == "" {
		testUsersOf = p.FlowSID
	}
	if !textOK(p.FlowSID, testUsersOf) {
		return store.Flow{}, notFound
	}
	contact := p.Contact
	if !textOK(contact) {
		// Text PostgreSQL cannot hold is no stored test user's; asking
		// with it would fail the statement (and a caller's transaction).
		contact = ""
	}
	f, err := scanFlow(q.db.QueryRow(ctx, revisionForContactQuery, p.FlowSID, testUsersOf, contact))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Flow{}, notFound
	}
	if err != nil {
		return store.Flow{}, sqlError(fmt.Sprintf("get revision of flow %s for contact %q", p.FlowSID, p.Contact), err)
	}
	return f, nil
}

func (q *queries) GetFlowTestUsers(ctx context.Context, flowSID string) ([]string, error) {
	if !textOK(flowSID) {
		return nil, fmt.Errorf("flow %s: %w", flowSID, store.ErrNotFound)
	}
	var users []string
	err := q.db.QueryRow(ctx, `SELECT test_users FROM flows WHERE sid = $1`, flowSID).Scan(&users)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("flow %s: %w", flowSID, store.ErrNotFound)
	}
	if err != nil {
		return nil, sqlError("get test users of flow "+flowSID, err)
	}
	if len(users) == 0 {
		return nil, nil
	}
	return users, nil
}

func (q *queries) SetFlowTestUsers(ctx context.Context, flowSID string, users []string) error {
	if err := store.CheckTestUsers(users); err != nil {
		return err
	}
	if !textOK(flowSID) {
		return fmt.Errorf("flow %s: %w", flowSID, store.ErrNotFound)
	}
	var arg []string // nil is NULL: no test users
	if len(users) > 0 {
		arg = users
	}
	// One statement replaces the whole list, so concurrent replacements
	// serialise on the row and the last one wins whole.
	tag, err := q.db.Exec(ctx, `UPDATE flows SET test_users = $2 WHERE sid = $1`, flowSID, arg)
	if err != nil {
		return sqlError("set test users of flow "+flowSID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("flow %s: %w", flowSID, store.ErrNotFound)
	}
	return nil
}

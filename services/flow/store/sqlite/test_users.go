package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/convoflow/convoflow/services/flow/store"
)

// revisionForContactQuery picks a contact's revision with two point lookups
// whichever way the test-user check goes: the flows row's revision (the
// latest) for a test user, the published partial index's newest entry for
// everyone else. The check reads the test users of the flow the second
// parameter names (the parent's, for a subflow); json_each of NULL is
// empty, so a flow without test users costs nothing more than before.
const revisionForContactQuery = `SELECT ` + revisionCols + ` FROM flows f JOIN flow_revisions r ON r.flow_sid = f.sid
	WHERE f.sid = ? AND r.revision = CASE
		WHEN EXISTS (SELECT 1 FROM flows t, json_each(t.test_users) u WHERE t.sid = ? AND u.value = ?) THEN f.revision
		ELSE (SELECT max(p.revision) FROM flow_revisions p WHERE p.flow_sid = f.sid AND p.status = 'published')
	END`

func (q *queries) GetRevisionForContact(ctx context.Context, p store.RevisionForContactParams) (store.Flow, error) {
	testUsersOf := p.TestUsersOf
	if testUsersOf == "" {
		testUsersOf = p.FlowSID
	}
	f, err := scanFlow(q.db.QueryRowContext(ctx, revisionForContactQuery, p.FlowSID, testUsersOf, p.Contact))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Flow{}, fmt.Errorf("revision of flow %s for contact %q: %w", p.FlowSID, p.Contact, store.ErrNotFound)
	}
	if err != nil {
		return store.Flow{}, fmt.Errorf("get revision of flow %s for contact %q: %w", p.FlowSID, p.Contact, err)
	}
	return f, nil
}

func (q *queries) GetFlowTestUsers(ctx context.Context, flowSID string) ([]string, error) {
	var raw sql.NullString
	err := q.db.QueryRowContext(ctx, `SELECT test_users FROM flows WHERE sid = ?`, flowSID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("flow %s: %w", flowSID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get test users of flow %s: %w", flowSID, err)
	}
	if !raw.Valid {
		return nil, nil
	}
	var users []string
	if err := json.Unmarshal([]byte(raw.String), &users); err != nil {
		return nil, fmt.Errorf("test users of flow %s: %w", flowSID, err)
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
	var arg any // NULL: no test users
	if len(users) > 0 {
		b, err := json.Marshal(users)
		if err != nil {
			return fmt.Errorf("test users of flow %s: %w", flowSID, err)
		}
		arg = string(b)
	}
	res, err := q.db.ExecContext(ctx, `UPDATE flows SET test_users = ? WHERE sid = ?`, arg, flowSID)
	if err != nil {
		return fmt.Errorf("set test users of flow %s: %w", flowSID, err)
	}
	return rowsOrNotFound(res, "flow", flowSID)
}

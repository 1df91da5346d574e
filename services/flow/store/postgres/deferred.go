package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convoflow/convoflow/services/flow/store"
)

// The deferred writes of store.Tx. Inside InTx each is held back by the
// transaction (tx.hold) and sent in the batch of its next statement or of
// its COMMIT. The immediate method of the same name learns why its
// statement changed nothing with a read that follows it; a deferred write
// cannot wait for that, since the COMMIT may already be on its way. So its
// statement wraps the immediate one in a CTE and, when that changed
// nothing, fails through convoflow_fail (migrations/0003_fail.sql) with a
// code that sqlError maps to the error the immediate method would return.
// The failure aborts the transaction, and the batch's COMMIT with it.

// The codes convoflow_fail raises for the deferred writes.
const (
	failNotFound      = "CV001"
	failConflict      = "CV002"
	failAlreadyExists = "CV003"
	failLeaseNotHeld  = "CV004"
	failNotCreated    = "CV005"
	failNotUpdated    = "CV006"
)

// later holds w back in the transaction, or fails the transaction with
// err, a refusal of w's arguments (which the caller sees at once). In a
// transaction, held (if any) is called once w is held back.
func (q *queries) later(ctx context.Context, err error, w write, held ...func(*tx)) error {
	t, ok := q.db.(*tx)
	if !ok {
		// Not in InTx (the Store's own Later methods open one).
		if err != nil {
			return err
		}
		return w.read(q.db.QueryRow(ctx, w.sql, w.args...))
	}
	if err != nil {
		return t.fail(err)
	}
	if err := t.hold(w); err != nil {
		return err
	}
	for _, fn := range held {
		fn(t)
	}
	return nil
}

// checked reads the one boolean of a deferred write that reports nothing:
// true, unless the statement failed.
func checked(what string) func(pgx.Row) error {
	return func(row pgx.Row) error {
		var ok bool
		if err := row.Scan(&ok); err != nil {
			return sqlError(what, err)
		}
		return nil
	}
}

func (q *queries) CreateExecutionLater(ctx context.Context, e store.Execution, out *store.Execution) error {
	created, updated := q.creationTimes(e)
	return q.later(ctx, store.CheckNewExecution(e), write{
		// What whyNoExecution reads, from this statement's snapshot, as
		// the failure's detail. The snapshot cannot see a clashing
		// execution that a concurrent transaction committed while this
		// insert waited for it: nothing then seems in the way, which is a
		// conflict (CreateExecution would look again).
		sql: `WITH ins AS (` + createExecutionSQL + ` RETURNING 1)
			SELECT CASE WHEN EXISTS (SELECT 1 FROM ins) THEN true
				ELSE convoflow_fail('` + failNotCreated + `', 'execution ' || $1::text || ' was not created',
					EXISTS (SELECT 1 FROM flow_revisions WHERE flow_sid = $2::text AND revision = $3::integer)::text || ' ' ||
					EXISTS (SELECT 1 FROM executions WHERE sid = $1::text)::text || ' ' ||
					coalesce((SELECT sid FROM executions WHERE flow_sid = $2::text AND status = 'active' AND $6::text = 'active' AND
						CASE WHEN $5::text <> '' THEN conversation_sid = $5::text AND conversation_sid <> ''
						ELSE conversation_sid = '' AND contact_channel_address = $4::text END), ''))
			END`,
		args: createExecutionArgs(e, created, updated),
		read: func(row pgx.Row) error {
			var ok bool
			err := row.Scan(&ok)
			if err == nil {
				*out = createdExecution(e, created, updated)
				return nil
			}
			detail, coded := failDetail(err, failNotCreated)
			if !coded {
				return sqlError("create execution "+e.SID, err)
			}
			f := append(strings.Fields(detail), "")
			if err := noExecution(e, f[0] == "true", f[1] == "true", f[2]); err != nil {
				return err
			}
			return fmt.Errorf("create execution %s: what was in its way changed concurrently: %w", e.SID, store.ErrConflict)
		},
	})
}

func (q *queries) UpdateExecutionLater(ctx context.Context, u store.ExecutionUpdate, out *store.Execution) error {
	err := store.CheckExecutionContent(u.Status, store.Execution{EndedReason: u.EndedReason, State: u.State, Context: u.Context})
	if err == nil && !textOK(u.SID) {
		err = fmt.Errorf("execution %s: %w", u.SID, store.ErrNotFound)
	}
	updated := q.stamp(u.UpdateTime)
	return q.later(ctx, err, write{
		// The failure's detail is what UpdateExecution reads to say why,
		// from this statement's snapshot.
		sql: `WITH u AS (` + updateExecutionSQL + `)
			SELECT flow_sid, flow_revision, contact_channel_address, conversation_sid, version, create_time, true FROM u
			UNION ALL
			SELECT NULL, NULL, NULL, NULL, NULL, NULL, CASE
				WHEN NOT EXISTS (SELECT 1 FROM executions WHERE sid = $1::text) THEN
					convoflow_fail('` + failNotFound + `', 'execution ' || $1::text || ' does not exist')
				ELSE convoflow_fail('` + failNotUpdated + `', 'execution ' || $1::text || ' was not updated',
					(SELECT version || ' ' || status FROM executions WHERE sid = $1::text))
			END WHERE NOT EXISTS (SELECT 1 FROM u)`,
		args: updateExecutionArgs(u, updated),
		read: func(row pgx.Row) error {
			e := updatedExecution(u, updated)
			var ok bool
			err := row.Scan(&e.FlowSID, &e.FlowRevision, &e.ContactChannelAddress, &e.ConversationSID, &e.Version, timeCol{&e.CreateTime}, &ok)
			if err == nil {
				*out = e
				return nil
			}
			detail, coded := failDetail(err, failNotUpdated)
			if !coded {
				return sqlError("update execution "+u.SID, err)
			}
			v, status, _ := strings.Cut(detail, " ")
			version, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil {
				return sqlError("update execution "+u.SID, err)
			}
			return store.RefusedUpdate(u, version, store.ExecutionStatus(status))
		},
	})
}

// failDetail returns the detail of err when it is convoflow_fail's error
// with the code.
func failDetail(err error, code string) (string, bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != code {
		return "", false
	}
	return pgErr.Detail, true
}

func (q *queries) AppendStepsLater(ctx context.Context, steps []store.Step) error {
	for i := range steps {
		s := &steps[i]
		created := q.stamp(s.CreateTime)
		what := "append step " + s.SID
		err := q.later(ctx, store.CheckNewStep(*s), write{
			// The same conditions as AppendStep, from one snapshot; a
			// lost race for an automatic sequence is a conflict, which
			// the caller retries as a whole, where AppendStep numbers
			// again.
			sql: `WITH ins AS (` + appendStepSQL + `)
				SELECT (SELECT sequence FROM ins), (SELECT flow_sid FROM ins), CASE
					WHEN EXISTS (SELECT 1 FROM ins) THEN true
					WHEN NOT EXISTS (SELECT 1 FROM executions WHERE sid = $11::text) THEN
						convoflow_fail('` + failNotFound + `', 'execution ' || $11::text || ' does not exist')
					WHEN $2::bigint > 0 OR EXISTS (SELECT 1 FROM steps WHERE sid = $1::text) THEN
						convoflow_fail('` + failAlreadyExists + `', 'step ' || $1::text || ' (sequence ' || $2::bigint || ') of execution ' || $11::text || ' exists')
					ELSE convoflow_fail('` + failConflict + `', 'another transaction appended to execution ' || $11::text || ' first')
				END`,
			args: appendStepArgs(*s, created),
			read: func(row pgx.Row) error {
				var ok bool
				if err := row.Scan(&s.Sequence, &s.FlowSID, &ok); err != nil {
					return sqlError(what, err)
				}
				s.Context, s.CreateTime = nilIfEmpty(s.Context), created
				return nil
			},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (q *queries) MarkEventDoneLater(ctx context.Context, id int64, outcome json.RawMessage, doneTime time.Time) error {
	what := fmt.Sprintf("mark event %d done", id)
	return q.later(ctx, store.CheckJSON("event outcome", outcome), write{
		sql: `WITH done AS (` + markEventDoneSQL + ` RETURNING 1)
			SELECT CASE
				WHEN EXISTS (SELECT 1 FROM done) THEN true
				WHEN EXISTS (SELECT 1 FROM events WHERE id = $1) THEN
					convoflow_fail('` + failConflict + `', 'event ' || $1::bigint || ' is already done')
				ELSE convoflow_fail('` + failNotFound + `', 'event ' || $1::bigint || ' does not exist')
			END`,
		args: []any{id, jsonArg(outcome), q.stamp(doneTime)},
		read: checked(what),
	})
}

func (q *queries) SettleLeaseLater(ctx context.Context, name, owner, conversationSID string, now time.Time, ttl time.Duration, settled *store.LeaseSettlement) error {
	err := store.CheckLease(name, owner, now, ttl)
	if err == nil {
		err = store.CheckText("conversation SID", conversationSID)
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", store.ErrLeaseLost, err)
	}
	return q.later(ctx, err, write{
		// The holder, if any, comes from the same snapshot as the
		// settling, as the detail of the failure.
		sql: settleLeaseCTE + `
			SELECT EXISTS (SELECT 1 FROM released), CASE
				WHEN EXISTS (SELECT 1 FROM released) OR EXISTS (SELECT 1 FROM renewed) THEN true
				ELSE convoflow_fail('` + failLeaseNotHeld + `', 'lease ' || $1 || ' is not held by ' || $2,
					coalesce((SELECT (extract(epoch FROM expire_time) * 1000000)::bigint || ' ' || owner
						FROM leases WHERE name = $1), ''))
			END`,
		args: []any{name, owner, conversationSID, store.Normalize(now.Add(ttl))},
		read: func(row pgx.Row) error {
			var released, ok bool
			if err := row.Scan(&released, &ok); err != nil {
				return fmt.Errorf("%w: %w", store.ErrLeaseLost, leaseNotHeld(name, err))
			}
			// Until the look after the commit says otherwise.
			*settled = store.LeaseSettlement{Released: released, PendingAfter: released}
			return nil
		},
	}, func(t *tx) {
		// An event recorded by a transaction that committed after this
		// statement's snapshot found the lease held and was left to us.
		// The look rides in the COMMIT's batch, after the COMMIT, so it
		// sees every such event, and saves the caller a round trip of its
		// own to look.
		t.lookAfterCommit(write{
			sql:  `SELECT EXISTS (SELECT 1 FROM events WHERE conversation_sid = $1 AND status = 'pending')`,
			args: []any{conversationSID},
			read: func(row pgx.Row) error {
				var pending bool
				if err := row.Scan(&pending); err != nil {
					// Unknown: the caller looks itself.
					return err
				}
				settled.PendingAfter = settled.Released && pending
				return nil
			},
		})
	})
}

// leaseNotHeld is SettleLease's error for a failure of SettleLeaseLater:
// *store.LeaseHeldError, or ErrNotFound when there is no lease.
func leaseNotHeld(name string, err error) error {
	detail, coded := failDetail(err, failLeaseNotHeld)
	if !coded {
		return sqlError(fmt.Sprintf("settle lease %q", name), err)
	}
	micros, owner, found := strings.Cut(detail, " ")
	n, perr := strconv.ParseInt(micros, 10, 64)
	if !found || perr != nil {
		return fmt.Errorf("lease %q: %w", name, store.ErrNotFound)
	}
	return &store.LeaseHeldError{Name: name, Owner: owner, ExpireTime: store.Normalize(time.UnixMicro(n))}
}

func (q *queries) ScheduleTimerLater(ctx context.Context, t store.Timer) error {
	what := fmt.Sprintf("schedule %s timer of execution %s", t.Kind, t.ExecutionSID)
	return q.later(ctx, store.CheckNewTimer(t), write{
		sql: `WITH t AS (` + scheduleTimerSQL + `)
			SELECT CASE WHEN EXISTS (SELECT 1 FROM t) THEN true
				ELSE convoflow_fail('` + failNotFound + `', 'execution ' || $1::text || ' does not exist') END`,
		args: scheduleTimerArgs(t, q.stamp(t.CreateTime)),
		read: checked(what),
	})
}

func (q *queries) CancelTimersLater(ctx context.Context, executionSID, kind string) error {
	if !textOK(executionSID, kind) {
		// No timer can have them, as for CancelTimers.
		return nil
	}
	what := "cancel timers of execution " + executionSID
	return q.later(ctx, nil, write{
		// A data-modifying CTE runs to completion whether or not the
		// query reads it.
		sql:  `WITH d AS (DELETE FROM timers WHERE execution_sid = $1 AND ($2 = '' OR kind = $2) RETURNING 1) SELECT true`,
		args: []any{executionSID, kind},
		read: checked(what),
	})
}

func (q *queries) AcquireLeaseLater(ctx context.Context, name, owner string, now time.Time, ttl time.Duration, lease *store.Lease) error {
	what := fmt.Sprintf("acquire lease %q", name)
	return q.later(ctx, store.CheckLease(name, owner, now, ttl), write{
		// No row is a lease another owner holds: the conflicting row was
		// there, locked, and the WHERE refused it, so unlike AcquireLease
		// there is nothing to read or retry.
		sql:  acquireLeaseSQL,
		args: []any{name, owner, store.Normalize(now.Add(ttl)), store.Normalize(now)},
		read: func(row pgx.Row) error {
			err := scanLease(row, lease)
			if errors.Is(err, pgx.ErrNoRows) {
				*lease = store.Lease{}
				return nil
			}
			if err != nil {
				return sqlError(what, err)
			}
			return nil
		},
	})
}

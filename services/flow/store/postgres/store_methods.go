package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

// The methods below give Store the [store.Tx] methods outside InTx. Every
// method but RecordEvent writes with one statement (the reads some of them
// follow up with only explain a statement that changed nothing), so they
// run on the pool, each statement a transaction of its own, without the
// round trips of BEGIN and COMMIT. RecordEvent may take two statements
// that must commit together (a redelivery undoes the counter the first
// advanced), so it runs in a transaction of its own.

// CreateFlow implements [store.Tx].
func (s *Store) CreateFlow(ctx context.Context, f store.Flow) (store.Flow, error) {
	return s.direct.CreateFlow(ctx, f)
}

// GetFlow implements [store.Tx].
func (s *Store) GetFlow(ctx context.Context, sid string) (store.Flow, error) {
	return s.direct.GetFlow(ctx, sid)
}

// ListFlows implements [store.Tx].
func (s *Store) ListFlows(ctx context.Context, p store.PageParams) (store.FlowPage, error) {
	return s.direct.ListFlows(ctx, p)
}

// UpdateFlow implements [store.Tx].
func (s *Store) UpdateFlow(ctx context.Context, u store.FlowUpdate) (store.Flow, error) {
	return s.direct.UpdateFlow(ctx, u)
}

// DeleteFlow implements [store.Tx].
func (s *Store) DeleteFlow(ctx context.Context, sid string) error {
	return s.direct.DeleteFlow(ctx, sid)
}

// ListFlowRevisions implements [store.Tx].
func (s *Store) ListFlowRevisions(ctx context.Context, flowSID string, p store.PageParams) (store.FlowPage, error) {
	return s.direct.ListFlowRevisions(ctx, flowSID, p)
}

// GetFlowRevision implements [store.Tx].
func (s *Store) GetFlowRevision(ctx context.Context, flowSID string, revision int) (store.Flow, error) {
	return s.direct.GetFlowRevision(ctx, flowSID, revision)
}

// GetLatestPublishedRevision implements [store.Tx].
func (s *Store) GetLatestPublishedRevision(ctx context.Context, flowSID string) (store.Flow, error) {
	return s.direct.GetLatestPublishedRevision(ctx, flowSID)
}

// GetLatestRevision implements [store.Tx].
func (s *Store) GetLatestRevision(ctx context.Context, flowSID string) (store.Flow, error) {
	return s.direct.GetLatestRevision(ctx, flowSID)
}

// GetRevisionForContact implements [store.Tx].
func (s *Store) GetRevisionForContact(ctx context.Context, p store.RevisionForContactParams) (store.Flow, error) {
	return s.direct.GetRevisionForContact(ctx, p)
}

// GetFlowTestUsers implements [store.Tx].
func (s *Store) GetFlowTestUsers(ctx context.Context, flowSID string) ([]string, error) {
	return s.direct.GetFlowTestUsers(ctx, flowSID)
}

// SetFlowTestUsers implements [store.Tx].
func (s *Store) SetFlowTestUsers(ctx context.Context, flowSID string, users []string) error {
	return s.direct.SetFlowTestUsers(ctx, flowSID, users)
}

// CreateExecution implements [store.Tx].
func (s *Store) CreateExecution(ctx context.Context, e store.Execution) (store.Execution, error) {
	return s.direct.CreateExecution(ctx, e)
}

// GetExecution implements [store.Tx].
func (s *Store) GetExecution(ctx context.Context, sid string) (store.Execution, error) {
	return s.direct.GetExecution(ctx, sid)
}

// ListExecutions implements [store.Tx].
func (s *Store) ListExecutions(ctx context.Context, p store.ListExecutionsParams) (store.ExecutionPage, error) {
	return s.direct.ListExecutions(ctx, p)
}

// UpdateExecution implements [store.Tx].
func (s *Store) UpdateExecution(ctx context.Context, u store.ExecutionUpdate) (store.Execution, error) {
	return s.direct.UpdateExecution(ctx, u)
}

// DeleteExecution implements [store.Tx].
func (s *Store) DeleteExecution(ctx context.Context, sid string) error {
	return s.direct.DeleteExecution(ctx, sid)
}

// FindActiveExecutionByConversation implements [store.Tx].
func (s *Store) FindActiveExecutionByConversation(ctx context.Context, flowSID, conversationSID string) (store.Execution, error) {
	return s.direct.FindActiveExecutionByConversation(ctx, flowSID, conversationSID)
}

// FindActiveExecutionByContact implements [store.Tx].
func (s *Store) FindActiveExecutionByContact(ctx context.Context, flowSID, contact string) (store.Execution, error) {
	return s.direct.FindActiveExecutionByContact(ctx, flowSID, contact)
}

// FindActiveExecutionForMessage implements [store.Tx].
func (s *Store) FindActiveExecutionForMessage(ctx context.Context, flowSID, conversationSID, contact string) (store.Execution, error) {
	return s.direct.FindActiveExecutionForMessage(ctx, flowSID, conversationSID, contact)
}

// AppendStep implements [store.Tx].
func (s *Store) AppendStep(ctx context.Context, st store.Step) (store.Step, error) {
	return s.direct.AppendStep(ctx, st)
}

// ListSteps implements [store.Tx].
func (s *Store) ListSteps(ctx context.Context, executionSID string, p store.PageParams) (store.StepPage, error) {
	return s.direct.ListSteps(ctx, executionSID, p)
}

// GetStep implements [store.Tx].
func (s *Store) GetStep(ctx context.Context, sid string) (store.Step, error) {
	return s.direct.GetStep(ctx, sid)
}

// GetStepContext implements [store.Tx].
func (s *Store) GetStepContext(ctx context.Context, sid string) (json.RawMessage, error) {
	return s.direct.GetStepContext(ctx, sid)
}

// RecordEvent implements [store.Tx], in a transaction of its own: the
// queue's counter and the event commit together.
func (s *Store) RecordEvent(ctx context.Context, e store.Event) (store.Event, bool, error) {
	var dup bool
	ev, err := inTx(ctx, s, func(q *queries) (store.Event, error) {
		ev, d, err := q.RecordEvent(ctx, e)
		dup = d
		return ev, err
	})
	return ev, dup, err
}

// GetEvent implements [store.Tx].
func (s *Store) GetEvent(ctx context.Context, id int64) (store.Event, error) {
	return s.direct.GetEvent(ctx, id)
}

// NextPendingEvent implements [store.Tx].
func (s *Store) NextPendingEvent(ctx context.Context, conversationSID string) (store.Event, error) {
	return s.direct.NextPendingEvent(ctx, conversationSID)
}

// MarkEventDone implements [store.Tx].
func (s *Store) MarkEventDone(ctx context.Context, id int64, outcome json.RawMessage, doneTime time.Time) error {
	return s.direct.MarkEventDone(ctx, id, outcome, doneTime)
}

// PendingConversations implements [store.Tx].
func (s *Store) PendingConversations(ctx context.Context, limit int) ([]string, error) {
	return s.direct.PendingConversations(ctx, limit)
}

// DeleteDoneEvents implements [store.Tx].
func (s *Store) DeleteDoneEvents(ctx context.Context, receivedBefore time.Time) (int, error) {
	return s.direct.DeleteDoneEvents(ctx, receivedBefore)
}

// AcquireLease implements [store.Tx].
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (store.Lease, error) {
	return s.direct.AcquireLease(ctx, name, owner, now, ttl)
}

// RenewLease implements [store.Tx].
func (s *Store) RenewLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (store.Lease, error) {
	return s.direct.RenewLease(ctx, name, owner, now, ttl)
}

// ReleaseLease implements [store.Tx].
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.direct.ReleaseLease(ctx, name, owner)
}

// SettleLease implements [store.Tx].
func (s *Store) SettleLease(ctx context.Context, name, owner, conversationSID string, now time.Time, ttl time.Duration) (bool, error) {
	return s.direct.SettleLease(ctx, name, owner, conversationSID, now, ttl)
}

// RenewLeases implements [store.Tx].
func (s *Store) RenewLeases(ctx context.Context, owner string, names []string, now time.Time, ttl time.Duration) ([]string, error) {
	return s.direct.RenewLeases(ctx, owner, names, now, ttl)
}

// ExpireLeases implements [store.Tx].
func (s *Store) ExpireLeases(ctx context.Context, owner string, now time.Time) (int, error) {
	return s.direct.ExpireLeases(ctx, owner, now)
}

// OrphanedConversations implements [store.Tx].
func (s *Store) OrphanedConversations(ctx context.Context, leasePrefix string, now time.Time, limit int) ([]string, error) {
	return s.direct.OrphanedConversations(ctx, leasePrefix, now, limit)
}

// Notify implements [store.Tx]; outside InTx the announcement is delivered
// at once.
func (s *Store) Notify(ctx context.Context, conversationSID string) error {
	return s.direct.Notify(ctx, conversationSID)
}

// ExtendTimerClaims implements [store.Tx].
func (s *Store) ExtendTimerClaims(ctx context.Context, owner string, ids []int64, now time.Time, ttl time.Duration) ([]int64, error) {
	return s.direct.ExtendTimerClaims(ctx, owner, ids, now, ttl)
}

// ScheduleTimer implements [store.Tx].
func (s *Store) ScheduleTimer(ctx context.Context, t store.Timer) (store.Timer, error) {
	return s.direct.ScheduleTimer(ctx, t)
}

// CancelTimers implements [store.Tx].
func (s *Store) CancelTimers(ctx context.Context, executionSID, kind string) (int, error) {
	return s.direct.CancelTimers(ctx, executionSID, kind)
}

// ClaimDueTimers implements [store.Tx].
func (s *Store) ClaimDueTimers(ctx context.Context, p store.ClaimTimersParams) ([]store.Timer, error) {
	return s.direct.ClaimDueTimers(ctx, p)
}

// DeleteTimer implements [store.Tx].
func (s *Store) DeleteTimer(ctx context.Context, id int64, owner string) error {
	return s.direct.DeleteTimer(ctx, id, owner)
}

// RecordSend implements [store.Tx].
func (s *Store) RecordSend(ctx context.Context, snd store.Send) (store.Send, error) {
	return s.direct.RecordSend(ctx, snd)
}

// DeleteSends implements [store.Tx].
func (s *Store) DeleteSends(ctx context.Context, keys []string) (int, error) {
	return s.direct.DeleteSends(ctx, keys)
}

// GetSend implements [store.Tx].
func (s *Store) GetSend(ctx context.Context, key string) (store.Send, error) {
	return s.direct.GetSend(ctx, key)
}

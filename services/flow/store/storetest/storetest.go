// Package storetest is the conformance suite for [store.Store]
// implementations: every backend runs it from its own tests,
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB) store.Store { return openTestStore(tb) })
//	}
//
// and the suite checks the behaviour the store package documents: paging,
// test users and the revision they choose for a contact, uniqueness of
// active executions, optimistic concurrency, idempotent event recording,
// per-conversation order, lease exclusivity and takeover, timer claims by
// concurrent owners, heartbeats and hand-backs, announcements, and
// transactions. The factory must return an empty store and close it with
// tb.Cleanup.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"

	"github.com/google/go-cmp/cmp"
)

// Factory returns a new, empty store that tb cleans up.
type Factory func(tb testing.TB) store.Store

// Run runs the whole conformance suite against stores from newStore.
func Run(t *testing.T, newStore Factory) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"flow_create_get", testFlowCreateGet},
		{"flow_create_invalid", testFlowCreateInvalid},
		{"flow_update_revisions", testFlowUpdateRevisions},
		{"flow_update_conflicts", testFlowUpdateConflicts},
		{"flow_list_paging", testFlowListPaging},
		{"flow_delete_cascades", testFlowDeleteCascades},
		{"flow_test_users", testFlowTestUsers},
		{"flow_revision_for_contact", testRevisionForContact},
		{"execution_create_get", testExecutionCreateGet},
		{"execution_create_invalid", testExecutionCreateInvalid},
		{"execution_one_active_per_conversation", testExecutionActivePerConversation},
		{"execution_one_active_per_contact", testExecutionActivePerContact},
		{"execution_update_optimistic", testExecutionUpdate},
		{"execution_update_concurrent", testExecutionUpdateConcurrent},
		{"execution_list_filters_paging", testExecutionList},
		{"execution_delete_cascades", testExecutionDelete},
		{"step_append_list_get", testSteps},
		{"event_record_dedupe", testEventDedupe},
		{"event_order_per_conversation", testEventOrder},
		{"event_record_concurrent", testEventConcurrent},
		{"event_delete_done", testEventDeleteDone},
		{"lease_lifecycle", testLeaseLifecycle},
		{"lease_settle", testSettleLease},
		{"lease_exclusive_concurrent", testLeaseConcurrent},
		{"timer_schedule_claim_delete", testTimers},
		{"timer_claim_two_owners_concurrent", testTimerClaimConcurrent},
		{"lease_renew_many", testLeaseRenewMany},
		{"lease_takeover_concurrent", testLeaseTakeoverConcurrent},
		{"lease_expire_owner", testExpireLeases},
		{"conversations_orphaned", testOrphanedConversations},
		{"timer_extend_claims", testTimerExtendClaims},
		{"notify", testNotify},
		{"send_record_get", testSends},
		{"tx_commit_rollback", testTx},
		{"tx_engine_step", testTxEngineStep},
		{"tx_concurrent_isolation", testTxConcurrent},
		{"tx_deferred_writes", testDeferredWrites},
		{"tx_deferred_executions", testDeferredExecutions},
		{"tx_deferred_failure", testDeferredFailure},
		{"times_round_trip_utc", testTimes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// sidCounter makes SIDs unique across the whole suite, so a test that
// forgets to use its own store still cannot collide by accident.
var sidCounter atomic.Uint64

func newSID(prefix string) string {
	return fmt.Sprintf("%s%032x", prefix, sidCounter.Add(1))
}

// t0 has microsecond precision, the store's: it must round-trip exactly.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)

func ctxOf(t *testing.T) context.Context { return t.Context() }

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

func newFlow(status store.FlowStatus) store.Flow {
	return store.Flow{
		SID:           newSID(store.PrefixFlow),
		FriendlyName:  "Support",
		Status:        status,
		Definition:    json.RawMessage(`{"description":"Support","states":[{"name":"Trigger","type":"trigger","transitions":[],"properties":{}}],"initial_state":"Trigger","flags":{"allow_concurrent_calls":true}}`),
		CommitMessage: "first",
		Valid:         true,
		Errors:        json.RawMessage(`[]`),
		Warnings:      json.RawMessage(`[{"property_path":"#/states/0","message":"unused"}]`),
		CreateTime:    t0,
		UpdateTime:    t0,
	}
}

func createFlow(t *testing.T, s store.Store, status store.FlowStatus) store.Flow {
	t.Helper()
	return must[store.Flow](t)(s.CreateFlow(ctxOf(t), newFlow(status)))
}

func newExecution(f store.Flow, conversation, contact string) store.Execution {
	return store.Execution{
		SID:                   newSID(store.PrefixExecution),
		FlowSID:               f.SID,
		FlowRevision:          f.Revision,
		ContactChannelAddress: contact,
		ConversationSID:       conversation,
		Status:                store.ExecutionStatusActive,
		State:                 json.RawMessage(`{"current":"Trigger","waiting":false}`),
		Context:               json.RawMessage(`{"flow":{"flow_sid":"` + f.SID + `"},"trigger":{},"widgets":{}}`),
		CreateTime:            t0,
		UpdateTime:            t0,
	}
}

func createExecution(t *testing.T, s store.Store, f store.Flow, conversation, contact string) store.Execution {
	t.Helper()
	return must[store.Execution](t)(s.CreateExecution(ctxOf(t), newExecution(f, conversation, contact)))
}

func newConversationSID() string { return newSID("CH") }

// flowWithExecution is the common fixture: a published flow and one active
// conversation execution.
func flowWithExecution(t *testing.T, s store.Store) (store.Flow, store.Execution) {
	t.Helper()
	f := createFlow(t, s, store.FlowStatusPublished)
	return f, createExecution(t, s, f, newConversationSID(), "+15550100")
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

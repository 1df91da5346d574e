package store

import (
	"context"
	"encoding/json"
	"time"
)

// Tx is everything the store can do. [Store] offers it directly, each call
// its own transaction, and inside [Store.InTx], where all calls commit or
// roll back together.
type Tx interface {
	// CreateFlow stores a new flow as revision 1 (f.Revision is ignored) and
	// returns it as stored. ErrAlreadyExists when the SID is taken.
	CreateFlow(ctx context.Context, f Flow) (Flow, error)
	// GetFlow returns the flow's latest revision.
	GetFlow(ctx context.Context, sid string) (Flow, error)
	// ListFlows returns flows, latest revision each, oldest flow first.
	ListFlows(ctx context.Context, p PageParams) (FlowPage, error)
	// UpdateFlow saves u as the flow's next revision and returns it.
	UpdateFlow(ctx context.Context, u FlowUpdate) (Flow, error)
	// DeleteFlow deletes the flow with all its revisions, executions (and
	// their steps, timers and sends) and queued events, as Studio deletes a
	// flow's executions with it.
	DeleteFlow(ctx context.Context, sid string) error
	// ListFlowRevisions returns the flow's revisions, newest first.
	// ErrNotFound when the flow does not exist.
	ListFlowRevisions(ctx context.Context, flowSID string, p PageParams) (FlowPage, error)
	// GetFlowRevision returns one revision by number.
	GetFlowRevision(ctx context.Context, flowSID string, revision int) (Flow, error)
	// GetLatestPublishedRevision returns the newest published revision, the
	// one live traffic runs; ErrNotFound when none was ever published.
	GetLatestPublishedRevision(ctx context.Context, flowSID string) (Flow, error)
	// GetLatestRevision returns the newest revision, draft or published.
	GetLatestRevision(ctx context.Context, flowSID string) (Flow, error)
	// GetRevisionForContact returns the revision a new execution for
	// p.Contact runs (studio.md §6.1): the newest revision, draft or
	// published, when the contact is one of the test users of
	// p.TestUsersOf, and the newest published revision otherwise.
	// ErrNotFound when the flow does not exist or has no revision for the
	// contact (it was never published and the contact is no test user).
	// It is one query: every new execution asks it.
	GetRevisionForContact(ctx context.Context, p RevisionForContactParams) (Flow, error)
	// GetFlowTestUsers returns the flow's test users in the order they
	// were set, nil when it has none. ErrNotFound when the flow does not
	// exist.
	GetFlowTestUsers(ctx context.Context, flowSID string) ([]string, error)
	// SetFlowTestUsers replaces the flow's test users with users (none
	// clears them). They belong to the flow, not to a revision: UpdateFlow
	// keeps them and DeleteFlow deletes them. ErrNotFound when the flow
	// does not exist; ErrInvalidArgument for an identity CheckTestUsers
	// refuses.
	SetFlowTestUsers(ctx context.Context, flowSID string, users []string) error

	// CreateExecution stores a new execution (Version 1). ErrNotFound when
	// the flow revision does not exist; *ActiveExecutionError when e is
	// active and its flow already has an active execution for the same
	// conversation or, for REST executions, the same contact;
	// ErrAlreadyExists when the SID is taken.
	CreateExecution(ctx context.Context, e Execution) (Execution, error)
	GetExecution(ctx context.Context, sid string) (Execution, error)
	// ListExecutions returns a flow's executions, newest first. A flow
	// without executions (or that does not exist) gives an empty page.
	ListExecutions(ctx context.Context, p ListExecutionsParams) (ExecutionPage, error)
	// UpdateExecution applies u if the stored version is u.Version and
	// returns the execution with its new version. ErrConflict on a version
	// mismatch; ErrInvalidArgument when u would reactivate an ended
	// execution.
	UpdateExecution(ctx context.Context, u ExecutionUpdate) (Execution, error)
	// DeleteExecution deletes an execution with its steps, timers and sends.
	DeleteExecution(ctx context.Context, sid string) error
	// FindActiveExecutionByConversation returns the flow's active execution
	// in the conversation, or ErrNotFound.
	FindActiveExecutionByConversation(ctx context.Context, flowSID, conversationSID string) (Execution, error)
	// FindActiveExecutionByContact returns the flow's active REST execution
	// (no conversation) for the contact, or ErrNotFound.
	FindActiveExecutionByContact(ctx context.Context, flowSID, contactChannelAddress string) (Execution, error)
	// FindActiveExecutionForMessage returns the execution a message in the
	// conversation from the contact goes to: the flow's active execution in
	// the conversation, or else its active REST execution for the contact
	// (none is looked for when contact is empty); ErrNotFound when there
	// is neither. It is the two Find methods above in one query, which
	// every inbound message asks.
	FindActiveExecutionForMessage(ctx context.Context, flowSID, conversationSID, contact string) (Execution, error)

	// AppendStep adds a step to an execution and returns it with its
	// sequence, and with the execution's flow as its FlowSID when it had
	// none. ErrNotFound when the execution does not exist;
	// ErrAlreadyExists when the SID or an explicit sequence is taken.
	AppendStep(ctx context.Context, s Step) (Step, error)
	// ListSteps returns an execution's steps in sequence order. ErrNotFound
	// when the execution does not exist.
	ListSteps(ctx context.Context, executionSID string, p PageParams) (StepPage, error)
	// GetStep returns one step.
	GetStep(ctx context.Context, sid string) (Step, error)
	// GetStepContext returns one step's context alone.
	GetStepContext(ctx context.Context, sid string) (json.RawMessage, error)

	// RecordEvent appends e to its conversation's queue as pending, unless
	// it is a redelivery (same flow and message SID, or same flow and
	// idempotency token): then it records nothing and returns the original
	// event (with its status and outcome) and duplicate = true. ErrNotFound
	// when the flow does not exist.
	RecordEvent(ctx context.Context, e Event) (ev Event, duplicate bool, err error)
	// GetEvent returns one event by ID.
	GetEvent(ctx context.Context, id int64) (Event, error)
	// NextPendingEvent returns the conversation's pending event with the
	// lowest sequence, or ErrNotFound when its queue is drained. An event
	// stays at the head until MarkEventDone, so a crash mid-processing
	// retries it.
	NextPendingEvent(ctx context.Context, conversationSID string) (Event, error)
	// MarkEventDone records the event's outcome and takes it off its queue.
	// ErrConflict when it is already done. The payload is dropped: a done
	// event is kept only to recognise redeliveries (by its message SID and
	// idempotency token) and to answer with its outcome.
	MarkEventDone(ctx context.Context, id int64, outcome json.RawMessage, doneTime time.Time) error
	// PendingConversations lists conversations with pending events, the one
	// with the oldest pending event first (what a replica scans after a
	// restart); limit 0 means 100.
	PendingConversations(ctx context.Context, limit int) ([]string, error)
	// DeleteDoneEvents deletes done events received before the given time
	// and returns how many. Redeliveries of a deleted event are no longer
	// detected, so keep events longer than Twilio retries (hours).
	DeleteDoneEvents(ctx context.Context, receivedBefore time.Time) (int, error)

	// AcquireLease takes the named lease for owner until now+ttl: when it is
	// free, expired, or already the owner's (then it is extended). The
	// lease's TakenFrom names the previous owner when an expired lease of
	// another owner was taken over. *LeaseHeldError (ErrConflict) when
	// another owner holds it.
	AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (Lease, error)
	// RenewLease extends owner's lease to now+ttl. *LeaseHeldError when
	// another owner holds it (it expired and was taken over); ErrNotFound
	// when there is none.
	RenewLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (Lease, error)
	// ReleaseLease gives up owner's lease. Releasing a lease that does not
	// exist is not an error; *LeaseHeldError when another owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
	// SettleLease ends a commit of owner's work on a conversation's queue:
	// while an event of conversationSID is still pending it extends the
	// lease to now+ttl, as RenewLease, and reports false; when none is
	// left it releases it, as ReleaseLease, and reports true. Either way
	// the commit fails unless owner still holds the lease: *LeaseHeldError
	// when another owner holds it, ErrNotFound when there is none. The
	// runner's worker ends every event's commit with it, so it is one
	// statement where the store can make it one.
	SettleLease(ctx context.Context, name, owner, conversationSID string, now time.Time, ttl time.Duration) (released bool, err error)
	// RenewLeases extends, in one statement, those of owner's leases among
	// names to now+ttl (a replica's heartbeat) and returns the names it
	// extended, in no particular order. A name missing from the result is
	// no longer owner's: released, or expired and taken over. An expired
	// lease nobody took over is still owner's to renew, as with RenewLease.
	RenewLeases(ctx context.Context, owner string, names []string, now time.Time, ttl time.Duration) ([]string, error)
	// ExpireLeases ends every lease and timer claim of owner at now, and
	// keeps their records, so whoever takes one next learns that it takes
	// over from owner (Lease.TakenFrom, Timer.Claims). A replica that stops
	// hands its work back this way, without making the others wait for
	// its leases to run out. It returns how many leases and claims it
	// ended.
	ExpireLeases(ctx context.Context, owner string, now time.Time) (int, error)
	// OrphanedConversations lists the conversations with pending events
	// whose lease, named leasePrefix followed by the conversation SID, is
	// free or expired at now: the queues no live replica works on. The one
	// with the oldest pending event comes first; limit 0 means 100.
	OrphanedConversations(ctx context.Context, leasePrefix string, now time.Time, limit int) ([]string, error)
	// Notify announces to the replicas listening through [Listener], once
	// the transaction commits (never when it rolls back), that the
	// conversation has work no replica may be doing, or for an empty
	// conversationSID that timers were handed back. Stores without push
	// (SQLite) do nothing: their replicas find such work by polling.
	Notify(ctx context.Context, conversationSID string) error

	// ScheduleTimer stores t, replacing the execution's timer of the same
	// kind (and dropping any claim on it), and returns it with its ID.
	// ErrNotFound when the execution does not exist.
	ScheduleTimer(ctx context.Context, t Timer) (Timer, error)
	// CancelTimers deletes the execution's timers of the kind (every kind
	// when kind is empty) and returns how many.
	CancelTimers(ctx context.Context, executionSID, kind string) (int, error)
	// ClaimDueTimers atomically claims up to p.Limit due timers that are
	// unclaimed or whose claim expired, earliest first. Two concurrent
	// claimers never receive the same timer while a claim lasts.
	ClaimDueTimers(ctx context.Context, p ClaimTimersParams) ([]Timer, error)
	// ExtendTimerClaims extends owner's claims on the timers with the given
	// IDs to now+ttl and returns the IDs it extended, in no particular
	// order. A missing ID is no longer owner's: deleted, replaced, or
	// claimed by another owner after owner's claim expired.
	ExtendTimerClaims(ctx context.Context, owner string, ids []int64, now time.Time, ttl time.Duration) ([]int64, error)
	// DeleteTimer deletes a timer after it fired. owner must be the current
	// claimer (ErrConflict otherwise: the claim expired and another owner
	// took it); ErrNotFound when it is gone (cancelled or replaced).
	DeleteTimer(ctx context.Context, id int64, owner string) error

	// RecordSend records a side effect's result under s.Key. ErrAlreadyExists
	// when the key is taken; ErrNotFound when the execution does not exist.
	RecordSend(ctx context.Context, s Send) (Send, error)
	// GetSend returns the send recorded under key, or ErrNotFound.
	GetSend(ctx context.Context, key string) (Send, error)
	// DeleteSends deletes the sends recorded under the keys, skipping keys
	// with none, and returns how many it deleted. A send record is only
	// needed until the attempt that made it commits (FlowService deletes
	// them in that commit), so parked executions keep none.
	DeleteSends(ctx context.Context, keys []string) (int, error)

	// Deferred writes. Each is the write of the same name without the
	// results a caller needs before its transaction commits. Inside
	// [Store.InTx] a store may hold it back and send it with the
	// transaction's next statement, or with its COMMIT: PostgreSQL then
	// sends a commit's writes together, in one round trip, rather than
	// one each. So:
	//
	//   - the writes of a transaction still run in call order, before any
	//     later statement of it, which sees them;
	//   - a deferred write that fails fails its transaction, whether or
	//     not fn saw the error: InTx rolls everything back and returns
	//     the write's error (fn's own error, if fn returned one). The call
	//     itself returns nil when the write was held back, and the error
	//     at once when it ran at once;
	//   - what a deferred write reports (through its arguments) is set
	//     once InTx returned nil, and unspecified otherwise.
	//
	// Outside InTx each runs at once, as its own transaction.

	// CreateExecutionLater is CreateExecution, reporting through out;
	// where CreateExecution would try again because what was in its way
	// went away meanwhile (an active execution that a concurrent
	// transaction created and ended), it may fail with ErrConflict.
	CreateExecutionLater(ctx context.Context, e Execution, out *Execution) error
	// UpdateExecutionLater is UpdateExecution, reporting through out.
	UpdateExecutionLater(ctx context.Context, u ExecutionUpdate, out *Execution) error
	// AppendStepsLater is AppendStep for each of steps, in order, and
	// updates them in place with what AppendStep returns.
	AppendStepsLater(ctx context.Context, steps []Step) error
	// MarkEventDoneLater is MarkEventDone.
	MarkEventDoneLater(ctx context.Context, id int64, outcome json.RawMessage, doneTime time.Time) error
	// SettleLeaseLater is SettleLease, reporting through settled. Its
	// failure wraps ErrLeaseLost besides SettleLease's error, so the
	// caller can tell a lost lease from another deferred write's failure.
	SettleLeaseLater(ctx context.Context, name, owner, conversationSID string, now time.Time, ttl time.Duration, settled *LeaseSettlement) error
	// ScheduleTimerLater is ScheduleTimer, without the timer's ID.
	ScheduleTimerLater(ctx context.Context, t Timer) error
	// CancelTimersLater is CancelTimers, without the count.
	CancelTimersLater(ctx context.Context, executionSID, kind string) error
	// AcquireLeaseLater is AcquireLease, reporting through lease, except
	// that a lease another owner holds is no failure: lease is then the
	// zero Lease.
	AcquireLeaseLater(ctx context.Context, name, owner string, now time.Time, ttl time.Duration, lease *Lease) error
}

// LeaseSettlement is what SettleLeaseLater reports.
type LeaseSettlement struct {
	// Released is SettleLease's result: no event was pending, and the
	// lease is given back.
	Released bool
	// PendingAfter, when Released, says whether an event of the
	// conversation may have been pending once the transaction committed:
	// one that another replica recorded meanwhile, finding the lease
	// still held, and left to its holder. False means a look after the
	// commit found none; a store that does not look reports true.
	PendingAfter bool
}

// Store is a FlowService backend.
type Store interface {
	Tx
	// InTx runs fn in one transaction: everything fn does commits together
	// when it returns nil, and rolls back when it returns an error (returned
	// unchanged) or panics. The commit is durable when InTx returns. A store
	// error inside fn (say ErrAlreadyExists) does not doom the transaction:
	// fn may handle it and go on.
	//
	// fn must not retain tx, must not call the Store itself (only tx), and
	// should do nothing slow besides: writers take turns, so network I/O
	// inside fn (sending a message) delays every other writer. Do I/O
	// before or after, and record its result with RecordSend.
	InTx(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the store's resources.
	Close() error
}

// Listener is implemented by stores that push [Tx.Notify] announcements to
// every replica (PostgreSQL, with LISTEN/NOTIFY).
type Listener interface {
	// Listen calls fn with the conversation SID of every announcement any
	// replica commits ("" when timers were handed back) until ctx ends,
	// and then returns ctx's error. It reconnects after failures;
	// announcements made while it is not connected are lost, so listeners
	// poll as well.
	Listen(ctx context.Context, fn func(conversationSID string)) error
}

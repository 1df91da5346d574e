package store

import (
	"encoding/json"
	"time"
)

// SID prefixes of the records the store keeps (Studio's).
const (
	PrefixFlow      = "FW"
	PrefixExecution = "FN"
	PrefixStep      = "FT"
)

// FlowStatus is a flow's (or revision's) status: only published revisions
// serve live traffic.
type FlowStatus string

// Flow statuses, spelled as Studio spells them.
const (
	FlowStatusDraft     FlowStatus = "draft"
	FlowStatusPublished FlowStatus = "published"
)

// Valid reports whether s is a known status.
func (s FlowStatus) Valid() bool { return s == FlowStatusDraft || s == FlowStatusPublished }

// Flow is a flow as of one revision. The store keeps every revision; a Flow
// read through GetFlow or ListFlows is the latest revision, one read through
// GetFlowRevision is the requested one.
type Flow struct {
	SID          string
	FriendlyName string
	Status       FlowStatus
	// Revision starts at 1 and grows by one with every update.
	Revision int
	// Definition is the Studio flow definition, kept byte for byte.
	Definition    json.RawMessage
	CommitMessage string
	Valid         bool
	// Errors and Warnings are the validation problems as JSON arrays (nil
	// when none were given).
	Errors   json.RawMessage
	Warnings json.RawMessage
	// CreateTime is when the flow (revision 1) was created; it is the same
	// on every revision.
	CreateTime time.Time
	// UpdateTime is when this revision was saved.
	UpdateTime time.Time
}

// FlowUpdate replaces a flow's content, which creates a new revision. Studio
// replaces the whole definition on update; merging optional fields is the
// caller's job.
type FlowUpdate struct {
	SID string
	// BaseRevision, when positive, makes the update conditional: it fails
	// with ErrConflict unless the flow's latest revision is still
	// BaseRevision (read-modify-write without lost updates).
	BaseRevision  int
	FriendlyName  string
	Status        FlowStatus
	Definition    json.RawMessage
	CommitMessage string
	Valid         bool
	Errors        json.RawMessage
	Warnings      json.RawMessage
	// UpdateTime is the new revision's time; zero means the store's clock.
	UpdateTime time.Time
}

// RevisionForContactParams asks which revision of a flow a contact's new
// execution runs.
type RevisionForContactParams struct {
	// FlowSID is the flow whose revision is returned.
	FlowSID string
	// Contact is the contact's address, matched exactly against the test
	// users ("+15551234567", "whatsapp:+15551234567", a chat identity).
	Contact string
	// TestUsersOf is the flow whose test users decide; empty means
	// FlowSID. A subflow runs the revision its parent's test users choose
	// (studio.md §2.3, run-subflow).
	TestUsersOf string
}

// PageParams selects one page of a list.
type PageParams struct {
	// PageSize is the maximum number of items; 0 means DefaultPageSize and
	// values above MaxPageSize are clamped to it.
	PageSize int
	// PageToken is the NextPageToken of the previous page, or empty for the
	// first page.
	PageToken string
}

// Page sizes, as Studio's list endpoints use them.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// FlowPage is one page of flows.
type FlowPage struct {
	Flows         []Flow
	NextPageToken string
}

// ExecutionStatus is an execution's status.
type ExecutionStatus string

// Execution statuses, spelled as Studio spells them.
const (
	ExecutionStatusActive ExecutionStatus = "active"
	ExecutionStatusEnded  ExecutionStatus = "ended"
)

// Valid reports whether s is a known status.
func (s ExecutionStatus) Valid() bool {
	return s == ExecutionStatusActive || s == ExecutionStatusEnded
}

// Ended reasons (project decision, studio.md §6.7). The store keeps any
// string; these are the values the service writes.
const (
	EndedReasonFlowEnd    = "FLOW_END"
	EndedReasonAPI        = "API"
	EndedReasonMaxSteps   = "MAX_STEPS"
	EndedReasonWidgetLoop = "WIDGET_LOOP"
	EndedReasonLifetime   = "LIFETIME"
	EndedReasonError      = "ERROR"
)

// Execution is one run of a flow revision for one conversation (started by
// an inbound conversation message) or one contact (started through the REST
// trigger, ConversationSID empty).
//
// At most one execution per (FlowSID, ConversationSID) is active among
// conversation executions, and at most one per (FlowSID,
// ContactChannelAddress) among REST executions; the database enforces both.
type Execution struct {
	SID                   string
	FlowSID               string
	FlowRevision          int
	ContactChannelAddress string
	ConversationSID       string
	Status                ExecutionStatus
	EndedReason           string
	// State is the engine's serialised execution state, opaque to the store.
	State json.RawMessage
	// Context is the execution context Studio exposes (flow, trigger,
	// widgets), as JSON.
	Context json.RawMessage
	// Version starts at 1 and grows by one with every update; UpdateExecution
	// takes the version it read to detect concurrent writers.
	Version    int64
	CreateTime time.Time
	UpdateTime time.Time
}

// ExecutionUpdate replaces an execution's mutable fields if its version is
// still Version.
type ExecutionUpdate struct {
	SID string
	// Version is the version the caller read; a different stored version
	// fails the update with ErrConflict.
	Version     int64
	Status      ExecutionStatus
	EndedReason string
	State       json.RawMessage
	Context     json.RawMessage
	// UpdateTime zero means the store's clock.
	UpdateTime time.Time
}

// ListExecutionsParams filters and pages the executions of one flow.
type ListExecutionsParams struct {
	FlowSID string
	// Status, when set, keeps only executions with that status.
	Status ExecutionStatus
	// CreatedFrom and CreatedTo, when non-zero, keep executions created in
	// [CreatedFrom, CreatedTo] (both inclusive, as Studio's
	// DateCreatedFrom/DateCreatedTo).
	CreatedFrom time.Time
	CreatedTo   time.Time
	PageParams
}

// ExecutionPage is one page of executions.
type ExecutionPage struct {
	Executions    []Execution
	NextPageToken string
}

// Step is one transition of an execution. Steps are append-only.
type Step struct {
	SID          string
	ExecutionSID string
	// Sequence orders the steps of one execution, from 1. AppendStep assigns
	// the next number when it is 0.
	Sequence int64
	// Name is the event that caused the transition (e.g. incomingRequest).
	Name             string
	TransitionedFrom string
	TransitionedTo   string
	// Type is the widget type of the executed widget.
	Type string
	// Context is the step context (the widget's output), as JSON.
	Context    json.RawMessage
	CreateTime time.Time
	// FlowSID is the flow whose widget ran: the execution's flow, or the
	// subflow's inside a Run Subflow widget. Empty means the execution's.
	FlowSID string
	// ParentStepSID is set on steps inside a subflow: the parent flow's
	// step that entered the Run Subflow widget.
	ParentStepSID string
}

// StepPage is one page of steps.
type StepPage struct {
	Steps         []Step
	NextPageToken string
}

// EventStatus is the processing state of an inbound event.
type EventStatus string

// Event statuses.
const (
	EventStatusPending EventStatus = "pending"
	EventStatusDone    EventStatus = "done"
)

// Event is an inbound conversation event (an onMessageAdded delivery),
// recorded durably before the delivery is acknowledged and processed later,
// strictly in arrival order per conversation.
type Event struct {
	// ID is assigned by RecordEvent and identifies the event store-wide.
	ID int64
	// ConversationSID names the queue the event joins; required.
	ConversationSID string
	// Sequence is the event's position in its conversation's queue, from 1,
	// assigned by RecordEvent without gaps or repeats: 1 is the first event
	// ever recorded in the conversation, so none is ahead of it.
	Sequence int64
	FlowSID  string
	// MessageSID and IdempotencyToken identify redeliveries: an event with
	// the same (FlowSID, MessageSID) or the same (FlowSID,
	// IdempotencyToken) is a duplicate. Either may be empty, not both.
	MessageSID       string
	IdempotencyToken string
	// Payload is the event as received, as JSON.
	Payload json.RawMessage
	Status  EventStatus
	// Outcome is what processing produced (e.g. the execution it started or
	// resumed), set by MarkEventDone; opaque JSON.
	Outcome     json.RawMessage
	ReceiveTime time.Time
	// DoneTime is zero while the event is pending.
	DoneTime time.Time
}

// Lease gives one owner exclusive use of a named resource (e.g. a
// conversation's event queue) until ExpireTime. Owners renew before expiry;
// once expired, anyone may take it over.
type Lease struct {
	Name       string
	Owner      string
	ExpireTime time.Time
	// TakenFrom is set by AcquireLease when it took over another owner's
	// expired lease: that owner may have died half-way through the work
	// the lease guards, and the new owner cannot know how far it got.
	TakenFrom string
}

// Timer kinds the service schedules. The store keeps any non-empty kind.
const (
	TimerKindWaitTimeout = "wait_timeout"
	TimerKindLifetime    = "lifetime"
)

// Timer fires at FireTime for an execution. There is at most one timer per
// (ExecutionSID, Kind): scheduling again replaces it.
type Timer struct {
	// ID is assigned by ScheduleTimer.
	ID           int64
	ExecutionSID string
	Kind         string
	FireTime     time.Time
	// Payload is the caller's data (e.g. the waiting widget), opaque JSON.
	Payload json.RawMessage
	// ClaimOwner and ClaimExpireTime are set by ClaimDueTimers; empty and
	// zero while unclaimed.
	ClaimOwner      string
	ClaimExpireTime time.Time
	// Claims counts the claims on the timer, the current one included;
	// more than one means an earlier claimer may have fired it half-way.
	Claims     int
	CreateTime time.Time
}

// ClaimTimersParams asks for due timers.
type ClaimTimersParams struct {
	// Now is the claimer's clock: timers with FireTime <= Now are due, and
	// claims with ClaimExpireTime <= Now have expired.
	Now time.Time
	// Owner identifies the claimer (e.g. the replica's ID).
	Owner string
	// LeaseDuration is how long the claim keeps other owners away; a timer
	// not deleted within it is claimed again.
	LeaseDuration time.Duration
	// Limit caps the batch; 0 means 100.
	Limit int
}

// Send is the recorded result of one side effect (a message posted, a
// function called), under a key the caller derives from the execution and
// step, so a retried step finds it instead of sending twice.
type Send struct {
	Key          string
	ExecutionSID string
	// Result is the side effect's result (e.g. the created message), JSON.
	Result     json.RawMessage
	CreateTime time.Time
}

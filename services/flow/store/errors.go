package store

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Implementations wrap them with %w together with the
// identifier involved, so messages stay specific while callers branch with
// errors.Is.
var (
	// ErrNotFound: the addressed record does not exist (or no longer exists).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write lost a race or a precondition no longer holds:
	// a stale execution version or flow base revision, a lease held by
	// another owner, a timer claimed by another owner, an event already done.
	ErrConflict = errors.New("conflict")
	// ErrAlreadyExists: a record with the same identity already exists
	// (a SID, a send key, a step sequence, or an active execution, see
	// [ActiveExecutionError]).
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: the caller passed a record the store refuses to
	// keep (a malformed SID, an unknown status, JSON that does not parse, a
	// bad page token).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrLeaseLost: the owner no longer holds the lease a deferred
	// SettleLeaseLater settles (it also wraps the *LeaseHeldError or the
	// ErrNotFound that SettleLease returns).
	ErrLeaseLost = errors.New("lease lost")
)

// ActiveExecutionError reports that a flow already has an active execution
// for the same conversation (conversation executions) or the same contact
// (REST executions). It matches ErrAlreadyExists with errors.Is, and carries
// the conflicting execution's SID, which Studio returns as
// details.conflicting_execution_sid with its 409 / 20409.
type ActiveExecutionError struct {
	FlowSID string
	// ConversationSID is set when the conflict is on a conversation.
	ConversationSID string
	// ContactChannelAddress is set when the conflict is on a REST contact.
	ContactChannelAddress string
	// ExecutionSID is the SID of the execution that is already active.
	ExecutionSID string
}

func (e *ActiveExecutionError) Error() string {
	if e.ConversationSID != "" {
		return fmt.Sprintf("execution %s of flow %s is already active for conversation %s", e.ExecutionSID, e.FlowSID, e.ConversationSID)
	}
	return fmt.Sprintf("execution %s of flow %s is already active for contact %q", e.ExecutionSID, e.FlowSID, e.ContactChannelAddress)
}

// Unwrap makes errors.Is(err, ErrAlreadyExists) true.
func (e *ActiveExecutionError) Unwrap() error { return ErrAlreadyExists }

// LeaseHeldError reports that a lease is held by another owner until
// ExpireTime. It matches ErrConflict with errors.Is.
type LeaseHeldError struct {
	Name       string
	Owner      string
	ExpireTime time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("lease %q is held by %q until %s", e.Name, e.Owner, e.ExpireTime.Format(time.RFC3339Nano))
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *LeaseHeldError) Unwrap() error { return ErrConflict }

// RefusedUpdate says why an UpdateExecution whose conditional write changed
// nothing was refused, from the row's current version and status read
// after it: a stale version, an ended execution made active again, or
// (when neither holds any more) a concurrent change between the two.
// Every store words the refusal the same way through it.
func RefusedUpdate(u ExecutionUpdate, version int64, status ExecutionStatus) error {
	switch {
	case version != u.Version:
		return fmt.Errorf("execution %s is at version %d, not %d: %w", u.SID, version, u.Version, ErrConflict)
	case status == ExecutionStatusEnded && u.Status == ExecutionStatusActive:
		return fmt.Errorf("execution %s has ended and cannot become active again: %w", u.SID, ErrInvalidArgument)
	default:
		return fmt.Errorf("execution %s changed concurrently: %w", u.SID, ErrConflict)
	}
}

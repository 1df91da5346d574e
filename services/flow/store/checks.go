package store

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The checks below are what every implementation refuses before it writes,
// so that a record one store accepts is one every store accepts: a flow
// saved on SQLite can move to PostgreSQL, and the conformance suite sees
// one behaviour.

// CheckText returns an ErrInvalidArgument error for a value that is not
// valid UTF-8 or holds a NUL byte. PostgreSQL's text refuses both, and
// refusing them up front keeps a bad value from failing a statement, which
// would abort the caller's transaction.
func CheckText(what string, values ...string) error {
	for _, v := range values {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("%s %q: not valid UTF-8 text: %w", what, v, ErrInvalidArgument)
		}
	}
	return nil
}

// CheckFlowContent checks what a caller may set on a flow or its next
// revision: status, name, commit message and the three JSON documents.
func CheckFlowContent(status FlowStatus, f Flow) error {
	if !status.Valid() {
		return fmt.Errorf("flow status %q: want draft or published: %w", status, ErrInvalidArgument)
	}
	if f.FriendlyName == "" {
		return fmt.Errorf("flow friendly name is empty: %w", ErrInvalidArgument)
	}
	if err := CheckText("flow friendly name or commit message", f.FriendlyName, f.CommitMessage); err != nil {
		return err
	}
	if err := CheckJSON("flow definition", f.Definition); err != nil {
		return err
	}
	if err := CheckJSON("flow errors", f.Errors); err != nil {
		return err
	}
	return CheckJSON("flow warnings", f.Warnings)
}

// CheckExecutionContent checks what a caller may set on an execution as it
// runs: status, ended reason, state and context.
func CheckExecutionContent(status ExecutionStatus, e Execution) error {
	if !status.Valid() {
		return fmt.Errorf("execution status %q: want active or ended: %w", status, ErrInvalidArgument)
	}
	if err := CheckText("execution ended reason", e.EndedReason); err != nil {
		return err
	}
	if err := CheckJSON("execution state", e.State); err != nil {
		return err
	}
	return CheckJSON("execution context", e.Context)
}

// CheckTestUsers checks a flow's test users before they are stored: an
// empty identity could match no contact, and a duplicate would make the
// list mean something other than the set it stands for.
func CheckTestUsers(users []string) error {
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		if u == "" {
			return fmt.Errorf("test user identity is empty: %w", ErrInvalidArgument)
		}
		if seen[u] {
			return fmt.Errorf("test user %q is listed twice: %w", u, ErrInvalidArgument)
		}
		seen[u] = true
	}
	return CheckText("test user", users...)
}

// CheckLease checks the arguments of taking or renewing a lease.
func CheckLease(name, owner string, now time.Time, ttl time.Duration) error {
	if now.IsZero() {
		return fmt.Errorf("lease %q: no current time given: %w", name, ErrInvalidArgument)
	}
	if name == "" || owner == "" {
		return fmt.Errorf("lease name and owner must be set (got %q, %q): %w", name, owner, ErrInvalidArgument)
	}
	if ttl <= 0 {
		return fmt.Errorf("lease %q: ttl %s is not positive: %w", name, ttl, ErrInvalidArgument)
	}
	return CheckText("lease name or owner", name, owner)
}

// CheckNewFlow checks a flow before it is created.
func CheckNewFlow(f Flow) error {
	if err := CheckSID("flow", PrefixFlow, f.SID); err != nil {
		return err
	}
	return CheckFlowContent(f.Status, f)
}

// CheckNewExecution checks an execution before it is created: it needs a
// conversation or a contact to belong to.
func CheckNewExecution(e Execution) error {
	if err := CheckSID("execution", PrefixExecution, e.SID); err != nil {
		return err
	}
	if err := CheckSID("flow", PrefixFlow, e.FlowSID); err != nil {
		return err
	}
	if err := CheckExecutionContent(e.Status, e); err != nil {
		return err
	}
	if e.ConversationSID == "" && e.ContactChannelAddress == "" {
		return fmt.Errorf("execution %s has neither a conversation nor a contact: %w", e.SID, ErrInvalidArgument)
	}
	return CheckText("execution conversation or contact", e.ConversationSID, e.ContactChannelAddress)
}

// CheckNewStep checks a step before it is appended.
func CheckNewStep(s Step) error {
	if err := CheckSID("step", PrefixStep, s.SID); err != nil {
		return err
	}
	if err := CheckJSON("step context", s.Context); err != nil {
		return err
	}
	if s.Sequence < 0 {
		return fmt.Errorf("step %s: sequence %d is negative: %w", s.SID, s.Sequence, ErrInvalidArgument)
	}
	if s.FlowSID != "" {
		if err := CheckSID("step's flow", PrefixFlow, s.FlowSID); err != nil {
			return err
		}
	}
	if s.ParentStepSID != "" {
		if err := CheckSID("parent step", PrefixStep, s.ParentStepSID); err != nil {
			return err
		}
	}
	return CheckText("step "+s.SID+" field", s.ExecutionSID, s.Name, s.TransitionedFrom, s.TransitionedTo, s.Type)
}

// CheckNewEvent checks an event before it is recorded. Without a message
// SID or an idempotency token a redelivery could not be recognised.
func CheckNewEvent(e Event) error {
	if e.ConversationSID == "" {
		return fmt.Errorf("event has no conversation SID: %w", ErrInvalidArgument)
	}
	if err := CheckSID("flow", PrefixFlow, e.FlowSID); err != nil {
		return err
	}
	if e.MessageSID == "" && e.IdempotencyToken == "" {
		return fmt.Errorf("event has neither a message SID nor an idempotency token: %w", ErrInvalidArgument)
	}
	if err := CheckJSON("event payload", e.Payload); err != nil {
		return err
	}
	return CheckText("event key", e.ConversationSID, e.MessageSID, e.IdempotencyToken)
}

// CheckNewTimer checks a timer before it is scheduled.
func CheckNewTimer(t Timer) error {
	if err := CheckSID("execution", PrefixExecution, t.ExecutionSID); err != nil {
		return err
	}
	if t.Kind == "" || t.FireTime.IsZero() {
		return fmt.Errorf("timer of execution %s needs a kind and a fire time: %w", t.ExecutionSID, ErrInvalidArgument)
	}
	if err := CheckText("timer kind", t.Kind); err != nil {
		return err
	}
	return CheckJSON("timer payload", t.Payload)
}

// CheckNewSend checks a send record before it is written.
func CheckNewSend(s Send) error {
	if s.Key == "" {
		return fmt.Errorf("send key is empty: %w", ErrInvalidArgument)
	}
	if err := CheckSID("execution", PrefixExecution, s.ExecutionSID); err != nil {
		return err
	}
	if err := CheckText("send key", s.Key); err != nil {
		return err
	}
	return CheckJSON("send result", s.Result)
}

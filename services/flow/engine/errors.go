package engine

import (
	"errors"
	"fmt"
	"strings"
)

// Studio error and warning codes the engine reports (studio.md §8).
const (
	CodeMaxSteps           = 81000 // execution exceeded max steps
	CodeWidgetLoop         = 81001 // one widget ran too many times in a row
	CodeFunctionError      = 81010 // run-function: 4xx/5xx, timeout, oversized body
	CodeSendFailed         = 81011 // send-message / send-and-wait: the send failed
	CodeHTTPRequestError   = 81014 // make-http-request: bad URL, reserved parameter, transport
	CodeInvalidRevision    = 81021 // run-subflow: bad flow_revision
	CodeInvalidDefinition  = 81022 // flow definition validation failed
	CodeSubflowError       = 81024 // run-subflow: definition missing, nesting
	CodeWorkflowFailed     = 84002 // widget cannot run here (voice-only, no Flex)
	CodeLiquidRenderFailed = 84003 // Liquid values in the widget are incorrect
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrInvalidDefinition is wrapped by every *ValidationError and by
	// Parse failures.
	ErrInvalidDefinition = errors.New("invalid flow definition")
	// ErrNotWaiting is returned by Resume when the execution is not waiting
	// for that kind of event (or in that widget).
	ErrNotWaiting = errors.New("execution is not waiting")
	// ErrEnded is returned by Resume and End when the execution has ended.
	ErrEnded = errors.New("execution has ended")
	// ErrTimeoutNotDue is returned by Resume with a timeout that arrives
	// before the wait's deadline, typically a stale timer of an earlier wait.
	ErrTimeoutNotDue = errors.New("wait timeout is not due yet")
	// ErrSubflowNotFound is what a SubflowResolver returns for an unknown
	// flow SID or revision.
	ErrSubflowNotFound = errors.New("subflow not found")
)

// Problem is one validation failure, shaped like the entries in the
// `details` of Studio's 81022 error.
type Problem struct {
	// PropertyPath is a JSON pointer into the definition, in Studio's form
	// "#/states/3/properties/timeout".
	PropertyPath string `json:"property_path"`
	Message      string `json:"message"`
	Code         int    `json:"code"`
}

// ValidationError lists every problem found in a definition. It matches
// ErrInvalidDefinition with errors.Is.
type ValidationError struct {
	Problems []Problem `json:"problems"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flow definition validation failed (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString(")")
	for i, p := range e.Problems {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-5)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", p.PropertyPath, p.Message)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidDefinition) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidDefinition }

// StepError is the in-flow failure a step records: the widget ran, failed
// in a way Studio reports with a code, and the execution followed the
// failure event (or ended).
type StepError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *StepError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

func stepErr(code int, format string, args ...any) *StepError {
	return &StepError{Code: code, Message: fmt.Sprintf(format, args...)}
}

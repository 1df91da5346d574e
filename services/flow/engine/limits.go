package engine

import "time"

// Studio's limits (studio.md §8), as named constants so FlowService and the
// tests refer to the same numbers.
const (
	// MaxStates is the schema's states.maxItems.
	MaxStates = 1000
	// MaxSteps is the step budget of one execution, subflow steps included;
	// exceeding it ends the execution with EndedMaxSteps (81000).
	MaxSteps = 1000
	// MaxWidgetRepeats is how many times one widget may run in a row; the
	// next consecutive run ends the execution with EndedWidgetLoop (81001).
	MaxWidgetRepeats = 10
	// ExecutionLifetime is how long an execution may live. The engine does
	// not keep time between events: FlowService ends executions older than
	// this with End(…, EndedLifetime).
	ExecutionLifetime = 30 * 24 * time.Hour
	// HTTPTimeout bounds each run-function and make-http-request call,
	// reading the body included.
	HTTPTimeout = 10 * time.Second
	// MaxResponseBytes is the largest response body run-function and
	// make-http-request accept; a larger one takes the failure event.
	MaxResponseBytes = 64 * 1024
	// DefaultReplyTimeout is send-and-wait-for-reply's timeout when the
	// property is absent or empty (the Console default, "3600").
	DefaultReplyTimeout = 3600 * time.Second
	// MaxDefinitionBytes bounds the size of a definition Parse accepts. Real
	// exports are tens of kilobytes; 1000 states of a few kilobytes each fit.
	MaxDefinitionBytes = 8 << 20
	// MaxFlexAttributes is send-to-flex's limit on rendered attributes.
	MaxFlexAttributes = 1024
	// MaxFlexTimeout is send-to-flex's largest task timeout, in seconds.
	MaxFlexTimeout = 1209600
)

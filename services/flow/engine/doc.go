// Package engine runs Twilio Studio flow definitions, as the Studio Console
// exports them, against Twilio Conversations. It is pure: no database, no
// network and no mutable package state. Time, SIDs, sending messages, HTTP
// calls, subflow definitions and a Flex hand-off are injected through
// Options, so a run is deterministic under test and FlowService owns
// persistence and I/O. The Studio behaviour it reproduces, and the project
// decisions where Twilio is silent, are in shared/reference/studio.md; the
// decisions this package adds are listed at the end.
//
// # Definitions
//
// Parse reads a definition leniently (numbers written as strings or
// numbers, unknown keys kept, so json.Marshal gives the definition back);
// Engine.Validate checks it and returns a *ValidationError listing every
// problem at once, each with a JSON-pointer PropertyPath such as
// "#/states/3/properties/timeout", a message and a Studio code (81022,
// 81021 for flow_revision, 81024 for subflows, 81014 for a reserved HTTP
// parameter). Engine.Read does both. Checks: duplicate and ill-formed
// widget names, initial_state, transitions to unknown widgets, events a
// widget type does not have (listed twice), unknown widget types, required
// and mistyped properties, split conditions (unknown predicates, regexes
// that do not compile, match transitions without conditions), Liquid that
// does not parse (in every string property, condition value and argument),
// more than MaxStates widgets, and run-subflow references the
// SubflowResolver cannot resolve, that nest, or that mix revisions.
// Engine.Check is Validate that also lists, in the same pass, what a valid
// definition will fail on at run time: Liquid filters the renderer does not
// have (84003), which are warnings rather than problems so that a Studio
// export using one still deploys.
//
// # Execution model
//
// Engine.Start runs an execution from its Trigger until it waits or ends;
// Engine.Resume delivers a reply or a timeout to a waiting execution;
// Engine.End ends one from outside (EndedAPI, EndedLifetime). Each returns a
// Result: the Execution (the whole state, JSON-serialisable: FlowService
// persists it and any replica resumes it), the new Steps, and the Wait
// (widget and deadline) when the execution waits. Every transition is a
// Step: name = the event, transitioned_from/to (StepEnded when nothing is
// connected), the widget type and a JSON snapshot of the context after the
// widget ran; step SIDs come from the IDGen ("FT" + 32 hex), execution
// SIDs too ("FN") unless the Trigger names one (ExecutionSid).
//
// Two error channels (goflow's): a widget that fails (a send rejected, a
// Function answering 500, a Liquid value that cannot render) records a
// step with a StepError and follows its failure event, or ends the
// execution if that event is unconnected (EndedFlowEnd, as Studio's log
// shows). Only infrastructure faults (the caller's context cancelled, a
// SubflowResolver failure) are returned as Go errors; the caller then
// persists nothing and may replay the call: every send carries an
// idempotency key "<execution SID>/<step number>", deterministic for a
// replay from the same persisted state.
//
// Limits (limits.go): MaxSteps = 1000 steps per execution, subflows
// included (EndedMaxSteps, 81000); one widget may run MaxWidgetRepeats = 10
// times in a row, the 11th ends the execution (EndedWidgetLoop, 81001); an
// unconnected transition ends it normally (EndedFlowEnd);
// ExecutionLifetime = 30 days is FlowService's timer (End with
// EndedLifetime); run-function and make-http-request get HTTPTimeout = 10 s
// (a context deadline around the call and the body read) and at most
// MaxResponseBytes = 64 kB (the engine reads 64 kB + 1 and fails above).
//
// # Widgets
//
// Widgets live in this package, one file per type (widget_<type>.go), with
// a read-only registry (registry.go) dispatching on "type": a widgets/
// sub-package would need the run state, the renderer and the injected
// dependencies from this package while this package needs the widgets, an
// import cycle. WidgetTypes and WidgetEvents list them. Implemented:
// trigger, split-based-on, set-variables, send-message,
// send-and-wait-for-reply, run-function, make-http-request, run-subflow and
// send-to-flex. Voice-only, retired and REST-only types (say-play,
// gather-input-on-call, connect-call-to, make-outgoing-call-v1/v2,
// record-voicemail, record-call, enqueue-call, capture-payments,
// fork-stream, run-conversation-relay, connect-virtual-agent(-v2),
// send-to-auto-pilot, add-twiml-redirect, start-conversation,
// resume-conversation) load and validate with their events; reaching one
// takes its failure event (fail, failed, failedToEnqueue, providerError,
// failure) with code 84002, or, for types without one, ends the execution
// with EndedError and a message naming the type.
//
// # Decisions added here
//
//   - Step of a widget that cannot go on: when a widget without a failure
//     event cannot run (a voice widget, a Liquid value in a split or
//     set-variables that fails to render: 84003), its step is named
//     "failed", goes to "Ended" and carries the StepError; the execution
//     ends with EndedError.
//   - run-function passes url verbatim, empty or placeholder
//     (YOUR_TWILIO_ENVIRONMENT_DOMAIN_NAME) included, with the widget name
//     and function_sid, so FlowService's HTTPDoer can route Function calls
//     of imported exports; the COVID FAQ bot export ships "url": "".
//     Outputs also hold headers (lower-cased names), and on a 4xx/5xx the
//     response outputs are kept with the fail event.
//   - make-http-request: parameters go in the query for GET, form-encoded
//     for POST, and body is sent as is for application/json; only a 2xx
//     answer succeeds (the doer follows redirects); add_twilio_auth is
//     allowed towards twilio.com and *.twilio.com only.
//   - send-message defaults from/to to {{flow.channel.address}} and
//     {{contact.channel.address}}; a message whose body, media_url and
//     content_sid all render empty fails (81011) without sending. outbound.*
//     always holds Body, From, Sid, Status, To and, in a conversation,
//     ConversationSid, Author, Index, Attributes, Media, ParticipantSid.
//   - send-and-wait-for-reply: a reply keeps outbound.* and adds inbound.*;
//     a timeout Resume before the deadline is refused (ErrTimeoutNotDue), and
//     Resume.Widget lets FlowService's timers name the widget they were
//     armed for, so a stale timer is refused (ErrNotWaiting).
//   - set-variables also writes its pairs under widgets.NAME.<key> ([AI]).
//   - run-subflow: the subflow's context gets the parent's trigger data
//     plus trigger.parent.{parameters, execution_sid, flow_sid, step_sid,
//     trigger_type}, a copy of flow.data, fresh flow.variables and widgets;
//     its steps carry the subflow's flow SID and the parent's last step SID
//     as ParentStepSid; a wait inside a subflow is resumed by reloading the
//     subflow through the resolver at the revision it resolved to; a
//     subflow that reaches a widget it cannot run makes run-subflow fail.
//     Subflow returns are internal: Resume takes only replies and timeouts.
//   - trigger.request.{from, to, parameters} is filled besides flow.data
//     for REST executions ([AI]).
//   - Numbers in the context are int64 when whole and float64 otherwise,
//     also after a JSON round trip, so a resumed execution renders exactly
//     as before.
//   - A definition whose initial_state is not a trigger starts at that
//     widget directly.
//   - Liquid is the liquid package (github.com/osteele/liquid underneath);
//     the date timezone defaults to America/Los_Angeles (time/tzdata is
//     embedded). The Liquid variables of a run hold the context's maps by
//     reference and are built once per run, not once per template.
//
// # Tests
//
// testdata/README.md describes the fixtures: one file per widget type
// (TestWidgetTypes iterates the registry, so a type without one fails),
// whole-flow golden runs including the four flows of the shared folder,
// validation cases, all rewritten with -update. FuzzRead (definitions
// through Parse, Validate and Start) and FuzzResume (arbitrary persisted
// state through Resume) must never panic.
//
// # Performance
//
// BenchmarkSteps runs testdata/flows/split-set-send.json (split →
// set-variables → send-message, 901 steps per execution, every step
// rendering its Liquid, snapshotting the context and minting a SID) with a
// messenger that answers at once. On the shared 2-core AMD EPYC, 24 GiB
// machine (`go test -bench . -cpu 1 -benchtime 2s`, Go 1.26, load average
// 6–7 from other work) three runs measured 128,000, 142,000 and 151,000
// steps per wall second (6.6–7.8 µs per step) and 148,000–158,000 steps
// per CPU second (steps/cpu-s: the process's user+system time, GC
// included), with 26 allocations and 3.3 kB per step; under heavier load
// the wall figure fell to about 56,000 while the CPU figure stayed above
// 116,000. Snapshots reuse the JSON of the context parts that did not
// change (snapshot.go). BenchmarkValidate reads and validates that flow,
// Liquid checks included, in about 0.3 ms.
package engine

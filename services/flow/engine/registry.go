package engine

import (
	"fmt"
	"slices"
	"sort"
)

// Widgets live in this package, one file per type (widget_<type>.go),
// rather than in a widgets/ sub-package: a widget needs the run state, the
// Liquid renderer and the injected dependencies, and the engine needs the
// widgets, so a sub-package would need either an import cycle or a second
// copy of every interface. The registry below is a read-only table; no
// package state changes after initialisation.

// widget is a compiled widget: its properties decoded into its struct.
type widget interface {
	// run executes the widget once and says what happened.
	run(r *run, s *State) outcome
}

// checker is implemented by widgets with checks beyond property types and
// required properties (value ranges, enumerations).
type checker interface {
	check(v *validation, path string)
}

// outcome is the result of running a widget.
type outcome struct {
	event string
	// via is the transition a split chose among several "match" ones.
	via *Transition
	// outputs replaces widgets.NAME when non-nil.
	outputs map[string]any
	err     *StepError
	// wait parks the execution for wait (a reply or its timeout).
	wait    bool
	timeout int // seconds, with wait
	// enter starts a subflow (run-subflow).
	enter *subflowEntry
	// endErr ends the execution (or the subflow, as a failure) with
	// EndedError: the widget cannot run here and has no failure event.
	endErr *StepError
	// fault is an infrastructure failure: Start/Resume return it.
	fault error
}

// widgetSpec describes one widget type.
type widgetSpec struct {
	// events are the transition events the type has, in Console order.
	events []string
	// failure is the event taken when the widget cannot do its job here, ""
	// when there is none.
	failure string
	// make returns a new, empty widget of the type.
	make func() widget
}

// Widget types.
const (
	TypeTrigger               = "trigger"
	TypeSplitBasedOn          = "split-based-on"
	TypeSetVariables          = "set-variables"
	TypeSendMessage           = "send-message"
	TypeSendAndWaitForReply   = "send-and-wait-for-reply"
	TypeRunFunction           = "run-function"
	TypeMakeHTTPRequest       = "make-http-request"
	TypeRunSubflow            = "run-subflow"
	TypeSendToFlex            = "send-to-flex"
	TypeStartConversation     = "start-conversation"
	TypeResumeConversation    = "resume-conversation"
	TypeAddTwimlRedirect      = "add-twiml-redirect"
	TypeSayPlay               = "say-play"
	TypeGatherInputOnCall     = "gather-input-on-call"
	TypeConnectCallTo         = "connect-call-to"
	TypeMakeOutgoingCallV2    = "make-outgoing-call-v2"
	TypeRecordVoicemail       = "record-voicemail"
	TypeRecordCall            = "record-call"
	TypeEnqueueCall           = "enqueue-call"
	TypeCapturePayments       = "capture-payments"
	TypeForkStream            = "fork-stream"
	TypeRunConversationRelay  = "run-conversation-relay"
	TypeConnectVirtualAgent   = "connect-virtual-agent"
	TypeConnectVirtualAgentV2 = "connect-virtual-agent-v2"
	TypeSendToAutoPilot       = "send-to-auto-pilot"
	TypeMakeOutgoingCallV1    = "make-outgoing-call-v1"
)

var registry = map[string]widgetSpec{
	TypeTrigger: {
		events: []string{EventIncomingMessage, EventIncomingCall, EventIncomingConversationMessage, EventIncomingRequest, EventIncomingParent},
		make:   func() widget { return &triggerWidget{} },
	},
	TypeSplitBasedOn: {
		events: []string{"noMatch", "match"},
		make:   func() widget { return &splitBasedOn{} },
	},
	TypeSetVariables: {
		events: []string{"next"},
		make:   func() widget { return &setVariables{} },
	},
	TypeSendMessage: {
		events: []string{"sent", "failed"}, failure: "failed",
		make: func() widget { return &sendMessage{} },
	},
	TypeSendAndWaitForReply: {
		events: []string{"incomingMessage", "timeout", "deliveryFailure"}, failure: "deliveryFailure",
		make: func() widget { return &sendAndWait{} },
	},
	TypeRunFunction: {
		events: []string{"success", "fail"}, failure: "fail",
		make: func() widget { return &runFunction{} },
	},
	TypeMakeHTTPRequest: {
		events: []string{"success", "failed"}, failure: "failed",
		make: func() widget { return &makeHTTPRequest{} },
	},
	TypeRunSubflow: {
		events: []string{"completed", "failed"}, failure: "failed",
		make: func() widget { return &runSubflow{} },
	},
	TypeSendToFlex: {
		events: []string{"callComplete", "failedToEnqueue", "callFailure"}, failure: "failedToEnqueue",
		make: func() widget { return &sendToFlex{} },
	},
	TypeStartConversation:    unsupported(TypeStartConversation, "failed", []string{"created", "failed"}, "conversation_service_sid"),
	TypeResumeConversation:   unsupported(TypeResumeConversation, "failed", []string{"resumed", "failed"}, "conversation_sid"),
	TypeAddTwimlRedirect:     unsupported(TypeAddTwimlRedirect, "fail", []string{"return", "timeout", "fail"}, "url"),
	TypeSayPlay:              unsupported(TypeSayPlay, "", []string{"audioComplete"}),
	TypeGatherInputOnCall:    unsupported(TypeGatherInputOnCall, "", []string{"keypress", "speech", "timeout"}),
	TypeConnectCallTo:        unsupported(TypeConnectCallTo, "", []string{"callCompleted", "hangup"}, "noun", "caller_id"),
	TypeMakeOutgoingCallV2:   unsupported(TypeMakeOutgoingCallV2, "failed", []string{"answered", "busy", "noAnswer", "failed"}, "from", "to"),
	TypeRecordVoicemail:      unsupported(TypeRecordVoicemail, "", []string{"recordingComplete", "noAudio", "hangup"}),
	TypeRecordCall:           unsupported(TypeRecordCall, "failed", []string{"success", "failed"}, "record_call"),
	TypeEnqueueCall:          unsupported(TypeEnqueueCall, "failedToEnqueue", []string{"callComplete", "failedToEnqueue", "callFailure"}),
	TypeCapturePayments:      unsupported(TypeCapturePayments, "providerError", []string{"success", "maxFailedAttempts", "providerError", "payInterrupted", "hangup", "validationError"}),
	TypeForkStream:           unsupported(TypeForkStream, "", []string{"next"}, "stream_action"),
	TypeRunConversationRelay: unsupported(TypeRunConversationRelay, "failed", []string{"success", "failed"}),
	TypeConnectVirtualAgent:  unsupported(TypeConnectVirtualAgent, "", []string{"return", "hangup"}, "connector"),
	TypeConnectVirtualAgentV2: unsupported(TypeConnectVirtualAgentV2, "failed",
		[]string{"completed", "live-agent-handoff", "hangup", "failed", "paused", "timeout"}),
	TypeSendToAutoPilot:    unsupported(TypeSendToAutoPilot, "failure", []string{"sessionEnded", "failure", "timeout"}),
	TypeMakeOutgoingCallV1: unsupported(TypeMakeOutgoingCallV1, "failed", []string{"answered", "busy", "noAnswer", "failed"}, "from", "to"),
}

// WidgetTypes returns every widget type the engine reads, sorted.
func WidgetTypes() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// WidgetEvents returns the transition events of a widget type, nil for an
// unknown type.
func WidgetEvents(typ string) []string {
	spec, ok := registry[typ]
	if !ok {
		return nil
	}
	return slices.Clone(spec.events)
}

// readWidget decodes a state's properties into its widget.
func readWidget(s *State, path string) (widget, []Problem) {
	spec, ok := registry[s.Type]
	if !ok {
		return nil, []Problem{{PropertyPath: path + "/type", Message: fmt.Sprintf("unknown widget type %q", s.Type), Code: CodeInvalidDefinition}}
	}
	w := spec.make()
	return w, decodeWidget(w, s.Properties, path+"/properties")
}

func decodeWidget(w widget, props []byte, path string) []Problem {
	if u, ok := w.(*unsupportedWidget); ok {
		return u.decode(props, path)
	}
	return decodeProps(props, w, path)
}

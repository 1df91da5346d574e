package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// ConversationEvent is an onMessageAdded event for a flow, as Twilio
// delivers it to a Studio webhook (form fields of the same names) or as the
// gRPC HandleConversationEvent carries it.
type ConversationEvent struct {
	FlowSid string
	// IdempotencyToken is the I-Twilio-Idempotency-Token header; with
	// MessageSid it identifies redeliveries.
	IdempotencyToken    string
	AccountSid          string
	ChatServiceSid      string
	ConversationSid     string
	MessageSid          string
	MessagingServiceSid string
	ParticipantSid      string
	Author              string
	Body                string
	// Attributes is the message attributes (a JSON string) and Media the
	// media (a JSON array string), as Twilio sends them.
	Attributes  string
	Media       string
	Source      string
	Index       int
	DateCreated time.Time
}

// Disposition says what became of an event.
type Disposition string

// Dispositions. HandleConversationEvent answers QUEUED, DUPLICATE or
// IGNORED; once processed, an event's Outcome says STARTED or RESUMED, or
// FAILED when it could not be run (no revision for the contact, a definition the
// engine refuses) and DROPPED when an active execution was not waiting for
// a message.
const (
	DispositionStarted   Disposition = "STARTED"
	DispositionResumed   Disposition = "RESUMED"
	DispositionDuplicate Disposition = "DUPLICATE"
	DispositionIgnored   Disposition = "IGNORED"
	DispositionQueued    Disposition = "QUEUED"
	DispositionFailed    Disposition = "FAILED"
	DispositionDropped   Disposition = "DROPPED"
)

// Outcome is what processing an event produced, kept with the event.
type Outcome struct {
	Disposition  Disposition `json:"disposition"`
	ExecutionSid string      `json:"execution_sid,omitempty"`
	Error        string      `json:"error,omitempty"`
}

// HandleConversationEvent records ev durably and returns once the record is
// committed: QUEUED, or DUPLICATE for a redelivery (same idempotency token or
// same MessageSid for the flow; nothing changes), or IGNORED for the
// engine's own messages (Author = the configured author, Source API), which
// are not recorded. The event is then processed by its conversation's
// worker, strictly in arrival order. An unknown flow gives an error
// wrapping store.ErrNotFound; missing identifiers store.ErrInvalidArgument.
func (r *Runner) HandleConversationEvent(ctx context.Context, ev ConversationEvent) (Disposition, error) {
	d, _, err := r.recordEvent(ctx, ev)
	return d, err
}

// ProcessConversationEvent is HandleConversationEvent followed by waiting
// until the event is processed; it returns the event's outcome (for a
// duplicate, the original's outcome, once it is processed, with Disposition
// DUPLICATE). For the engine's own messages it returns IGNORED at once. The gRPC HandleConversationEvent uses it to answer with
// the execution SID.
func (r *Runner) ProcessConversationEvent(ctx context.Context, ev ConversationEvent) (Outcome, error) {
	d, stored, err := r.recordEvent(ctx, ev)
	if err != nil || d == DispositionIgnored {
		return Outcome{Disposition: d}, err
	}
	for {
		done := r.idleChan(ev.ConversationSid)
		e, err := r.st.GetEvent(ctx, stored.ID)
		if err != nil {
			return Outcome{}, fmt.Errorf("runner: event %d: %w", stored.ID, err)
		}
		if e.Status == store.EventStatusDone {
			var out Outcome
			if err := json.Unmarshal(e.Outcome, &out); err != nil {
				return Outcome{}, fmt.Errorf("runner: event %d has an unreadable outcome: %w", e.ID, err)
			}
			if d == DispositionDuplicate {
				out.Disposition = DispositionDuplicate
			}
			return out, nil
		}
		if err := r.waitDone(ctx, done); err != nil {
			return Outcome{}, err
		}
	}
}

func (r *Runner) recordEvent(ctx context.Context, ev ConversationEvent) (Disposition, store.Event, error) {
	switch {
	case ev.FlowSid == "":
		return "", store.Event{}, fmt.Errorf("runner: the event names no flow: %w", store.ErrInvalidArgument)
	case ev.ConversationSid == "":
		return "", store.Event{}, fmt.Errorf("runner: the event names no conversation: %w", store.ErrInvalidArgument)
	case ev.MessageSid == "" && ev.IdempotencyToken == "":
		return "", store.Event{}, fmt.Errorf("runner: the event has neither a MessageSid nor an idempotency token: %w", store.ErrInvalidArgument)
	}
	if ev.Author == r.cfg.MessageAuthor && ev.Source == "API" {
		// The engine's own post (it fires no webhooks, but a webhook set
		// up with X-Twilio-Webhook-Enabled elsewhere could deliver it).
		if _, err := r.st.GetFlow(ctx, ev.FlowSid); err != nil {
			return "", store.Event{}, fmt.Errorf("runner: flow %s: %w", ev.FlowSid, err)
		}
		return DispositionIgnored, store.Event{}, nil
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return "", store.Event{}, fmt.Errorf("runner: encoding event: %w", err)
	}
	var (
		stored store.Event
		dup    bool
		lease  store.Lease
	)
	err = r.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		stored, dup, err = tx.RecordEvent(ctx, store.Event{
			ConversationSID: ev.ConversationSid, FlowSID: ev.FlowSid,
			MessageSID: ev.MessageSid, IdempotencyToken: ev.IdempotencyToken,
			Payload: payload, ReceiveTime: r.now(),
		})
		if err != nil || dup {
			return err
		}
		// Take the conversation's lease for the worker in the same commit,
		// which saves the worker a transaction (and a wait for its fsync)
		// before it can start. Held by another replica: that one works on
		// the conversation and sees the event in the store at its next
		// commit (or, lingering, at its next look). No announcement: every
		// replica would answer it with a write. Deferred, so that it
		// travels with the COMMIT: nothing here needs its result.
		return tx.AcquireLeaseLater(ctx, conversationLease(ev.ConversationSid), r.cfg.Owner, r.now(), r.cfg.LeaseTTL, &lease)
	})
	if err != nil {
		return "", store.Event{}, fmt.Errorf("runner: recording event for flow %s: %w", ev.FlowSid, err)
	}
	if dup {
		return DispositionDuplicate, stored, nil
	}
	leased := lease.Owner != ""
	if leased {
		r.tookLease(ev.ConversationSid, lease)
	}
	r.rememberOrigin(ctx, stored.ID, leased)
	var head *store.Event
	if leased && stored.Sequence == 1 {
		// The conversation's first event ever, so the head of its queue,
		// and nobody else can have taken it: this replica holds the lease
		// since the commit that recorded it. The worker need not read it
		// back.
		head = &stored
	}
	r.kick(ev.ConversationSid, leased, head)
	return DispositionQueued, stored, nil
}

// WaitIdle blocks until every event recorded for the conversation so far
// (by any replica) has been processed, or ctx ends.
func (r *Runner) WaitIdle(ctx context.Context, conversationSid string) error {
	// A first look without registering a waiter, so asking about an idle
	// conversation leaves nothing behind.
	if _, err := r.st.NextPendingEvent(ctx, conversationSid); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	for {
		done := r.idleChan(conversationSid)
		_, err := r.st.NextPendingEvent(ctx, conversationSid)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("runner: %w", err)
		}
		if err := r.waitDone(ctx, done); err != nil {
			return err
		}
	}
}

// idleChan returns a channel closed when the next event of the
// conversation is done in this process.
func (r *Runner) idleChan(conversationSid string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.idle[conversationSid]
	if ch == nil {
		ch = make(chan struct{})
		r.idle[conversationSid] = ch
	}
	return ch
}

func (r *Runner) notifyDone(conversationSid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch := r.idle[conversationSid]; ch != nil {
		close(ch)
		delete(r.idle, conversationSid)
	}
}

// waitDone waits for a local completion, or polls after a while because
// another replica may be the one processing the conversation.
func (r *Runner) waitDone(ctx context.Context, done <-chan struct{}) error {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// processEvent runs one recorded event and commits the result together with
// the event's outcome. A returned error means nothing was committed and the
// event must be retried (an infrastructure fault).
func (r *Runner) processEvent(ctx context.Context, e store.Event, fence func(store.Tx) error) (err error) {
	ctx, span := r.startEventSpan(ctx, e)
	defer func() { endSpan(span, err) }()
	var ev ConversationEvent
	if err := json.Unmarshal(e.Payload, &ev); err != nil {
		return r.finishEvent(ctx, e, Outcome{Disposition: DispositionFailed, Error: "unreadable event payload: " + err.Error()}, fence)
	}
	msg := r.conversationMessage(ev)
	// The conversation's execution, or else a REST execution of the flow
	// for this contact: its message went into this conversation, and
	// Studio keys messaging executions on the contact.
	row, err := r.st.FindActiveExecutionForMessage(ctx, e.FlowSID, e.ConversationSID, ev.Author)
	if err == nil && row.ConversationSID == "" && !waitingRow(row) {
		// A REST execution takes the message only while it waits for a
		// reply; otherwise the message starts an execution of its own.
		row, err = store.Execution{}, store.ErrNotFound
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return r.startFromEvent(ctx, e, ev, msg, nil, fence)
	case err != nil:
		return fmt.Errorf("runner: %w", err)
	case len(row.State) == 0:
		// A start that sent messages and then crashed: if it is this
		// event's, replay it on the same row; any other is an orphan.
		if row.SID == eventExecutionSID(e.FlowSID, e.ID) {
			return r.startFromEvent(ctx, e, ev, msg, &row, fence)
		}
		if _, err := r.endRow(ctx, row, engine.EndedError, nil); err != nil {
			return err
		}
		return r.startFromEvent(ctx, e, ev, msg, nil, fence)
	}
	x, err := decodeExecution(row)
	if err != nil {
		return r.finishEvent(ctx, e, Outcome{Disposition: DispositionFailed, ExecutionSid: row.SID, Error: err.Error()}, fence)
	}
	if x.Wait == nil {
		// Active but not waiting cannot be observed between commits; be
		// explicit rather than start a second execution.
		return r.finishEvent(ctx, e, Outcome{Disposition: DispositionDropped, ExecutionSid: row.SID}, fence)
	}
	def, err := r.definition(ctx, row.FlowSID, row.FlowRevision)
	if err != nil {
		if errors.Is(err, engine.ErrInvalidDefinition) {
			return r.finishEvent(ctx, e, Outcome{Disposition: DispositionFailed, ExecutionSid: row.SID, Error: err.Error()}, fence)
		}
		return err
	}
	at := &attempt{cause: fmt.Sprintf("ev%dv%d", e.ID, row.Version), row: row, persisted: true, version: row.Version}
	res, err := r.resume(ctx, at, def, x, engine.Resume{Kind: engine.ResumeReply, Conversation: &msg})
	switch {
	case errors.Is(err, engine.ErrNotWaiting), errors.Is(err, engine.ErrEnded):
		return r.finishEvent(ctx, e, Outcome{Disposition: DispositionDropped, ExecutionSid: row.SID, Error: err.Error()}, fence)
	case errors.Is(err, engine.ErrInvalidDefinition):
		// Retrying cannot help; the execution stays as it was.
		return r.finishEvent(ctx, e, Outcome{Disposition: DispositionFailed, ExecutionSid: row.SID, Error: err.Error()}, fence)
	case err != nil:
		return err
	}
	out := Outcome{Disposition: DispositionResumed, ExecutionSid: row.SID}
	_, err = r.commit(ctx, at, res, r.markDone(ctx, e, out, fence))
	return err
}

// waitingRow reports whether a stored execution is parked waiting for a
// reply.
func waitingRow(row store.Execution) bool {
	if len(row.State) == 0 {
		return false
	}
	x, err := decodeExecution(row)
	return err == nil && x.Wait != nil
}

func (r *Runner) startFromEvent(ctx context.Context, e store.Event, ev ConversationEvent, msg engine.ConversationMessage, placeholder *store.Execution, fence func(store.Tx) error) error {
	trig := &engine.Trigger{FlowSid: e.FlowSID, Event: engine.EventIncomingConversationMessage, Conversation: &msg}
	contact := contactAddress(trig)
	var (
		f   store.Flow
		err error
	)
	if placeholder != nil {
		// The replayed start keeps the revision it started on, whatever
		// was published or became of the test users since.
		if f, err = r.st.GetFlowRevision(ctx, e.FlowSID, placeholder.FlowRevision); err != nil {
			return fmt.Errorf("runner: %w", err)
		}
	} else {
		// Only published revisions serve live traffic, except for the
		// flow's test users, who get its latest revision (studio.md §6.1).
		f, err = r.st.GetRevisionForContact(ctx, store.RevisionForContactParams{FlowSID: e.FlowSID, Contact: contact})
		if errors.Is(err, store.ErrNotFound) {
			return r.finishEvent(ctx, e, Outcome{Disposition: DispositionFailed, Error: fmt.Sprintf("flow %s has no published revision, and %q is not one of its test users", e.FlowSID, contact)}, fence)
		}
		if err != nil {
			return fmt.Errorf("runner: %w", err)
		}
	}
	pd, err := r.defs.getParsed(f)
	if err != nil {
		return r.finishEvent(ctx, e, Outcome{Disposition: DispositionFailed, Error: err.Error()}, fence)
	}
	trig.FlowRevision = f.Revision
	r.enrich(pd, ev, trig)
	sid := eventExecutionSID(e.FlowSID, e.ID)
	at := &attempt{
		cause: fmt.Sprintf("ev%d", e.ID),
		row:   store.Execution{FlowSID: e.FlowSID, FlowRevision: f.Revision, ConversationSID: e.ConversationSID, ContactChannelAddress: contact},
	}
	if placeholder != nil {
		at.row, at.persisted, at.version = *placeholder, true, placeholder.Version
	}
	res, err := r.startWithSID(ctx, at, sid, pd.def, trig)
	if err != nil {
		if errors.Is(err, engine.ErrInvalidDefinition) {
			return r.finishEvent(ctx, e, Outcome{Disposition: DispositionFailed, Error: err.Error()}, fence)
		}
		return err
	}
	out := Outcome{Disposition: DispositionStarted, ExecutionSid: sid}
	_, err = r.commit(ctx, at, res, r.markDone(ctx, e, out, fence))
	return err
}

// contactAddress is contact.channel.address of a conversation execution:
// the author of the triggering message unless overridden (studio.md §3.6).
func contactAddress(t *engine.Trigger) string {
	if t.ContactAddress != "" {
		return t.ContactAddress
	}
	return t.Conversation.Author
}

// enrich fills what the webhook payload lacks and the definition reads:
// trigger.conversation.ChannelAttributes (the conversation's attributes)
// and flow.channel.address (the participant's proxy address). A failure to
// fetch them is logged and the execution starts without them, rather than
// holding the conversation's queue while the API is down.
func (r *Runner) enrich(pd *parsedDef, ev ConversationEvent, t *engine.Trigger) {
	if r.twilio == nil {
		return
	}
	m := NewTwilioMessenger(r.twilio, r.cfg.MessageAuthor)
	if pd.needsChannelAttributes {
		attrs, err := m.conversationAttributes(ev.ConversationSid)
		if err != nil {
			r.log.Warn("starting without ChannelAttributes", "conversation_sid", ev.ConversationSid, "err", err)
		} else {
			t.Conversation.ChannelAttributes = attrs
		}
	}
	if pd.needsFlowChannel && ev.ParticipantSid != "" {
		addr, err := m.participantProxyAddress(ev.ConversationSid, ev.ParticipantSid)
		if err != nil {
			r.log.Warn("starting without the participant's proxy address", "conversation_sid", ev.ConversationSid, "err", err)
		} else if addr != "" {
			t.FlowAddress = addr
		}
	}
}

func (r *Runner) conversationMessage(ev ConversationEvent) engine.ConversationMessage {
	return engine.ConversationMessage{
		AccountSid: ev.AccountSid, ConversationSid: ev.ConversationSid, MessageSid: ev.MessageSid,
		MessagingServiceSid: ev.MessagingServiceSid, ParticipantSid: ev.ParticipantSid,
		Author: ev.Author, Body: ev.Body, Attributes: ev.Attributes, Source: ev.Source,
		Index: ev.Index, Media: ev.Media, DateCreated: ev.DateCreated,
	}
}

// markDone returns the commit's extra writes for an event: the event's
// outcome, then the lease fence (this replica still owns the conversation;
// the worker's fence also gives the lease back when no event is left).
func (r *Runner) markDone(ctx context.Context, e store.Event, out Outcome, fence func(store.Tx) error) func(store.Tx) error {
	return func(tx store.Tx) error {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if err := tx.MarkEventDoneLater(ctx, e.ID, b, r.now()); err != nil {
			return err
		}
		if fence != nil {
			return fence(tx)
		}
		return nil
	}
}

// finishEvent marks an event done without running anything.
func (r *Runner) finishEvent(ctx context.Context, e store.Event, out Outcome, fence func(store.Tx) error) error {
	if out.Disposition == DispositionFailed {
		r.log.Warn("conversation event not run", "event_id", e.ID, "flow_sid", e.FlowSID, "conversation_sid", e.ConversationSID, "err", out.Error)
	}
	return r.st.InTx(ctx, r.markDone(ctx, e, out, fence))
}

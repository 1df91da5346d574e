package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twilio/twilio-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// ErrAlreadyEnded is returned (wrapped) by EndExecution for an execution
// that has already ended: Studio answers 409 there, the API FailedPrecondition.
var ErrAlreadyEnded = errors.New("execution has already ended")

// DoneEventRetention is how long processed events are kept to recognise
// redeliveries (Twilio retries webhooks for minutes, hours at most).
const DoneEventRetention = 24 * time.Hour

// cleanupEvery is how often old events are deleted.
const cleanupEvery = 10 * time.Minute

// causeREST is the attempt cause of REST-triggered starts.
const causeREST = "rest"

// Defaults of Config.
const (
	DefaultMessageAuthor  = "system"
	DefaultTimerInterval  = time.Second
	DefaultLeaseTTL       = 5 * time.Second
	DefaultRescanInterval = time.Second
	DefaultDrainTimeout   = 10 * time.Second
)

// Tuning that is not worth a flag.
const (
	// leaseLinger is how long a worker keeps a conversation it found
	// drained (see linger), and lingerPoll how often it then looks for
	// events other replicas recorded.
	leaseLinger = time.Second
	lingerPoll  = 250 * time.Millisecond
	// retryMin and retryMax bound the backoff of an event or timer whose
	// processing failed for an infrastructure reason (the store, a
	// cancelled context): it is retried, never dropped.
	retryMin = 50 * time.Millisecond
	retryMax = 30 * time.Second
)

// Config configures a Runner.
type Config struct {
	Store store.Store
	// AccountSid and AuthToken are the Conversations API credentials; they
	// also authenticate make-http-request calls with add_twilio_auth.
	AccountSid string
	AuthToken  string
	// ConversationsURL is the Conversations API base URL (the fake in
	// tests); empty means Twilio's.
	ConversationsURL string
	// FunctionMap holds "FROM=TO" URL-prefix rewrites applied to
	// run-function and make-http-request URLs. The TO targets are exempt
	// from the outbound policy.
	FunctionMap []string
	// TracerProvider, when set, traces event processing (continuing the
	// webhook's trace) and every outbound request, which carries the W3C
	// traceparent; see tracing.go.
	TracerProvider trace.TracerProvider
	// Metrics, when set, receives the runner's Prometheus series
	// (executions, steps, outbound requests, takeovers, commit latency,
	// queue depth).
	Metrics prometheus.Registerer
	// AllowOutbound are exceptions to the outbound policy (CIDR, address
	// or HOST[:PORT], as --allow-outbound takes them), which by default
	// refuses loopback, private, link-local and other special addresses.
	AllowOutbound []string
	// MessageAuthor is the author of the messages the engine posts; events
	// with this author and Source "API" are the engine's own and ignored.
	// Default DefaultMessageAuthor.
	MessageAuthor string
	// Clock is the time source; default time.Now.
	Clock func() time.Time
	// Owner identifies this replica in leases and timer claims; default
	// hostname, pid and random digits.
	Owner  string
	Logger *slog.Logger
	// HTTPClient serves run-function and make-http-request; default a
	// client that applies the outbound policy (AllowOutbound) and keeps
	// idle connections for busy hosts. A client given here is used as it
	// is, policy and all. The engine bounds each call, the response read
	// included, by engine.HTTPTimeout through the request's context.
	HTTPClient *http.Client
	// IDs mints SIDs; default engine.RandomIDs. Executions started by an
	// event get a SID derived from the event instead (see doc.go).
	IDs engine.IDGen
	// TimerInterval is how often due timers are claimed; default
	// DefaultTimerInterval.
	TimerInterval time.Duration
	// LeaseTTL is how long a replica keeps a conversation's queue, or a
	// timer it claimed, without renewing (a heartbeat renews all of them
	// every fifth of it): after a replica dies, its work waits this long
	// before another replica takes it over; default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// RescanInterval is how often the runner looks for queues nobody works
	// on (a dead replica's, once its lease expired); default
	// DefaultRescanInterval.
	RescanInterval time.Duration
	// DrainTimeout bounds how long Start waits, once its context ended,
	// for the events and timers in progress to finish before it cancels
	// them; default DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Messenger replaces the Conversations API messenger (tests that
	// simulate failures wrap NewTwilioMessenger's); nil builds one from
	// the fields above.
	Messenger engine.Messenger
}

// Runner is FlowService's durable execution runtime: it records
// conversation events, runs them through the engine in per-conversation
// order, persists every result atomically, fires timers and performs the
// side effects. Several Runners (replicas) may share one store.
type Runner struct {
	cfg    Config
	st     store.Store
	log    *slog.Logger
	now    func() time.Time
	eng    *engine.Engine
	twilio *twilio.RestClient
	defs   *defCache
	subs   *hub
	m      *metrics
	tracer trace.Tracer
	// origins holds the span context of each event recorded here whose
	// worker has not started yet (see tracing.go).
	origins sync.Map

	// ctx is the lifetime of background work (workers, timers); Start's
	// context ends it.
	ctx    context.Context
	cancel context.CancelFunc

	// draining is closed once Start's context ended: workers finish the
	// event in hand and stop, the timer loop claims no more timers.
	draining  chan struct{}
	timerWake chan struct{}

	mu      sync.Mutex
	workers map[string]*worker
	// firing holds the claims of the timers this replica fires, for the
	// heartbeat.
	firing map[int64]*held
	// suspects are the conversations whose pending events may have been
	// half done (see leases.go).
	suspects map[string]bool
	// idle is closed and replaced whenever a conversation's event is
	// done, waking WaitIdle callers.
	idle map[string]chan struct{}
	// stopped is set once Start's context ended: no new workers.
	stopped  bool
	wg       sync.WaitGroup
	workerWG sync.WaitGroup
	timerWG  sync.WaitGroup
}

// New builds a Runner. It does not start background work: call Start.
func New(cfg Config) (*Runner, error) {
	if cfg.Store == nil {
		return nil, errors.New("runner: Config.Store is required")
	}
	if cfg.MessageAuthor == "" {
		cfg.MessageAuthor = DefaultMessageAuthor
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		c, err := outboundClient(cfg.AllowOutbound, cfg.FunctionMap)
		if err != nil {
			return nil, err
		}
		cfg.HTTPClient = c
	}
	if cfg.IDs == nil {
		cfg.IDs = engine.RandomIDs{}
	}
	if cfg.TimerInterval <= 0 {
		cfg.TimerInterval = DefaultTimerInterval
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.RescanInterval <= 0 {
		cfg.RescanInterval = DefaultRescanInterval
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	r := &Runner{
		cfg:       cfg,
		st:        cfg.Store,
		log:       cfg.Logger,
		now:       cfg.Clock,
		defs:      newDefCache(),
		subs:      newHub(),
		workers:   map[string]*worker{},
		firing:    map[int64]*held{},
		suspects:  map[string]bool{},
		idle:      map[string]chan struct{}{},
		draining:  make(chan struct{}),
		timerWake: make(chan struct{}, 1),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	var err error
	if r.m, err = newMetrics(r, cfg.Metrics); err != nil {
		return nil, fmt.Errorf("runner: metrics: %w", err)
	}
	r.tracer = tracerOf(cfg.TracerProvider)
	doer, err := newHTTPDoer(tracedClient(cfg.HTTPClient, cfg.TracerProvider), cfg.FunctionMap, cfg.AccountSid, cfg.AuthToken)
	if err != nil {
		return nil, err
	}
	doer.m = r.m
	if cfg.AccountSid != "" || cfg.Messenger == nil {
		if cfg.AccountSid == "" || cfg.AuthToken == "" {
			return nil, errors.New("runner: Config.AccountSid and Config.AuthToken are required for the Conversations API")
		}
		r.twilio, err = twilioclient.New(twilioclient.Options{AccountSID: cfg.AccountSid, AuthToken: cfg.AuthToken, BaseURL: cfg.ConversationsURL})
		if err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
	}
	messenger := cfg.Messenger
	if messenger == nil {
		messenger = NewTwilioMessenger(r.twilio, cfg.MessageAuthor)
	}
	opts := engine.Options{
		Clock:     engine.ClockFunc(cfg.Clock),
		IDs:       cfg.IDs,
		Messenger: &onceMessenger{r: r, next: messenger},
		HTTP:      doer,
		Subflows:  &subflowResolver{st: cfg.Store, defs: r.defs},
	}
	if r.eng, err = engine.New(opts); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	return r, nil
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "flowservice"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Engine returns an engine with the runner's options (subflows resolved
// from the store), for reading and validating definitions. Executions
// started on it directly are not persisted.
func (r *Runner) Engine() *engine.Engine { return r.eng }

// Owner is the replica identity used for leases and timer claims.
func (r *Runner) Owner() string { return r.cfg.Owner }

// Start runs the background work until ctx is done: it resumes every
// conversation with pending events that no live replica works on (recorded
// before a restart, or by a replica that died and whose lease expired),
// fires due timers every TimerInterval, renews its leases and timer claims
// by heartbeat, and, on stores that push (store.Listener), takes work other
// replicas hand back at once.
//
// Once ctx is done, Start drains: workers finish the event in hand and the
// timers in progress fire, for up to DrainTimeout (then they are
// cancelled); what is left is handed back to the other replicas at once,
// without waiting for leases to expire. Start returns after that.
func (r *Runner) Start(ctx context.Context) error {
	r.wg.Add(3)
	go func() {
		defer r.wg.Done()
		r.rescanLoop(r.ctx)
	}()
	go func() {
		defer r.wg.Done()
		r.timerLoop(r.ctx)
	}()
	go func() {
		defer r.wg.Done()
		r.heartbeatLoop(r.ctx)
	}()
	if l, ok := r.st.(store.Listener); ok {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.listen(r.ctx, l)
		}()
	}
	<-ctx.Done()
	r.drain()
	return nil
}

// drain stops the runner (see Start).
func (r *Runner) drain() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	close(r.draining)
	done := make(chan struct{})
	go func() {
		r.workerWG.Wait()
		r.timerWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(r.cfg.DrainTimeout):
		r.log.Warn("events and timers still in progress after the drain timeout; cancelling them", "timeout", r.cfg.DrainTimeout)
		r.cancel()
		<-done
	}
	// The heartbeat kept the leases until here.
	r.cancel()
	r.wg.Wait()
	r.handBack()
}

// isDraining reports whether Start's context ended.
func (r *Runner) isDraining() bool {
	select {
	case <-r.draining:
		return true
	default:
		return false
	}
}

// listen takes handed-back work announced by other replicas: a
// conversation's events (kick, which takes its lease if it is free) or
// timers (an early claim).
func (r *Runner) listen(ctx context.Context, l store.Listener) {
	err := l.Listen(ctx, func(conv string) {
		if r.isDraining() {
			return
		}
		if conv == "" {
			select {
			case r.timerWake <- struct{}{}:
			default:
			}
			return
		}
		r.kick(conv, false, nil)
	})
	if err != nil && ctx.Err() == nil {
		r.log.Warn("listening for work other replicas hand back", "err", err)
	}
}

// rescanLoop kicks a worker for every conversation with pending events that
// no live replica holds, every RescanInterval, so queues left by a restart
// or a dead replica (whose lease expired) are picked up.
//
// It also deletes done events older than DoneEventRetention, now and then:
// they are only kept to recognise redeliveries, which Twilio stops after
// hours.
func (r *Runner) rescanLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.RescanInterval)
	defer t.Stop()
	var lastCleanup time.Time
	for {
		if !r.isDraining() {
			convs, err := r.st.OrphanedConversations(ctx, conversationLease(""), r.now(), 1000)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("listing conversations nobody works on", "err", err)
			}
			for _, c := range convs {
				r.kick(c, false, nil)
			}
		}
		if now := r.now(); now.Sub(lastCleanup) >= cleanupEvery {
			lastCleanup = now
			n, err := r.st.DeleteDoneEvents(ctx, now.Add(-DoneEventRetention))
			switch {
			case err != nil && ctx.Err() == nil:
				r.log.Warn("deleting old events", "err", err)
			case n > 0:
				r.log.Info("deleted old events", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CreateExecution is the REST trigger (POST /v2/Flows/{FlowSid}/Executions):
// it starts an execution of the flow's latest published revision (its
// latest revision when to is one of the flow's test users) for the contact
// to, with parameters as flow.data, and runs it until it waits or ends. A contact with an active execution of the flow gets
// *store.ActiveExecutionError with the conflicting SID.
func (r *Runner) CreateExecution(ctx context.Context, flowSid, to, from string, parameters map[string]any) (store.Execution, error) {
	if to == "" || from == "" {
		return store.Execution{}, fmt.Errorf("runner: an execution needs To and From: %w", store.ErrInvalidArgument)
	}
	rev, def, err := r.definitionFor(ctx, flowSid, to)
	if err != nil {
		return store.Execution{}, err
	}
	// Refuse before anything runs, so a 409 has no side effects; the
	// database's unique index settles races at commit.
	if x, err := r.st.FindActiveExecutionByContact(ctx, flowSid, to); err == nil {
		return store.Execution{}, &store.ActiveExecutionError{FlowSID: flowSid, ContactChannelAddress: to, ExecutionSID: x.SID}
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Execution{}, fmt.Errorf("runner: %w", err)
	}
	if parameters == nil {
		parameters = map[string]any{}
	}
	at := &attempt{
		cause: causeREST,
		row:   store.Execution{FlowSID: flowSid, FlowRevision: rev, ContactChannelAddress: to},
	}
	sid := r.cfg.IDs.NewSID(store.PrefixExecution)
	res, err := r.startWithSID(ctx, at, sid, def, &engine.Trigger{
		FlowSid:      flowSid,
		FlowRevision: rev,
		Event:        engine.EventIncomingRequest,
		Request:      &engine.Request{From: from, To: to, Parameters: parameters},
	})
	if err != nil {
		r.dropPlaceholder(at, sid)
		return store.Execution{}, err
	}
	x, err := r.commit(ctx, at, res, nil)
	if err != nil {
		r.dropPlaceholder(at, sid)
		return store.Execution{}, err
	}
	return x, nil
}

// dropPlaceholder deletes the execution row a failed REST start created for
// its sends, so the contact is not blocked by an execution that never ran.
// Messages already sent stay sent; they were recorded with it.
func (r *Runner) dropPlaceholder(at *attempt, sid string) {
	if !at.persisted {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
	defer cancel()
	if err := r.st.DeleteExecution(ctx, sid); err != nil && !errors.Is(err, store.ErrNotFound) {
		r.log.Error("deleting the placeholder of a failed execution", "execution_sid", sid, "err", err)
	}
}

// EndExecution ends an active execution through the API (ended_reason API):
// its timers are cancelled and later events start a new execution. Ending
// an ended execution returns an error wrapping ErrAlreadyEnded.
func (r *Runner) EndExecution(ctx context.Context, flowSid, executionSid string) (store.Execution, error) {
	for try := 0; ; try++ {
		row, err := r.st.GetExecution(ctx, executionSid)
		if err != nil {
			return store.Execution{}, fmt.Errorf("runner: execution %s: %w", executionSid, err)
		}
		if row.FlowSID != flowSid {
			return store.Execution{}, fmt.Errorf("runner: execution %s of flow %s: %w", executionSid, flowSid, store.ErrNotFound)
		}
		if row.Status == store.ExecutionStatusEnded {
			return store.Execution{}, fmt.Errorf("runner: execution %s: %w", executionSid, ErrAlreadyEnded)
		}
		out, err := r.endRow(ctx, row, engine.EndedAPI, nil)
		if errors.Is(err, store.ErrConflict) && try < 10 {
			// A worker or timer committed in between: read again.
			continue
		}
		return out, err
	}
}

// endRow ends an active execution row from outside the flow (API or
// LIFETIME), in one transaction with extra.
func (r *Runner) endRow(ctx context.Context, row store.Execution, reason string, extra func(store.Tx) error) (store.Execution, error) {
	at := &attempt{persisted: true, version: row.Version, row: row, timersMayExist: true}
	if len(row.State) == 0 {
		// A placeholder left by a start that crashed after sending: there
		// is no engine state to end, only the row.
		var out store.Execution
		err := r.st.InTx(ctx, func(tx store.Tx) error {
			var err error
			out, err = tx.UpdateExecution(ctx, store.ExecutionUpdate{SID: row.SID, Version: row.Version, Status: store.ExecutionStatusEnded, EndedReason: reason, UpdateTime: r.now()})
			if err != nil {
				return err
			}
			if err := tx.CancelTimersLater(ctx, row.SID, ""); err != nil {
				return err
			}
			if extra != nil {
				return extra(tx)
			}
			return nil
		})
		if err != nil {
			return store.Execution{}, fmt.Errorf("runner: ending execution %s: %w", row.SID, err)
		}
		r.m.ended.WithLabelValues(reason).Inc()
		r.subs.end(row.SID)
		return out, nil
	}
	x, err := decodeExecution(row)
	if err != nil {
		return store.Execution{}, err
	}
	res, err := r.eng.End(x, reason)
	if errors.Is(err, engine.ErrEnded) {
		return store.Execution{}, fmt.Errorf("runner: execution %s: %w", row.SID, ErrAlreadyEnded)
	}
	if err != nil {
		return store.Execution{}, fmt.Errorf("runner: ending execution %s: %w", row.SID, err)
	}
	return r.commit(ctx, at, res, extra)
}

// Subscribe returns the steps of an execution as they are committed, from
// now on; the channel is closed after the step that ends the execution, when
// the execution has already ended or does not exist, or on cancel. Callers
// list the stored steps first and deduplicate by sequence.
func (r *Runner) Subscribe(executionSid string) (<-chan store.Step, func()) {
	ch, cancel := r.subs.subscribe(executionSid)
	// Registered first, checked second: an execution that ends in between
	// is closed by the publisher.
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	row, err := r.st.GetExecution(ctx, executionSid)
	if err != nil || row.Status == store.ExecutionStatusEnded {
		r.subs.end(executionSid)
	}
	return ch, cancel
}

// definitionFor returns the revision of the flow a new execution for the
// contact runs (see store.GetRevisionForContact), parsed.
func (r *Runner) definitionFor(ctx context.Context, flowSid, contact string) (int, *engine.Definition, error) {
	f, err := r.st.GetRevisionForContact(ctx, store.RevisionForContactParams{FlowSID: flowSid, Contact: contact})
	if err != nil {
		return 0, nil, fmt.Errorf("runner: revision of flow %s for %q: %w", flowSid, contact, err)
	}
	def, err := r.defs.get(f)
	if err != nil {
		return 0, nil, err
	}
	return f.Revision, def, nil
}

// definition returns one revision of a flow, parsed.
func (r *Runner) definition(ctx context.Context, flowSid string, revision int) (*engine.Definition, error) {
	if def := r.defs.lookup(flowSid, revision); def != nil {
		return def, nil
	}
	f, err := r.st.GetFlowRevision(ctx, flowSid, revision)
	if err != nil {
		return nil, fmt.Errorf("runner: flow %s revision %d: %w", flowSid, revision, err)
	}
	return r.defs.get(f)
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// conversationLease names the lease on a conversation's event queue.
func conversationLease(conversationSid string) string {
	return "conversation/" + conversationSid
}

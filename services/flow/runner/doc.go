// Package runner is FlowService's durable execution runtime. It drives the
// engine (services/flow/engine) with persistence (services/flow/store) and
// real I/O: the Conversations API through twilio-go for send-message,
// net/http with --function-map rewrites for run-function and
// make-http-request, and the store for run-subflow definitions.
//
// # Events
//
// HandleConversationEvent records an onMessageAdded event in the store and
// returns once the record is committed (QUEUED), so an acknowledged event is
// never lost. Redeliveries (same I-Twilio-Idempotency-Token, or same
// MessageSid, for the flow) are DUPLICATE and change nothing. The engine's
// own posts (Author = Config.MessageAuthor and Source = "API") are IGNORED.
//
// Each conversation has one worker per process, and a store lease makes it
// one across replicas: the worker takes the oldest pending event, runs it,
// and commits the engine's Result together with the event's outcome in one
// transaction (execution state, steps, timers, event done, and a renewal of
// the lease, so a replica that lost its lease cannot commit). An event
// stays at the head of its queue until that commit, so events of a
// conversation are processed strictly in arrival order and a crash retries
// the event that was running.
//
// The lease costs no transaction of its own on the way: the transaction
// that records an event takes it for the recording replica when it is free
// (a worker started for that event begins at once), and the commit of the
// event that leaves the queue empty gives it back. An event recorded by
// another replica while this one holds the lease is seen by that commit's
// look at the queue, so the holder goes on with it.
//
// # Replicas and takeover
//
// Leases and timer claims last Config.LeaseTTL (5 s by default) and one
// heartbeat transaction per replica renews all of them every fifth of it
// (leases.go). A replica that dies leaves its conversations and timers for
// at most one TTL: every Config.RescanInterval (1 s) each replica asks the
// store for queues with pending events and no live lease
// (store.OrphanedConversations) and takes them over, and timer claims
// expire into a new claim. A replica works on a conversation only while its
// lease is certainly its own: a send is refused, and bounded in time, past
// the last renewal plus the TTL less a fifth, and a heartbeat that finds a
// lease gone stops its worker.
//
// Once Start's context ends the runner drains: workers finish the event in
// hand and stop, timers in progress fire (for up to Config.DrainTimeout),
// and every lease and claim left is handed back at once
// (store.ExpireLeases), so other replicas take the work without waiting
// for a TTL; stores that push (store.Listener, PostgreSQL) announce
// handed-back work, the others are found by the next rescan.
//
// An event for a conversation without an active execution of the flow starts
// one at incomingConversationMessage on the flow's latest published revision
// (its latest revision, draft or published, when the message's author is one
// of the flow's test users), with trigger.conversation filled from the event; ChannelAttributes (the
// conversation's attributes) and flow.channel.address (the participant's
// proxy address) are fetched from the Conversations API only when the
// definition mentions them, and left out, with a warning, when that fails.
// An event for an execution waiting in send-and-wait-for-reply resumes it,
// whichever participant wrote. When the conversation has no active execution
// of the flow but the message's author has a REST execution of it waiting
// for a reply, the message resumes that one: its question was posted into
// this conversation (see TwilioMessenger), and Studio keys messaging
// executions on the contact. An execution keeps the revision it started on.
//
// Which revision a new execution runs is read in one query with the test
// users (store.GetRevisionForContact), on every start: no cache of the lists
// to keep right across replicas, and no extra round trip per event. A
// run-subflow that names LatestPublished resolves the same way for the
// parent execution's contact and the parent's test users.
//
// # Side effects exactly once per replay
//
// A processing attempt that fails for an infrastructure reason commits
// nothing and is replayed. The engine keys every send "<execution SID>/<step
// number>", deterministic for a replay from the same stored state; the
// runner makes the SID of an execution started by an event deterministic too
// (derived from the event ID and given to the engine as
// Trigger.ExecutionSid, see ids.go), and appends the
// cause of the attempt (event or timer, and the execution version it started
// from) so different attempts never share keys. Every message carries its
// key (in its attributes, see TwilioMessenger). Before sending, the key is
// looked up in the store. After sending, the result is recorded early, in a
// transaction of its own started in the background (with the execution
// row, for a new execution's first send): a record made only with the
// steps would be lost by exactly the crash it guards against. A record is
// only needed until the attempt commits, so the commit deletes the
// records of its sends; and since the engine usually commits within
// microseconds of the send, the early record waits a few milliseconds for
// the commit, which takes it over and writes nothing for it (one
// transaction instead of two, see earlyRecord in sends.go). A commit that
// took records over and failed writes them before it returns, so a replay
// finds them. Parked executions keep no send records.
//
// What the early record cannot cover is a replica that dies between the
// Conversations API creating a message and the record's commit. The replica
// that takes over knows it took over (store.Lease.TakenFrom,
// store.Timer.Claims), and until that conversation's queue is drained its
// attempts look for a message carrying their key among the conversation's
// latest messages before sending (SentLookup): what reaches the customer is
// sent once. The same holds after an attempt of this replica failed half-way.
//
// run-function and make-http-request calls are made at least once: a replay
// repeats them, as Studio's own retries do. Each carries the header
// I-Twilio-Idempotency-Token with the call's key ("<execution SID>/<step
// number>@<cause>"), the same on every replay of the call, so a receiver can
// recognise a repeat.
//
// # Timers
//
// A wait arms a wait_timeout timer at the wait's deadline; a new execution
// arms a LIFETIME timer at engine.ExecutionLifetime. Every TimerInterval the
// runner claims due timers (the heartbeat renews a claim while its timer
// fires; a claim of a replica that died expires, and the timer fires
// elsewhere) and fires them: a timeout resumes the execution
// with the widget it was armed for, so a timer of an earlier wait is refused
// by the engine and deleted; LIFETIME ends the execution.
//
// # Messages outside a conversation
//
// See TwilioMessenger: the Conversations API cannot send a plain SMS, so a
// REST execution's message goes into an open conversation the contact takes
// part in, and fails (the widget's failure path, 81011) when there is none.
//
// A Conversations API failure is a widget failure (the engine follows
// failed / deliveryFailure), never a lost or stuck event. Store failures and
// panics while processing an event are retried with backoff (50 ms up to
// 30 s) while the event stays at the head of its queue.
//
// # Steps in the store
//
// store.Step has no column for a step's error: a failed widget's StepError
// is kept in the stored step context under "error" ({"code", "message"}).
// (Studio's ExecutionStep has no error field either.) Subflow steps keep
// the subflow's flow SID and the parent step SID the engine gives them.
//
// # Performance
//
// BenchmarkConversationEvent measures event → execution → send-message:
// ProcessConversationEvent records the event (SQLite, WAL, synchronous=FULL,
// the store's group commit), the conversation's worker starts an execution
// of testdata/send-once.json, which posts one message through twilio-go to
// the Conversations fake over loopback, and the result is committed; the
// fake runs in the same process.
//
// Idle machine, 2026-11-25 (2-core AMD EPYC, 24 GiB, Go 1.26, a disk that
// syncs a 4 kB write in about 0.24 ms; `go test -bench ConversationEvent
// -benchtime 5s -count 2`): saturated 1,338–1,440 executions/s (p50
// 43–47 ms, p99 81–82 ms: 64 in flight, so latency is queueing); paced at
// 500/s, 496–497/s sustained with p50 1.8 ms and p99 8.8–22 ms. Executions
// per CPU second of the whole process: 935–1,006 saturated, 589–590 paced
// (fixed costs such as timers and idle workers spread over fewer calls).
// After the lease stopped costing transactions of its own (see below):
// saturated 1,354–1,408 executions/s, paced at 500/s p50 2.0 ms and p99
// 9.6–35 ms. This benchmark's callers reuse 256 conversations, whose
// workers stay busy, so it gains less from that change than
// BenchmarkWebhookToMessage, where every event is a new conversation.
//
// Earlier figures, on the machine of the previous session, whose disk took
// about 2.7 ms per sync, with other engineers' work moving them by a factor
// of two (`-benchtime 2s -count 3`):
//
//   - quiet machine (load average about 1): saturated (64 callers, 256
//     conversations) 1,000–1,170 executions/s, p50 54–62 ms and p99
//     92–110 ms; paced at 500 executions/s, 496–498/s sustained with p50
//     2.5–3.3 ms and p99 12.5–15 ms.
//   - loaded machine (load average 4–10 from neighbours): saturated
//     490–800 executions/s, p50 80–130 ms, p99 130–260 ms; paced at 500/s,
//     390–475/s sustained, p50 6–40 ms, p99 25–170 ms.
//   - idle machine (load average 0.06), measured again after the messenger
//     began stamping a send key and retrying (`-benchtime 5s`): saturated
//     765 executions/s, p50 82 ms, p99 136 ms; paced at 500/s, 489/s
//     sustained, p50 16 ms, p99 56 ms. The spread against the quiet-machine
//     row above is the disk's sync time, which varies between runs there.
//   - CPU: 700–920 executions per CPU second of the whole process, the
//     fake and twilio-go included (1.1–1.4 ms of CPU per execution).
//
// Since 2026-12-07 an execution whose engine call commits right after its
// send costs two write transactions, the event record and the result (the
// commit takes the early send record over); the figures and the profile
// behind that change are in services/flow/PERFORMANCE.md. Before it:
// about half the CPU is SQLite (modernc.org/sqlite, pure Go) on the store's
// single writer, a quarter HTTP (twilio-go and the fake). Each execution
// costs three write transactions, two of them on the critical path: the
// event record (which takes the lease), then the early send record and the
// result (which gives the lease back) sharing a commit. Until 2026-11-25
// the lease was taken and given back in two more transactions, the first
// on the critical path, and a worker kept a drained conversation's lease
// for a second; folding both into the existing transactions raised
// BenchmarkWebhookToMessage from 1,038–1,162 to 1,236–1,419 executions/s
// on the same machine. On the disk that syncs a 4 kB write in about 2.7 ms
// (dd oflag=dsync), the store would top out near 370 commits per second
// without group commit.
package runner

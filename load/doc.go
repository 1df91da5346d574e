// Package load is convoflow-load: it drives customers through a running
// stack (the Conversations fake, FlowService and what the flow calls) and
// reports throughput and the latency from a customer's message to the
// flow's reply reaching the customer.
//
// # What a run does
//
//  1. Publishes the flow to drive on FlowService (by default an echo flow,
//     trigger → send-message, under the name "convoflow-load echo", reused
//     by later runs; --flow FILE publishes another, --flow-sid uses one
//     already published) and points --number at it with an address
//     configuration, as Twilio's number would be.
//  2. Points the fake's account-level post-event webhook at its own
//     listener, with onDeliveryUpdated among the filters, and puts the
//     previous configuration back when it ends.
//  3. Texts the number through the fake's /_fake/inbound (or, with --via
//     webhook, posts each message as the signed onMessageAdded webhook
//     Conversations would send straight to FlowService, into a
//     conversation made for the customer in the fake beforehand, which
//     leaves the fake's inbound path and studio delivery out of the
//     measurement), as many customers: a closed loop (--concurrency customers, each texting again
//     as soon as its reply arrived) or an open loop (--rate messages a
//     second whatever the replies do, cycling through --customers, or a
//     new customer and conversation for each message with --customers 0),
//     for --duration or --count messages. A line a second on stderr shows
//     the progress.
//  4. Learns of each reply from the fake's onDeliveryUpdated webhook (the
//     receipt of the reply's SMS to the customer, signed with the fake's
//     auth token, which it checks), never by polling the outbox, and
//     matches it to the customer's oldest unanswered message. The flow
//     must answer each message with exactly one message.
//  5. Waits up to --timeout for the replies still on their way and prints
//     the report (--json for machines): messages sent and replied,
//     throughput (replies over the span from the first message to the last
//     reply), latency percentiles from an HDR histogram
//     (github.com/HdrHistogram/hdrhistogram-go, 1 µs to 10 min at three
//     significant digits), errors by kind, and with --pid NAME=PID each
//     process's CPU time per reply.
//
// A reply that does not come within --timeout is counted lost and its
// customer retired (a new number takes its place), so a late reply is
// counted as such rather than matched to a later message.
package load

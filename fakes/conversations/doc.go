// Package conversations is a stateful fake of the Twilio Conversations REST
// API v1 that the official SDKs cannot tell from Twilio: point their HTTP
// transport at it (see [Server.HTTPClient] and [RewriteTransport]) and they
// create conversations, participants and messages, page through lists and get
// Twilio-shaped errors. All 103 operations of the spec are served, statefully:
// conversations, participants, messages, receipts, scoped webhooks,
// configuration, address configuration, services, users and their
// conversations, roles (every service starts with Twilio's default roles),
// push credentials and bindings (seeded with [Server.AddBinding], since only
// client SDKs create them on Twilio), and service notification settings.
//
// It delivers signed webhooks the way Twilio does (account, service and
// conversation scope, Studio targets included) and simulates the SMS side of
// a conversation: [Server.Inbound] injects a customer's message and
// [Server.Outbox] shows what was "sent" to phones.
//
// Use it as a library ([NewServer]), as the binary cmd/fakeconversations, or
// as a container image. The README lists what it models and what it does not.
package conversations

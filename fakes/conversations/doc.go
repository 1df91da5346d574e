// Package conversations is a stateful fake of the Twilio Conversations REST
// API v1 that the official SDKs cannot tell from Twilio: point their HTTP
// transport at it (see [Server.HTTPClient] and [RewriteTransport]) and they
// create conversations, participants and messages, page through lists and get
// Twilio-shaped errors. It delivers signed webhooks the way Twilio does
// (account, service and conversation scope, Studio targets included) and
// simulates the SMS side of a conversation: [Server.Inbound] injects a
// customer's message and [Server.Outbox] shows what was "sent" to phones.
//
// Use it as a library ([NewServer]), as the binary cmd/fakeconversations, or
// as a container image. The README lists what it models and what it does not.
package conversations

// Package store defines FlowService's persistence contract: the records it
// keeps (flows and their revisions, executions, steps, inbound conversation
// events, timers, recorded sends and leases), the [Store] interface every
// backend implements, and the sentinel errors callers branch on.
//
// The package knows nothing about the engine. Execution state, contexts and
// flow definitions are opaque JSON documents ([json.RawMessage]): the engine
// serialises its whole execution state to JSON and the service hands it over
// unchanged, so the engine and the store can evolve independently.
//
// Implementations live in sub-packages named after the technology
// (store/sqlite, store/postgres). store/storetest holds the
// conformance suite every implementation must pass.
//
// # Conventions
//
//   - SIDs are chosen by the caller (the service owns ID generation so runs
//     can be seeded); the store checks their shape (two-letter prefix plus 32
//     hexadecimal digits).
//   - Times are kept in UTC with microsecond precision, the precision both
//     SQLite (as integers) and PostgreSQL (timestamptz) store exactly. A time
//     written with at most microsecond precision reads back equal and in UTC.
//     A zero creation or update time is replaced with the store's clock.
//   - Lists page with an opaque token; an empty NextPageToken means the last
//     page. Orders are stable and documented on each method.
//   - Errors wrap the sentinels below with %w; test them with errors.Is and,
//     for the typed ones, errors.As.
package store

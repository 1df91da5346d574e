-- Initial schema: the final shape of the SQLite store's migrations 0001 to
-- 0003 (the same tables, constraints, cascades and indexes).
--
-- Times are timestamptz (microsecond precision, like the store's contract);
-- a time that is not set (an event's done_time while it is pending, a timer's
-- claim_expire_time while it is unclaimed) is NULL. Strings that are not set
-- are '' (NOT NULL), as in the SQLite store and in store's records.
--
-- JSON documents are text, not jsonb: jsonb normalises documents (key order,
-- whitespace, duplicate keys), and the store hands them back byte for byte
-- (flow definitions are kept verbatim). The store validates them before
-- writing; an absent document is NULL.
--
-- Tables whose rows are listed or paged have a bigint identity column that
-- orders rows by insertion and serves as the keyset cursor, as SQLite's
-- INTEGER PRIMARY KEY does.

-- flows holds each flow's latest revision, so reads need no join.
CREATE TABLE flows (
	id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sid            text        NOT NULL UNIQUE,
	friendly_name  text        NOT NULL,
	status         text        NOT NULL CHECK (status IN ('draft', 'published')),
	revision       integer     NOT NULL CHECK (revision >= 1),
	definition     text,
	commit_message text        NOT NULL,
	valid          boolean     NOT NULL,
	errors         text,
	warnings       text,
	create_time    timestamptz NOT NULL,
	update_time    timestamptz NOT NULL
);

CREATE TABLE flow_revisions (
	flow_sid       text        NOT NULL REFERENCES flows (sid) ON DELETE CASCADE,
	revision       integer     NOT NULL CHECK (revision >= 1),
	friendly_name  text        NOT NULL,
	status         text        NOT NULL CHECK (status IN ('draft', 'published')),
	definition     text,
	commit_message text        NOT NULL,
	valid          boolean     NOT NULL,
	errors         text,
	warnings       text,
	update_time    timestamptz NOT NULL,
	PRIMARY KEY (flow_sid, revision)
);

-- GetLatestPublishedRevision reads the newest published revision.
CREATE INDEX flow_revisions_published ON flow_revisions (flow_sid, revision) WHERE status = 'published';

CREATE TABLE executions (
	id                      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sid                     text        NOT NULL UNIQUE,
	flow_sid                text        NOT NULL,
	flow_revision           integer     NOT NULL,
	contact_channel_address text        NOT NULL,
	conversation_sid        text        NOT NULL,
	status                  text        NOT NULL CHECK (status IN ('active', 'ended')),
	ended_reason            text        NOT NULL,
	state                   text,
	context                 text,
	version                 bigint      NOT NULL,
	create_time             timestamptz NOT NULL,
	update_time             timestamptz NOT NULL,
	-- Deleting a flow deletes its revisions, which deletes their executions.
	FOREIGN KEY (flow_sid, flow_revision) REFERENCES flow_revisions (flow_sid, revision) ON DELETE CASCADE
);

-- One active execution per (flow, conversation) for conversation executions
-- (studio.md §7.3) and per (flow, contact) for REST executions (§6.5). The
-- database enforces both, so no interleaving of replicas can break them.
CREATE UNIQUE INDEX executions_active_conversation ON executions (flow_sid, conversation_sid)
	WHERE status = 'active' AND conversation_sid <> '';
CREATE UNIQUE INDEX executions_active_contact ON executions (flow_sid, contact_channel_address)
	WHERE status = 'active' AND conversation_sid = '';
-- Listing a flow's executions newest first; its flow_sid prefix also serves
-- the cascade from flow_revisions.
CREATE INDEX executions_flow ON executions (flow_sid, id);

CREATE TABLE steps (
	id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sid               text        NOT NULL UNIQUE,
	execution_sid     text        NOT NULL REFERENCES executions (sid) ON DELETE CASCADE,
	sequence          bigint      NOT NULL CHECK (sequence >= 1),
	name              text        NOT NULL,
	transitioned_from text        NOT NULL,
	transitioned_to   text        NOT NULL,
	type              text        NOT NULL,
	context           text,
	create_time       timestamptz NOT NULL,
	-- The flow whose widget ran (the subflow's inside a Run Subflow widget)
	-- and, inside a subflow, the parent flow's step that entered it, as
	-- Studio's ExecutionStep has them.
	flow_sid          text        NOT NULL,
	parent_step_sid   text        NOT NULL,
	UNIQUE (execution_sid, sequence)
);

-- Per-conversation event queues: last_sequence numbers arrivals, and its row
-- is what concurrent RecordEvent calls for one conversation queue on.
CREATE TABLE event_queues (
	conversation_sid text   PRIMARY KEY,
	last_sequence    bigint NOT NULL
);

CREATE TABLE events (
	id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	conversation_sid  text        NOT NULL,
	sequence          bigint      NOT NULL,
	flow_sid          text        NOT NULL REFERENCES flows (sid) ON DELETE CASCADE,
	message_sid       text        NOT NULL,
	idempotency_token text        NOT NULL,
	payload           text,
	status            text        NOT NULL CHECK (status IN ('pending', 'done')),
	outcome           text,
	receive_time      timestamptz NOT NULL,
	-- NULL while the event is pending.
	done_time         timestamptz,
	UNIQUE (conversation_sid, sequence)
);

-- Redelivery detection (studio.md §7 / issue 4: I-Twilio-Idempotency-Token
-- and MessageSid).
CREATE UNIQUE INDEX events_message ON events (flow_sid, message_sid) WHERE message_sid <> '';
CREATE UNIQUE INDEX events_token ON events (flow_sid, idempotency_token) WHERE idempotency_token <> '';
-- The head of each queue, and the scans for queues with work.
CREATE INDEX events_pending ON events (conversation_sid, sequence) WHERE status = 'pending';
CREATE INDEX events_pending_age ON events (id) WHERE status = 'pending';
CREATE INDEX events_done_age ON events (receive_time) WHERE status = 'done';
-- PostgreSQL does not index referencing columns by itself; without this the
-- cascade of DeleteFlow would scan every event (the partial redelivery
-- indexes cannot serve it).
CREATE INDEX events_flow ON events (flow_sid);

CREATE TABLE leases (
	name        text        PRIMARY KEY,
	owner       text        NOT NULL,
	expire_time timestamptz NOT NULL,
	-- The owner the lease was last taken over from (AcquireLease's
	-- Lease.TakenFrom), '' when it was free or already the owner's.
	taken_from  text        NOT NULL DEFAULT ''
);

-- Heartbeats renew, and hand-backs end, all leases of one owner.
CREATE INDEX leases_owner ON leases (owner);

CREATE TABLE timers (
	id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	execution_sid     text        NOT NULL REFERENCES executions (sid) ON DELETE CASCADE,
	kind              text        NOT NULL,
	fire_time         timestamptz NOT NULL,
	payload           text,
	-- '' and NULL while unclaimed.
	claim_owner       text        NOT NULL DEFAULT '',
	claim_expire_time timestamptz,
	-- Claims so far, the current one included (Timer.Claims).
	claims            integer     NOT NULL DEFAULT 0,
	create_time       timestamptz NOT NULL,
	UNIQUE (execution_sid, kind)
);

CREATE INDEX timers_due ON timers (fire_time, id);
CREATE INDEX timers_claim_owner ON timers (claim_owner) WHERE claim_owner <> '';

CREATE TABLE sends (
	key           text        PRIMARY KEY,
	execution_sid text        NOT NULL REFERENCES executions (sid) ON DELETE CASCADE,
	result        text,
	create_time   timestamptz NOT NULL
);

CREATE INDEX sends_execution ON sends (execution_sid);

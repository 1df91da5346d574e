-- Initial schema. Times are INTEGER microseconds since the Unix epoch (UTC);
-- JSON documents are TEXT (NULL when absent). Every table has an INTEGER
-- PRIMARY KEY that orders rows by insertion and serves as the keyset cursor
-- for paging.

-- flows holds each flow's latest revision, so reads need no join.
CREATE TABLE flows (
	id             INTEGER PRIMARY KEY,
	sid            TEXT    NOT NULL UNIQUE,
	friendly_name  TEXT    NOT NULL,
	status         TEXT    NOT NULL CHECK (status IN ('draft', 'published')),
	revision       INTEGER NOT NULL CHECK (revision >= 1),
	definition     TEXT,
	commit_message TEXT    NOT NULL,
	valid          INTEGER NOT NULL,
	errors         TEXT,
	warnings       TEXT,
	create_time    INTEGER NOT NULL,
	update_time    INTEGER NOT NULL
);

CREATE TABLE flow_revisions (
	flow_sid       TEXT    NOT NULL REFERENCES flows (sid) ON DELETE CASCADE,
	revision       INTEGER NOT NULL CHECK (revision >= 1),
	friendly_name  TEXT    NOT NULL,
	status         TEXT    NOT NULL CHECK (status IN ('draft', 'published')),
	definition     TEXT,
	commit_message TEXT    NOT NULL,
	valid          INTEGER NOT NULL,
	errors         TEXT,
	warnings       TEXT,
	update_time    INTEGER NOT NULL,
	PRIMARY KEY (flow_sid, revision)
) WITHOUT ROWID;

-- LatestPublished is the newest published revision.
CREATE INDEX flow_revisions_published ON flow_revisions (flow_sid, revision) WHERE status = 'published';

CREATE TABLE executions (
	id                      INTEGER PRIMARY KEY,
	sid                     TEXT    NOT NULL UNIQUE,
	flow_sid                TEXT    NOT NULL,
	flow_revision           INTEGER NOT NULL,
	contact_channel_address TEXT    NOT NULL,
	conversation_sid        TEXT    NOT NULL,
	status                  TEXT    NOT NULL CHECK (status IN ('active', 'ended')),
	ended_reason            TEXT    NOT NULL,
	state                   TEXT,
	context                 TEXT,
	version                 INTEGER NOT NULL,
	create_time             INTEGER NOT NULL,
	update_time             INTEGER NOT NULL,
	-- Deleting a flow deletes its revisions, which deletes their executions.
	FOREIGN KEY (flow_sid, flow_revision) REFERENCES flow_revisions (flow_sid, revision) ON DELETE CASCADE
);

-- One active execution per (flow, conversation) for conversation executions
-- (studio.md §7.3) and per (flow, contact) for REST executions (§6.5). The
-- database enforces both so no interleaving of replicas can break them.
CREATE UNIQUE INDEX executions_active_conversation ON executions (flow_sid, conversation_sid)
	WHERE status = 'active' AND conversation_sid <> '';
CREATE UNIQUE INDEX executions_active_contact ON executions (flow_sid, contact_channel_address)
	WHERE status = 'active' AND conversation_sid = '';
-- Listing a flow's executions newest first.
CREATE INDEX executions_flow ON executions (flow_sid, id);

CREATE TABLE steps (
	id                INTEGER PRIMARY KEY,
	sid               TEXT    NOT NULL UNIQUE,
	execution_sid     TEXT    NOT NULL REFERENCES executions (sid) ON DELETE CASCADE,
	sequence          INTEGER NOT NULL CHECK (sequence >= 1),
	name              TEXT    NOT NULL,
	transitioned_from TEXT    NOT NULL,
	transitioned_to   TEXT    NOT NULL,
	type              TEXT    NOT NULL,
	context           TEXT,
	create_time       INTEGER NOT NULL,
	UNIQUE (execution_sid, sequence)
);

-- Per-conversation event queues: last_sequence numbers arrivals.
CREATE TABLE event_queues (
	conversation_sid TEXT    PRIMARY KEY,
	last_sequence    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE events (
	id                INTEGER PRIMARY KEY,
	conversation_sid  TEXT    NOT NULL,
	sequence          INTEGER NOT NULL,
	flow_sid          TEXT    NOT NULL REFERENCES flows (sid) ON DELETE CASCADE,
	message_sid       TEXT    NOT NULL,
	idempotency_token TEXT    NOT NULL,
	payload           TEXT,
	status            TEXT    NOT NULL CHECK (status IN ('pending', 'done')),
	outcome           TEXT,
	receive_time      INTEGER NOT NULL,
	done_time         INTEGER NOT NULL,
	UNIQUE (conversation_sid, sequence)
);

-- Redelivery detection (studio.md §7 / issue 4: I-Twilio-Idempotency-Token
-- and MessageSid).
CREATE UNIQUE INDEX events_message ON events (flow_sid, message_sid) WHERE message_sid <> '';
CREATE UNIQUE INDEX events_token ON events (flow_sid, idempotency_token) WHERE idempotency_token <> '';
-- The head of each queue, and the scan for queues with work.
CREATE INDEX events_pending ON events (conversation_sid, sequence) WHERE status = 'pending';
CREATE INDEX events_pending_age ON events (id) WHERE status = 'pending';
CREATE INDEX events_done_age ON events (receive_time) WHERE status = 'done';

CREATE TABLE leases (
	name        TEXT    PRIMARY KEY,
	owner       TEXT    NOT NULL,
	expire_time INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE timers (
	id                INTEGER PRIMARY KEY,
	execution_sid     TEXT    NOT NULL REFERENCES executions (sid) ON DELETE CASCADE,
	kind              TEXT    NOT NULL,
	fire_time         INTEGER NOT NULL,
	payload           TEXT,
	claim_owner       TEXT    NOT NULL,
	claim_expire_time INTEGER NOT NULL,
	create_time       INTEGER NOT NULL,
	UNIQUE (execution_sid, kind)
);

CREATE INDEX timers_due ON timers (fire_time, id);

CREATE TABLE sends (
	key           TEXT    PRIMARY KEY,
	execution_sid TEXT    NOT NULL REFERENCES executions (sid) ON DELETE CASCADE,
	result        TEXT,
	create_time   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX sends_execution ON sends (execution_sid);

-- convoflow_fail raises an error with the given SQLSTATE, message and
-- detail. The deferred writes (deferred.go) call it to fail their own
-- statement, and with it the transaction, where the immediate write would
-- find that it changed nothing and read why: a deferred write travels
-- with the transaction's COMMIT, so only a failing statement can keep the
-- COMMIT from committing. The codes are the store's own (class CV), which
-- sqlError maps to its sentinels:
--
--   CV001 not found, CV002 conflict, CV003 already exists, CV004 lease
--   not held (detail: the holder's expiry in Unix microseconds and owner,
--   or empty when there is no lease), CV005 execution not created
--   (detail: whether its revision exists, whether its SID is taken, and
--   the SID of the active execution in its way, if any), CV006 execution
--   not updated (detail: its version and status).
--
-- OR REPLACE, so that a schema whose record of this migration was lost
-- (as a test of older schemas arranges) migrates again. VOLATILE (the
-- default, said here because it matters): the planner must
-- never evaluate a call ahead of time, only the CASE branch that reaches
-- it.
CREATE OR REPLACE FUNCTION convoflow_fail(code text, message text, detail text DEFAULT '') RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = detail;
END
$$;

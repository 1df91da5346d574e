-- Steps name the flow whose widget ran (the subflow's inside a Run Subflow
-- widget) and, inside a subflow, the parent flow's step that entered it, as
-- Studio's ExecutionStep does (flow_sid, parent_step_sid).
ALTER TABLE steps ADD COLUMN flow_sid TEXT NOT NULL DEFAULT '';
ALTER TABLE steps ADD COLUMN parent_step_sid TEXT NOT NULL DEFAULT '';

-- Steps written before this migration ran in some flow of their execution;
-- which one was not recorded, so they are given the execution's flow.
UPDATE steps SET flow_sid = (SELECT flow_sid FROM executions WHERE executions.sid = steps.execution_sid);

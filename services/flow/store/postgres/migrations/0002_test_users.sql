-- A flow's test users (studio.md §6.1, §6.4): the contacts whose new
-- executions run the flow's latest revision, draft or published. They belong
-- to the flow, not to a revision, so they live on the flows row: a new
-- revision keeps them, and deleting the flow deletes them. NULL when there
-- are none. (SQLite's migration 0004 adds the same column as JSON text.)
--
-- A column with no default is added without rewriting the table.
ALTER TABLE flows ADD COLUMN test_users text[];

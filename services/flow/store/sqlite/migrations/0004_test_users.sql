-- A flow's test users (studio.md §6.1, §6.4): the contacts whose new
-- executions run the flow's latest revision, draft or published. They belong
-- to the flow, not to a revision, so they live on the flows row: a new
-- revision keeps them, and deleting the flow deletes them. A JSON array of
-- strings as plain TEXT (never a compressed document), so that json_each
-- reads it in the query that picks a contact's revision; NULL when there
-- are none.
ALTER TABLE flows ADD COLUMN test_users TEXT;

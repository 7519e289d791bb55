-- migrata: no-transaction
-- The index behind GET /notes (pinned notes first, then the newest). CONCURRENTLY builds it
-- without blocking writes to a table in use; PostgreSQL refuses that inside a transaction, hence
-- the directive (migrata would also have noticed on its own). Should the build fail, PostgreSQL
-- leaves an invalid index behind and migrata records the failure: drop the index, then run
-- `migrata up --resume 0003`.
CREATE INDEX CONCURRENTLY notes_listing_idx ON notes (pinned DESC, created_at DESC, id DESC);

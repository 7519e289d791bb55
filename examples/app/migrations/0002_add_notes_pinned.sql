-- Pinned notes are listed first. A constant default does not rewrite the table (PostgreSQL 11+).
ALTER TABLE notes ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT false;

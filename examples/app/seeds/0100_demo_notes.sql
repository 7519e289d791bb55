-- Demo data for development and tests, data only. Every file in seeds/ applies only in the
-- environments of `seeds_environments` (migrata.toml: dev, test), so production never gets it:
-- there migrata shows it as not-applicable. Its version (0100) must not be used by a file in
-- migrations/.
INSERT INTO notes (title, body, pinned) VALUES
    ('Welcome', 'This note comes from seeds/0100_demo_notes.sql.', true),
    ('Second note', 'Seeds load with MIGRATA_ENV=dev or MIGRATA_ENV=test.', false);

"""`migrata dump` and `dump_schema`: the schema as canonical text, migrata's own tables left
out, written after every run that changes the database (SQLite and ClickHouse here; the
PostgreSQL and MariaDB readers have their own contract tests)."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

from pathlib import Path

from cli_support import clean_cli_state, run_cli  # noqa: F401 - fixtures are found by name

from conftest import Database, write_migrations
from migrata import Migrator

FIRST = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n"
    "CREATE INDEX users_email ON users (email);\n"
    "CREATE VIEW emails AS SELECT email FROM users;\n"
)
SECOND = "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));\n"


def test_dump_prints_the_schema_without_migratas_tables(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_users.sql": FIRST})
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", sqlite_db.url, "-d", folder, "dump")
    assert result.code == 0, result.output
    assert result.out.startswith("-- schema after migration 0001")
    assert (
        'CREATE TABLE "users" (\n    "id" INTEGER PRIMARY KEY,\n    "email" TEXT NOT NULL,\n);'
        in result.out
    )
    assert "CREATE INDEX users_email ON users (email);" in result.out
    assert "CREATE VIEW emails" in result.out
    assert "migrata_history" not in result.out
    # --output writes the same text to a file.
    written = tmp_path / "schema.sql"
    assert run_cli("-u", sqlite_db.url, "-d", folder, "dump", "-o", written).code == 0
    assert written.read_text() == result.out


def test_equal_schemas_give_identical_text_whatever_the_order(tmp_path: Path) -> None:
    one = write_migrations(tmp_path / "one", {"0001_a.sql": FIRST + SECOND})
    two = write_migrations(
        tmp_path / "two",
        {
            "0001_b.sql": FIRST.split("\n")[0] + "\n" + SECOND,
            "0002_c.sql": "\n".join(FIRST.split("\n")[1:]),
        },
    )
    a = Migrator(f"sqlite:///{tmp_path / 'a.db'}", directory=one)
    b = Migrator(f"sqlite:///{tmp_path / 'b.db'}", directory=two)
    a.up()
    b.up()
    body = lambda text: text.split("\n", 2)[2]
    assert body(a.dump()) == body(b.dump())
    assert a.dump().startswith("-- schema after migration 0001")
    assert b.dump().startswith("-- schema after migration 0002")


def test_dump_schema_is_written_after_up_and_down(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_users.sql": FIRST})
    write_migrations(
        folder, {"0002_posts.up.sql": SECOND, "0002_posts.down.sql": "DROP TABLE posts;\n"}
    )
    Path("migrata.toml").write_text(
        f'url = "{sqlite_db.url}"\ndir = "{folder}"\ndump_schema = "db/schema.sql"\n'
    )
    schema = Path("db/schema.sql")
    assert run_cli("up").code == 0
    after_up = schema.read_text()
    assert 'CREATE TABLE "posts"' in after_up and after_up.startswith(
        "-- schema after migration 0002"
    )
    assert run_cli("down").code == 0
    after_down = schema.read_text()
    assert 'CREATE TABLE "posts"' not in after_down and 'CREATE TABLE "users"' in after_down
    schema.unlink()
    assert run_cli("up", "--to", "0001").code == 0  # nothing to apply: nothing written
    assert not schema.exists()
    assert run_cli("--dump-schema", "other.sql", "up").code == 0
    assert 'CREATE TABLE "posts"' in Path("other.sql").read_text()
    # A foreign key is part of its table's text.
    assert 'FOREIGN KEY ("user_id") REFERENCES "users" ("id")' in Path("other.sql").read_text()


def test_a_rebuilt_sqlite_table_reads_the_same(tmp_path: Path) -> None:
    """SQLite keeps a table's CREATE as written: a rebuild (new table, copy, drop, rename)
    with other quotes and line breaks is still the same table."""
    plain = write_migrations(
        tmp_path / "plain",
        {"0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT DEFAULT 'x');\n"},
    )
    rebuilt = write_migrations(
        tmp_path / "rebuilt",
        {
            "0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n",
            "0002_t.sql": 'CREATE TABLE "t_new" (\n  "id" INTEGER PRIMARY KEY,\n  "v" TEXT DEFAULT \'x\'\n);\n'
            "INSERT INTO t_new SELECT * FROM t;\nDROP TABLE t;\nALTER TABLE t_new RENAME TO t;\n",
        },
    )
    a = Migrator(f"sqlite:///{tmp_path / 'a.db'}", directory=plain)
    b = Migrator(f"sqlite:///{tmp_path / 'b.db'}", directory=rebuilt)
    a.up()
    b.up()
    assert a.dump().split("\n", 1)[1] == b.dump().split("\n", 1)[1]


def test_clickhouse_dump(run_cli, clickhouse_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_events.sql": "CREATE TABLE events (id UInt64, kind String) "
            "ENGINE = MergeTree ORDER BY id;\n",
        },
    )
    migrator = Migrator(clickhouse_db.url, directory=folder)
    migrator.up()
    text = migrator.dump()
    assert "CREATE TABLE" in text and "events" in text and "MergeTree" in text
    assert "migrata_history" not in text

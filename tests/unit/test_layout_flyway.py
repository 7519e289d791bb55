"""The Flyway reader: versioned, undo and repeatable scripts, script config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import discover_migrations
from migrata.errors import AmbiguousLayout, DiscoveryError, DuplicateVersion
from migrata.layouts import flyway
from migrata.layouts.base import DISTINCTIVE, NO, Entry
from migrata.models import Version
from migrata.sqltext import checksum


def write(root: Path, relative: str, content: str | bytes = "SELECT 1;\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def entries(root: Path) -> list[Entry]:
    return list(Entry(root, str(root)).children())


def read(root: Path) -> flyway.ReadResult:
    return flyway.read(entries(root))


def typical(root: Path) -> None:
    write(root, "V1__create_users.sql", "CREATE TABLE users (id int);\n")
    write(root, "U1__create_users.sql", "DROP TABLE users;\n")
    write(root, "V1.2__add_posts.sql", "CREATE TABLE posts (id int);\n")
    write(root, "V1_3__index_posts.sql", "CREATE INDEX CONCURRENTLY i ON posts (id);\n")
    write(root, "V1_3__index_posts.sql.conf", "executeInTransaction=false\n")
    write(root, "V2.0.1__seed.sql", "INSERT INTO users VALUES (1);\n")
    write(root, "V10__late.sql", "SELECT 10;\n")
    write(root, "R__user_view.sql", "CREATE OR REPLACE VIEW v AS SELECT 1;\n")
    write(root, "R__another_view.sql", "CREATE OR REPLACE VIEW w AS SELECT 2;\n")


def test_versions_order_part_by_part_as_numbers(tmp_path: Path) -> None:
    typical(tmp_path)
    result = read(tmp_path)
    assert result.layout == "flyway"
    versioned = [m for m in result.migrations if not m.repeatable]
    # Flyway stores 1_3 as 1.3
    assert [m.version.text for m in versioned] == ["1", "1.2", "1.3", "2.0.1", "10"]
    assert [m.version.key for m in versioned] == [(1,), (1, 2), (1, 3), (2, 0, 1), (10,)]
    assert [m.name for m in versioned] == [
        "create_users",
        "add_posts",
        "index_posts",
        "seed",
        "late",
    ]


def test_description_and_script_are_kept_as_flyway_records_them(tmp_path: Path) -> None:
    typical(tmp_path)
    result = read(tmp_path)
    users = result.migrations[0]
    assert users.info("description") == "create users"
    assert users.info("script") == "V1__create_users.sql"
    index = result.migrations[2]
    assert index.info("script") == "V1_3__index_posts.sql"
    assert result.migrations[-1].info("description") == "user view"


def test_undo_is_the_down_of_its_version(tmp_path: Path) -> None:
    typical(tmp_path)
    users, posts = read(tmp_path).migrations[:2]
    assert users.down is not None
    assert users.down.path == f"{tmp_path}/U1__create_users.sql"
    assert users.down.text == "DROP TABLE users;\n"
    assert users.checksum == checksum("CREATE TABLE users (id int);\n")
    assert posts.down is None


def test_repeatables_come_last_in_description_order_without_down(tmp_path: Path) -> None:
    typical(tmp_path)
    result = read(tmp_path)
    repeatables = result.migrations[-2:]
    assert [m.name for m in repeatables] == ["another_view", "user_view"]
    assert all(m.repeatable and m.down is None for m in repeatables)
    assert repeatables[1].version == Version.repeatable("user_view")
    assert repeatables[1].version.text == "R__user_view"
    assert not any(m.repeatable for m in result.migrations[:-2])


def test_script_config_turns_the_transaction_off_explicitly(tmp_path: Path) -> None:
    typical(tmp_path)
    result = read(tmp_path)
    index = result.migrations[2]
    assert not index.transactional
    assert index.up.explicit_transaction
    others = [m for m in result.migrations if m is not index]
    assert all(m.transactional and not m.up.explicit_transaction for m in others)
    # the .conf file is consumed, not ignored
    assert result.ignored == ()
    assert result.warnings == ()


@pytest.mark.parametrize(
    "text",
    [
        "# comment\n! also a comment\n\nexecuteInTransaction = false\n",
        "executeInTransaction: FALSE\r\n",
        "executeInTransaction false\n",
        "encoding=UTF-8\nplaceholderReplacement=false\nexecuteInTransaction=false\n",
    ],
)
def test_script_config_spellings(tmp_path: Path, text: str) -> None:
    write(tmp_path, "V1__a.sql")
    write(tmp_path, "V1__a.sql.conf", text)
    (migration,) = read(tmp_path).migrations
    assert not migration.transactional and migration.up.explicit_transaction


def test_execute_in_transaction_true_is_no_marker(tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql")
    write(tmp_path, "V1__a.sql.conf", "executeInTransaction=true\n")
    (migration,) = read(tmp_path).migrations
    assert migration.transactional and not migration.up.explicit_transaction


def test_script_config_of_an_undo_applies_to_the_down(tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql")
    write(tmp_path, "U1__a.sql")
    write(tmp_path, "U1__a.sql.conf", "executeInTransaction=false\n")
    (migration,) = read(tmp_path).migrations
    assert migration.transactional
    assert migration.down is not None and not migration.down.transactional


def test_should_execute_false_skips_the_migration(tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql")
    write(tmp_path, "V2__b.sql")
    write(tmp_path, "V2__b.sql.conf", "shouldExecute=false\n")
    a, b = read(tmp_path).migrations
    assert a.skip_reason is None
    assert b.skip_reason is not None and "shouldExecute" in b.skip_reason


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("executeInTransaction=false\nfrobnicate=1\n", 2, "unknown setting `frobnicate`"),
        ("# x\n=false\n", 2, "key=value"),
        ("executeInTransaction=nope\n", 1, "true or false"),
        ("\n\nexecuteInTransaction\n", 3, "true or false"),
        ("encoding=ISO_8859_1\n", 1, "UTF-8"),
        ("shouldExecute=${env}==prod\n", 1, "cannot evaluate"),
    ],
)
def test_a_bad_script_config_names_the_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    write(tmp_path, "V1__a.sql")
    conf = write(tmp_path, "V1__a.sql.conf", text)
    with pytest.raises(DiscoveryError) as info:
        read(tmp_path)
    assert info.value.path == str(conf)
    assert info.value.line == line
    assert str(info.value).startswith(f"{conf}:{line}: ")
    assert words in str(info.value)


def test_a_script_config_without_its_script_is_warned_about(tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql")
    orphan = write(tmp_path, "V2__b.sql.conf", "executeInTransaction=false\n")
    result = read(tmp_path)
    assert result.ignored == (str(orphan),)
    assert len(result.warnings) == 1 and result.warnings[0].startswith(f"{orphan}: ")


@pytest.mark.parametrize(
    ("files", "reported", "other"),
    [
        (["V1_1__a.sql", "V1.1__b.sql"], "V1_1__a.sql", "V1.1__b.sql"),
        (["V1__a.sql", "V1.0__b.sql"], "V1__a.sql", "V1.0__b.sql"),
        (["V001__a.sql", "V1__a.sql"], "V1__a.sql", "V001__a.sql"),
        (["V1__x.sql", "U1__a.sql", "U1.0__b.sql"], "U1__a.sql", "U1.0__b.sql"),
        (["R__a_b.sql", "R__a b.sql"], "R__a_b.sql", "R__a b.sql"),
    ],
)
def test_one_version_twice_names_both_files(
    tmp_path: Path, files: list[str], reported: str, other: str
) -> None:
    for name in files:
        write(tmp_path, name)
    with pytest.raises(DuplicateVersion) as info:
        read(tmp_path)
    assert info.value.path == f"{tmp_path}/{reported}"
    assert f"{tmp_path}/{other}" in str(info.value)


def test_an_undo_without_its_versioned_migration_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql")
    undo = write(tmp_path, "U2__b.sql")
    with pytest.raises(DiscoveryError) as info:
        read(tmp_path)
    assert info.value.path == str(undo)
    assert "V2__b.sql" in str(info.value)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("V2_b.sql", "no `__`"),
        ("V2.sql", "no `__`"),
        ("V2__.sql", "description after `__` is empty"),
        ("V2a__b.sql", "'2a' is not a Flyway version"),
        ("V2..1__b.sql", "is not a Flyway version"),
        ("v2__b.sql", "rename it to V2__b.sql"),
        ("r__b.sql", "rename it to R__b.sql"),
        ("V2__b.SQL", "rename it to V2__b.sql"),
        ("R2__b.sql", "repeatable migration has no version"),
    ],
)
def test_a_sql_file_without_a_flyway_name_is_skipped_with_a_warning(
    tmp_path: Path, name: str, words: str
) -> None:
    """Flyway skips names it cannot parse (validateMigrationNaming is off by default)."""
    write(tmp_path, "V1__a.sql")
    write(tmp_path, name)
    assert flyway.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert [m.version.text for m in result.migrations] == ["1"]
    assert f"{tmp_path}/{name}" in result.ignored
    (warning,) = result.warnings
    assert warning.startswith(f"{tmp_path}/{name}: ")
    assert words in warning and "Flyway skips it" in warning


def test_a_migrata_name_beside_flyway_names_is_ambiguous(tmp_path: Path) -> None:
    """Flyway would skip 0002_b.sql, migrata's own layout would run it: not guessed."""
    write(tmp_path, "V1__a.sql")
    write(tmp_path, "0002_b.sql")
    with pytest.raises(AmbiguousLayout) as info:
        discover_migrations(tmp_path)
    assert "flyway would run V1__a.sql and skip 0002_b.sql" in str(info.value)
    result = discover_migrations(tmp_path, layout="flyway")
    assert [m.version.text for m in result.migrations] == ["1"]
    assert "this folder holds Flyway migrations (V1__a.sql)" in result.warnings[0]


def test_callbacks_and_baselines_are_ignored_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql")
    callback = write(tmp_path, "afterMigrate.sql")
    described = write(tmp_path, "beforeEachMigrate__log.sql")
    baseline = write(tmp_path, "B5_1__baseline.sql")
    conf = write(tmp_path, "afterMigrate.sql.conf", "executeInTransaction=false\n")
    write(tmp_path, "flyway.toml", "[flyway]\n")
    result = read(tmp_path)
    assert [m.version.text for m in result.migrations] == ["1"]
    assert set(result.ignored) == {
        str(callback),
        str(conf),
        str(described),
        str(baseline),
        f"{tmp_path}/flyway.toml",
    }
    assert len(result.warnings) == 3
    assert any(w.startswith(f"{baseline}: ") and "up to 5.1" in w for w in result.warnings)
    assert any(w.startswith(f"{callback}: ") and "callback" in w for w in result.warnings)


def test_placeholders_are_warned_about_unless_replacement_is_off(tmp_path: Path) -> None:
    used = write(tmp_path, "V1__a.sql", "CREATE TABLE ${schema}.t (id int);\n")
    write(tmp_path, "V2__b.sql", "CREATE TABLE ${schema}.u (id int);\n")
    write(tmp_path, "V2__b.sql.conf", "placeholderReplacement=false\n")
    result = read(tmp_path)
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"{used}: ")


def test_sub_folders_are_read_and_recorded_in_the_script(tmp_path: Path) -> None:
    write(tmp_path, "release1/V1__a.sql")
    write(tmp_path, "release1/V1__a.sql.conf", "executeInTransaction=false\n")
    write(tmp_path, "release2/deep/V2__b.sql")
    write(tmp_path, "release2/notes.md")
    assert flyway.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert result.layout == "flyway"
    a, b = result.migrations
    assert a.info("script") == "release1/V1__a.sql"
    assert not a.transactional
    assert b.info("script") == "release2/deep/V2__b.sql"
    assert b.up.path == f"{tmp_path}/release2/deep/V2__b.sql"
    assert result.ignored == (f"{tmp_path}/release2/notes.md",)


def test_one_version_in_two_sub_folders_is_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "a/V1__x.sql")
    write(tmp_path, "b/V1__y.sql")
    with pytest.raises(DuplicateVersion) as info:
        read(tmp_path)
    assert info.value.path == f"{tmp_path}/b/V1__y.sql"
    assert f"{tmp_path}/a/V1__x.sql" in str(info.value)


def test_discovery_picks_flyway(tmp_path: Path) -> None:
    typical(tmp_path)
    result = discover_migrations(tmp_path)
    assert result.layout == "flyway"
    assert result.also == ()
    assert len(result.migrations) == 7


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["README.md"],
        ["0001_a.sql", "0002_b/up.sql"],
        ["V0001.Init.up.sql"],  # the dotted layout, not Flyway
        ["v1__lower.sql", "V2_one_underscore.sql", "V3__x.SQL"],  # near misses are no evidence
    ],
)
def test_detect_is_no_without_a_flyway_name(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        write(tmp_path, name)
    assert flyway.detect(entries(tmp_path)) == NO


def test_crlf_and_bom_copies_keep_their_checksums(tmp_path: Path) -> None:
    typical(tmp_path / "lf")
    for source in sorted((tmp_path / "lf").iterdir()):
        data = source.read_bytes().replace(b"\n", b"\r\n")
        write(tmp_path / "crlf", source.name, b"\xef\xbb\xbf" + data)
    lf = read(tmp_path / "lf").migrations
    crlf = read(tmp_path / "crlf").migrations
    assert [m.checksum for m in crlf] == [m.checksum for m in lf]
    assert [m.transactional for m in crlf] == [m.transactional for m in lf]
    assert not crlf[2].transactional  # the CRLF .conf still reads

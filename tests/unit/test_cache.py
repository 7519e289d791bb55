"""The cache of split results (migrata.cache): the same statements and transaction decisions as
splitting directly, whatever the text; damaged shards ignored and written again; concurrent
writers; a folder that cannot be written."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrata.cache import SplitCache, cache_folder
from migrata.errors import SQLSyntaxError
from migrata.models import Script
from migrata.split import split_script
from migrata.split.transactions import decide_transaction

DIALECTS = ["postgresql", "sqlite", "mysql", "clickhouse"]

#: SQL-ish text: keywords, quotes, dollar quotes, comments, delimiters and any other character
#: a UTF-8 file can hold.
_PIECES = st.sampled_from(
    [
        "SELECT 1",
        ";",
        "; ",
        "\n",
        "\r\n",
        "'",
        '"',
        "$$",
        "$x$",
        "--",
        "/*",
        "*/",
        "BEGIN",
        "COMMIT",
        "CREATE INDEX CONCURRENTLY i ON t (a)",
        "VACUUM",
        "DELIMITER //",
        "//",
        "CREATE TABLE t (a int)",
        "E'\\''",
        "é",
        "\u2028",
    ]
)
_TEXT = st.lists(
    st.one_of(_PIECES, st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)),
    max_size=12,
).map("".join)


def _direct(script: Script, dialect: str, server_version: int | None) -> object:
    """What splitting and deciding without the cache gives: the statements and the decided
    script, or the error's type and text (SQLSyntaxError; sqlite3's ValueError for a NUL)."""
    try:
        statements = split_script(script, dialect)
    except (SQLSyntaxError, ValueError) as exc:
        return (type(exc).__name__, str(exc))
    return statements, decide_transaction(
        script, statements, dialect, server_version=server_version
    )


def _cached(cache: SplitCache, script: Script, dialect: str, server_version: int | None) -> object:
    try:
        found = cache.prepare(script, dialect, server_version=server_version)
    except (SQLSyntaxError, ValueError) as exc:
        return (type(exc).__name__, str(exc))
    finally:
        cache.flush()
    return found


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=_TEXT,
    dialect=st.sampled_from(DIALECTS),
    first_line=st.integers(1, 40),
    transactional=st.booleans(),
    explicit=st.booleans(),
    server_version=st.sampled_from([None, 110000, 150004]),
)
def test_any_text_comes_back_as_splitting_it_directly_gives_it(
    tmp_path_factory: pytest.TempPathFactory,
    text: str,
    dialect: str,
    first_line: int,
    transactional: bool,
    explicit: bool,
    server_version: int | None,
) -> None:
    """Cold (split and stored), warm in the same process, and warm in a new cache object
    reading the files: always what split_script and decide_transaction give."""
    folder = str(tmp_path_factory.mktemp("cache"))
    script = Script(
        path="m/0001_x.sql",
        text=text,
        first_line=first_line,
        transactional=transactional,
        explicit_transaction=explicit,
    )
    expected = _direct(script, dialect, server_version)
    cache = SplitCache(folder)
    assert _cached(cache, script, dialect, server_version) == expected
    assert _cached(cache, script, dialect, server_version) == expected
    assert _cached(SplitCache(folder), script, dialect, server_version) == expected


def test_a_warm_cache_does_not_split_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script(path="m.sql", text="CREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;\n")
    cold = SplitCache(str(tmp_path))
    statements, decided = cold.prepare(script, "postgresql", server_version=None)
    cold.flush()
    assert not decided.transactional and "CONCURRENTLY" in (decided.transaction_note or "")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("split again")

    monkeypatch.setattr("migrata.cache.split_script", refuse)
    monkeypatch.setattr("migrata.cache.decide_transaction", refuse)
    warm = SplitCache(str(tmp_path))
    assert warm.prepare(script, "postgresql", server_version=None) == (statements, decided)


def test_one_changed_byte_is_split_again(tmp_path: Path) -> None:
    cache = SplitCache(str(tmp_path))
    first = Script(path="m.sql", text="SELECT 1; SELECT 2;")
    cache.split(first, "postgresql")
    cache.flush()
    changed = Script(path="m.sql", text="SELECT 1; SELECT 3;")
    again = SplitCache(str(tmp_path))
    assert [s.sql for s in again.split(changed, "postgresql")] == ["SELECT 1", "SELECT 3"]
    assert again.key(first, "postgresql") != again.key(changed, "postgresql")
    assert again.key(first, "postgresql") != again.key(first, "sqlite")


def test_a_syntax_error_is_never_cached(tmp_path: Path) -> None:
    script = Script(path="m/0002_bad.sql", text="SELECT 1;\nSELEC 2;\n")
    for _ in range(2):
        cache = SplitCache(str(tmp_path))
        with pytest.raises(SQLSyntaxError) as raised:
            cache.prepare(script, "postgresql", server_version=None)
        cache.flush()
        assert raised.value.path == "m/0002_bad.sql" and raised.value.line == 2
    assert list(tmp_path.rglob("*.json")) == []


def _shards(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json"))


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"format": 1, "entries": []}).encode(),
        b"truncated:" + b'{"format":1,"entries":{"',
    ],
)
def test_a_damaged_shard_is_ignored_and_written_again(tmp_path: Path, damage: bytes) -> None:
    script = Script(path="m.sql", text="SELECT 1;\nSELECT 2;\n")
    cache = SplitCache(str(tmp_path))
    expected = cache.split(script, "sqlite")
    cache.flush()
    (shard,) = _shards(tmp_path)
    shard.write_bytes(damage)
    again = SplitCache(str(tmp_path))
    assert again.split(script, "sqlite") == expected
    again.flush()
    key = again.key(script, "sqlite")
    assert key in json.loads(shard.read_bytes())["entries"]


@pytest.mark.parametrize(
    "statements",
    [
        "not a list",
        [["SELECT 1", "one", 1, 0]],
        [["SELECT 1", 1, 1]],
        [[None, 1, 1, 0]],
        [["SELECT 1", 1, 1, 10_000]],
    ],
)
def test_a_damaged_entry_is_split_again(tmp_path: Path, statements: object) -> None:
    script = Script(path="m.sql", text="SELECT 1;\n")
    cache = SplitCache(str(tmp_path))
    expected = cache.split(script, "sqlite")
    cache.flush()
    (shard,) = _shards(tmp_path)
    data = json.loads(shard.read_bytes())
    key = cache.key(script, "sqlite")
    data["entries"][key]["statements"] = statements
    shard.write_text(json.dumps(data))
    again = SplitCache(str(tmp_path))
    assert again.split(script, "sqlite") == expected
    again.flush()
    rewritten = json.loads(shard.read_bytes())["entries"][key]["statements"]
    assert rewritten == [[s.sql, s.line, s.column, s.offset] for s in expected]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_never_fails_a_run(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        cache = SplitCache(str(folder))
        assert [s.sql for s in cache.split(Script(path="m.sql", text="SELECT 1;"), "sqlite")]
        cache.flush()
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_folder_that_cannot_be_created_never_fails_a_run(tmp_path: Path) -> None:
    """A regular file where the folder should be (as good as read-only, for root too)."""
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    for folder in (blocker, blocker / "below"):
        cache = SplitCache(str(folder))
        script = Script(path="m.sql", text="SELECT 1; SELECT 2;")
        assert len(cache.split(script, "postgresql")) == 2
        cache.flush()
    assert blocker.read_text() == "a file, not a folder"


def test_a_missing_folder_is_created(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet"
    cache = SplitCache(str(folder))
    cache.split(Script(path="m.sql", text="SELECT 1;"), "sqlite")
    cache.flush()
    assert len(_shards(folder)) == 1


def test_the_folder_of_the_setting(tmp_path: Path) -> None:
    assert cache_folder("off") is None
    assert cache_folder("OFF ") is None
    assert cache_folder("") is None
    assert cache_folder(str(tmp_path)) == str(tmp_path)
    assert cache_folder(None, {"XDG_CACHE_HOME": "/x"}) == os.path.join("/x", "migrata")
    home = os.path.join(os.path.expanduser("~"), ".cache", "migrata")
    assert cache_folder(None, {}) == home


_WRITER = """
import sys
from migrata.cache import SplitCache
from migrata.models import Script
folder, worker = sys.argv[1], int(sys.argv[2])
for round in range(3):
    cache = SplitCache(folder)
    for n in range(40):
        # Shared texts, and texts of this worker alone: every shard is written by everyone.
        text = f"SELECT {n};\\nSELECT 'w{worker}-{n}-{round}';\\n"
        cache.prepare(Script(path="m.sql", text=text), "sqlite", server_version=None)
        cache.prepare(Script(path="m.sql", text=f"SELECT {n};"), "sqlite", server_version=None)
    cache.flush()
print("ok")
"""


@pytest.mark.slow
def test_fifty_concurrent_writers_never_leave_a_torn_shard(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(folder), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(50)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        assert out.strip() == "ok"
    shards = _shards(folder)
    assert len(shards) == 16
    keys = set()
    for shard in shards:
        data = json.loads(shard.read_bytes())  # each one whole
        assert data["format"] == 1
        keys |= set(data["entries"])
    # The texts every worker shares are there (each worker wrote them in every round).
    cache = SplitCache(str(folder))
    shared = {cache.key(Script(path="m.sql", text=f"SELECT {n};"), "sqlite") for n in range(40)}
    assert shared <= keys
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    for key in keys:
        entry = json.loads((folder / "split-1" / f"{key[0]}.json").read_bytes())["entries"][key]
        assert entry["statements"]


def test_a_shard_keeps_at_most_its_limit_newest_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("migrata.cache.SHARD_ENTRIES", 3)
    cache = SplitCache(str(tmp_path))
    scripts = []
    n = 0
    while len(scripts) < 5:  # five texts of one shard
        script = Script(path="m.sql", text=f"SELECT {n};")
        if cache.key(script, "sqlite")[0] == "a":
            scripts.append(script)
        n += 1
    for script in scripts:
        cache.split(script, "sqlite")
        cache.flush()
    entries = json.loads((tmp_path / "split-1" / "a.json").read_bytes())["entries"]
    assert list(entries) == [cache.key(s, "sqlite") for s in scripts[2:]]


# -- the reading of a folder --------------------------------------------------------------------

_FIXTURES = Path(__file__).parents[1] / "fixtures" / "layouts"
_CORPORA = Path(os.environ.get("MIGRATA_CORPORA", "/nonexistent"))
_FOLDERS = sorted(p for p in _FIXTURES.glob("*/*") if p.is_dir()) + sorted(
    p for p in _CORPORA.glob("*") if p.is_dir() and not p.name.startswith(("_", "."))
)


@pytest.mark.parametrize("folder", _FOLDERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_cached_reading_is_the_reading(tmp_path: Path, folder: Path) -> None:
    """Every layout of the fixtures and every real-world corpus: read from the cache, the
    folder is what reading it gives, to the last field (repr shows them all)."""
    from migrata.discovery import discover_migrations
    from migrata.errors import DiscoveryError

    cache = str(tmp_path / "cache")
    try:
        direct = discover_migrations(folder)
    except DiscoveryError as exc:
        with pytest.raises(type(exc)):
            discover_migrations(folder, cache=cache)
        assert not list((tmp_path / "cache").rglob("*.json"))  # an error is never cached
        return
    assert repr(discover_migrations(folder, cache=cache)) == repr(direct)  # cold: stored
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
    assert repr(discover_migrations(folder, cache=cache)) == repr(direct)  # warm: read


def test_a_reading_follows_every_change_of_the_folder(tmp_path: Path) -> None:
    from migrata.discovery import discover_migrations

    folder = tmp_path / "migrations"
    folder.mkdir()
    cache = str(tmp_path / "cache")
    (folder / "0001_a.sql").write_text("SELECT 1;\n")
    first = discover_migrations(folder, cache=cache)
    (folder / "0001_a.sql").write_text("SELECT 2;\n")  # same size, other bytes
    changed = discover_migrations(folder, cache=cache)
    assert changed.migrations[0].up.text == "SELECT 2;\n"
    assert changed.migrations[0].checksum != first.migrations[0].checksum
    (folder / "notes.txt").write_text("x")
    assert discover_migrations(folder, cache=cache).ignored == (f"{folder}/notes.txt",)
    (folder / "0002_b").mkdir()
    (folder / "0002_b" / "up.sql").write_text("SELECT 3;\n")
    assert [m.version.text for m in discover_migrations(folder, cache=cache).migrations] == [
        "0001",
        "0002",
    ]
    (folder / "0002_b" / "down.sql").write_text("SELECT 4;\n")
    last = discover_migrations(folder, cache=cache).migrations[1]
    assert last.down is not None and last.down.text == "SELECT 4;\n"
    assert discover_migrations(folder, cache=cache, layout="migrata").layout == "migrata"


@pytest.mark.parametrize("damage", [b"", b"{", b'{"key": "x"}', b"[1, 2]", b'{"key": null}'])
def test_a_damaged_reading_is_read_again(tmp_path: Path, damage: bytes) -> None:
    from migrata.discovery import discover_migrations

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("-- migrata: no-transaction\nVACUUM;\n")
    cache = tmp_path / "cache"
    direct = discover_migrations(folder)
    discover_migrations(folder, cache=str(cache))
    (stored,) = cache.rglob("*.json")
    stored.write_bytes(damage)
    assert repr(discover_migrations(folder, cache=str(cache))) == repr(direct)
    assert json.loads(stored.read_bytes())["reading"]["layout"] == "migrata"  # written again


def test_a_damaged_field_is_read_again(tmp_path: Path) -> None:
    from migrata.discovery import discover_migrations

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("SELECT 1;\n")
    cache = tmp_path / "cache"
    direct = discover_migrations(folder)
    discover_migrations(folder, cache=str(cache))
    (stored,) = cache.rglob("*.json")
    data = json.loads(stored.read_bytes())
    data["reading"]["migrations"][0][2][3] = "one"  # first_line: not a number
    stored.write_text(json.dumps(data))
    assert repr(discover_migrations(folder, cache=str(cache))) == repr(direct)


def test_the_cache_keeps_a_bounded_number_of_readings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrata.discovery import discover_migrations

    monkeypatch.setattr("migrata.discovery.KEPT_READINGS", 3)
    folder = tmp_path / "migrations"
    folder.mkdir()
    cache = tmp_path / "cache"
    for n in range(6):
        (folder / f"{n + 1:04}_m.sql").write_text(f"SELECT {n};\n")
        discover_migrations(folder, cache=str(cache))
    assert len(list(cache.rglob("*.json"))) == 3

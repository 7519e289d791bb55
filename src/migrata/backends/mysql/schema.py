"""MySQL's and MariaDB's schema (of the current database) as canonical text.

The server's own ``SHOW CREATE`` text is the definition, normalised where it carries state or
the account that created an object rather than schema: a table's ``AUTO_INCREMENT=N`` counter,
``DEFINER=`` on views, routines and triggers, a view's default ``ALGORITHM=UNDEFINED`` and
``SQL SECURITY DEFINER``, and the database's name that MySQL writes before every column of a
view (two databases with the same schema must read the same). A table's column and key list
ends every line with a comma, the last one too, as on PostgreSQL: adding a column or a key then
changes one line, not two.

Round trips: one query lists every object from information_schema; MySQL has no bulk form of
``SHOW CREATE``, so there is one statement per object, but they travel together as one
multi-statement batch when the caller gives ``fetch_all`` (two round trips in all), else one
by one.

Objects are sorted in Python by code point: tables (and MariaDB sequences), views, routines,
triggers (by table, then name); statements are one blank line apart, each ending with ``;``.
A routine's or trigger's body keeps its own ``;``: the text is for reading and diffing, not
for feeding back without ``DELIMITER``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ..base import DEFAULT_OWN_TABLES

#: ``fetch(sql, params) -> rows``, as :meth:`migrata.backends.base.Backend.fetch`.
Fetch = Callable[[str, tuple[Any, ...] | None], list[tuple[Any, ...]]]
#: Several parameterless statements in one go: one list of rows per statement.
FetchAll = Callable[[Sequence[str]], list[list[tuple[Any, ...]]]]


TABLE, SEQUENCE, VIEW, ROUTINE, TRIGGER = range(5)

# Literals are cast to information_schema's character set: a UNION of columns from different
# character sets fails with "Illegal mix of collations" on some servers.
LIST_SQL = (
    "SELECT 'database', DATABASE(), '', '' "
    "UNION ALL SELECT 'table', TABLE_NAME, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = DATABASE() "
    "UNION ALL SELECT 'routine', ROUTINE_NAME, '', ROUTINE_TYPE "
    "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
    "AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION') "
    "UNION ALL SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE, '' "
    "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
)

# The account that created an object, in its header only: `name`@`host`, either part quoted
# with backticks or quotes, or bare (older servers).
_ACCOUNT_PART = r"(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\s@]+)"
_DEFINER = re.compile(
    rf"^(CREATE(?:\s+ALGORITHM=\w+)?)\s+DEFINER\s*=\s*{_ACCOUNT_PART}@{_ACCOUNT_PART}",
    re.IGNORECASE,
)
_VIEW_DEFAULTS = re.compile(r"\s+(?:ALGORITHM=UNDEFINED|SQL SECURITY DEFINER)(?=\s)")
_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def read_schema(
    fetch: Fetch,
    *,
    exclude: Collection[str] = (),
    fetch_all: FetchAll | None = None,
    runnable: bool = False,
) -> str:
    """The current database's schema as canonical text (see the module docstring); migrata's
    tables and the ``exclude`` tables (any case) are left out with their triggers.

    One listing query, then one ``SHOW CREATE`` per object: all in one batch through
    ``fetch_all`` when given, else one ``fetch`` each. Empty when no database is selected.
    ``runnable``: SQL that builds the schema again (no comma after a table's last line).
    """
    excluded = DEFAULT_OWN_TABLES | {name.lower() for name in exclude}
    database = ""
    objects: list[tuple[int, str, str, str]] = []  # (kind, table, name, SHOW CREATE)
    for what, raw_name, raw_table, detail in fetch(LIST_SQL, None):
        name, table = _text(raw_name) if raw_name is not None else "", _text(raw_table)
        if what == "database":
            database = name
        elif table.lower() in excluded:
            continue
        elif what == "table":
            kind = {"VIEW": VIEW, "SEQUENCE": SEQUENCE}.get(_text(detail), TABLE)
            word = {VIEW: "VIEW", SEQUENCE: "SEQUENCE"}.get(kind, "TABLE")
            objects.append((kind, "", name, f"SHOW CREATE {word} {quote(name)}"))
        elif what == "routine":
            objects.append(
                (ROUTINE, _text(detail), name, f"SHOW CREATE {_text(detail)} {quote(name)}")
            )
        else:
            objects.append((TRIGGER, table, name, f"SHOW CREATE TRIGGER {quote(name)}"))
    if not database:
        return ""
    objects.sort()
    queries = [show for *_, show in objects]
    if fetch_all is not None:
        results = fetch_all(queries) if queries else []
    else:
        results = [fetch(sql, None) for sql in queries]
    blocks = []
    for (kind, _, name, _), rows in zip(objects, results, strict=True):
        blocks.append(_statement(kind, name, rows, database, runnable=runnable))
    return "".join(block + "\n\n" for block in blocks).removesuffix("\n")


def _statement(
    kind: int, name: str, rows: list[tuple[Any, ...]], database: str, *, runnable: bool = False
) -> str:
    """One object's normalised ``SHOW CREATE`` text, ending with ``;``."""
    # Where the definition sits in SHOW CREATE's row: routines and triggers put sql_mode first.
    column = 2 if kind in (ROUTINE, TRIGGER) else 1
    value = rows[0][column] if rows else None
    if value is None:
        # SHOW CREATE hides a routine's body from a user without the privilege to see it.
        return f"-- {name}: definition not visible to this user;"
    text = _text(value).rstrip().rstrip(";")
    if kind == TABLE:
        # The first "\n)" closes the column list (SHOW CREATE escapes newlines in strings).
        head, sep, options = text.partition("\n)")
        # Every line of the list ends with a comma, the last one too, as on PostgreSQL: adding
        # a column or a key then changes one line, not two.
        if sep and not head.endswith(",") and not runnable:
            head += ","
        # Only in the table options: a column's AUTO_INCREMENT attribute is schema, the next
        # value of the counter is data.
        text = head + sep + _AUTO_INCREMENT.sub("", options)
    elif kind == VIEW:
        text = _DEFINER.sub(r"\1", text, count=1)
        text = _VIEW_DEFAULTS.sub("", text)
        # MySQL qualifies every name in a view with the database it lives in.
        text = text.replace(quote(database) + ".", "")
    elif kind in (ROUTINE, TRIGGER):
        text = _DEFINER.sub(r"\1", text, count=1)
    return text + ";"

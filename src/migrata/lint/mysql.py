"""MySQL/MariaDB: ALTER TABLE operations InnoDB cannot do in place without blocking writes,
foreign keys added to existing tables, renames and drops. Read from tokens (see
:mod:`.tokens`): migrata's MySQL splitter gives the statements, pglast cannot parse them.

What copies the table is InnoDB's online DDL table ("Online DDL Operations", MySQL 8.0):
changing a column's type, dropping the primary key without adding one, converting the
character set, ALGORITHM=COPY; adding a FULLTEXT or SPATIAL index and AUTO_INCREMENT columns
cannot run with LOCK=NONE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .model import Hit
from .tokens import Token, TokenRun, qualified_name, split_top, tokenize

Check = Callable[[str, TokenRun], list[Hit]]
__all__ = ["Check", "TokenRun", "check"]


def _words(tokens: Sequence[Token]) -> list[str]:
    return [t.upper for t in tokens]


def check(sql: str, run: TokenRun) -> list[Hit]:
    """The rules' hits on one MySQL statement; CREATE TABLE records a new table."""
    tokens = tokenize(sql)
    words = _words(tokens)
    if not words:
        return []
    if words[:2] == ["CREATE", "TABLE"] or words[:3] == ["CREATE", "TEMPORARY", "TABLE"]:
        at = words.index("TABLE") + 1
        if words[at : at + 3] == ["IF", "NOT", "EXISTS"]:
            at += 3
        name, _ = qualified_name(tokens, at)
        run.add_new(name)
        return []
    if words[:2] == ["ALTER", "TABLE"] or (words[:1] == ["ALTER"] and "TABLE" in words[1:3]):
        at = words.index("TABLE") + 1
        table, at = qualified_name(tokens, at)
        return _alter(sql, table, tokens[at:], run)
    if words[:2] == ["RENAME", "TABLE"]:
        hits = []
        for part in split_top(tokens[2:]):
            old, _ = qualified_name(part, 0)
            if run.is_new(old):
                new, _ = qualified_name(part, 2)
                run.add_new(new)
                continue
            hits.append(_rename_table(old, sql, run))
        return hits
    if words[:2] == ["DROP", "TABLE"] or words[:3] == ["DROP", "TEMPORARY", "TABLE"]:
        at = words.index("TABLE") + 1
        if words[at : at + 2] == ["IF", "EXISTS"]:
            at += 2
        hits = []
        for part in split_top(tokens[at:]):
            name, _ = qualified_name(part, 0)
            if name and not run.is_new(name) and part[0].upper not in {"RESTRICT", "CASCADE"}:
                hits.append(
                    Hit(
                        "drop-table",
                        f"DROP TABLE {run.describe(name)}: code still using it fails",
                        "-- first deploy code that no longer reads or writes the table, then:\n"
                        + sql.strip().rstrip(";")
                        + ";",
                        (name,),
                        costly=False,
                    )
                )
        return hits
    return []


def _rename_table(old: str, sql: str, run: TokenRun) -> Hit:
    return Hit(
        "rename-table",
        f"RENAME {run.describe(old)}: code using the old name fails until it is deployed",
        "-- deploy code that reads both names (or a view under the old name), then:\n"
        + sql.strip().rstrip(";")
        + ";",
        (old,),
        costly=False,
    )


def _alter(sql: str, table: str, rest: Sequence[Token], run: TokenRun) -> list[Hit]:
    if run.is_new(table):
        return []
    hits: list[Hit] = []
    parts = split_top(rest)
    clauses = [_words(p) for p in parts]
    adds_primary = any(c[:3] == ["ADD", "PRIMARY", "KEY"] for c in clauses)
    # ALGORITHM=INPLACE/INSTANT makes MySQL refuse an operation that would copy, rather than
    # copy it: the statement fails fast instead of blocking writes.
    online = any(c[:1] == ["ALGORITHM"] and ("INPLACE" in c or "INSTANT" in c) for c in clauses)
    desc = run.describe(table)
    for part, words in zip(parts, clauses, strict=True):
        copy_reason = None
        if words[:1] in (["MODIFY"], ["CHANGE"]):
            copy_reason = "changing a column's definition (type, or NULL to NOT NULL) copies it"
            if words[:1] == ["CHANGE"]:
                at = 2 if len(words) > 1 and words[1] == "COLUMN" else 1
                if at + 1 < len(part) and part[at].name != part[at + 1].name:
                    hits.append(_rename_column(table, part[at].name, part[at + 1].name, run))
        elif words[:3] == ["DROP", "PRIMARY", "KEY"] and not adds_primary:
            copy_reason = "dropping the primary key without adding one copies it"
        elif words[:1] == ["ADD"] and ("FULLTEXT" in words[:3] or "SPATIAL" in words[:3]):
            copy_reason = "adding a FULLTEXT or SPATIAL index cannot run with LOCK=NONE"
        elif words[:1] == ["ADD"] and "AUTO_INCREMENT" in words:
            copy_reason = "adding an AUTO_INCREMENT column cannot run with LOCK=NONE"
        elif words[:2] == ["CONVERT", "TO"]:
            copy_reason = "converting the character set copies it"
        elif words[:1] == ["ALGORITHM"] and "COPY" in words:
            copy_reason = "ALGORITHM=COPY copies it"
        elif words[:1] == ["ADD"] and "FOREIGN" in words and "KEY" in words:
            hits.append(
                Hit(
                    "mysql-add-foreign-key",
                    f"ADD FOREIGN KEY on {desc} copies the table while foreign_key_checks is on",
                    "SET foreign_key_checks = 0;  -- INPLACE then skips the check of existing rows\n"
                    f"ALTER TABLE {_quote(table)} {_text(sql, part)}, ALGORITHM=INPLACE, LOCK=NONE;\n"
                    "SET foreign_key_checks = 1;",
                    (table,),
                )
            )
        elif words[:1] == ["DROP"] and len(words) > 1 and words[1] not in {
            "INDEX", "KEY", "PRIMARY", "FOREIGN", "CONSTRAINT", "CHECK", "PARTITION", "DEFAULT",
        }:  # fmt: skip
            at = 2 if words[1] == "COLUMN" else 1
            if at < len(part):
                column = part[at].name
                hits.append(
                    Hit(
                        "drop-column",
                        f"DROP COLUMN `{column}` of {desc}: code still reading it fails",
                        "-- first deploy code that no longer reads or writes the column, then:\n"
                        f"ALTER TABLE {_quote(table)} DROP COLUMN {_quote(column)};",
                        (table,),
                        costly=False,
                    )
                )
        elif words[:2] == ["RENAME", "COLUMN"] and len(part) >= 5:
            hits.append(_rename_column(table, part[2].name, part[4].name, run))
        elif (
            words[:1] == ["RENAME"]
            and words[1:2] in (["TO"], ["AS"], [])
            or (words[:1] == ["RENAME"] and len(words) == 2)
        ):
            hits.append(_rename_table(table, sql, run))
        if copy_reason is not None and not online:
            hits.append(
                Hit(
                    "mysql-table-copy",
                    f"{copy_reason}: {desc} is copied and writes wait",
                    "-- an online schema change tool copies it without blocking writes:\n"
                    f'pt-online-schema-change --alter "{_text(sql, part)}" '
                    f"D=<database>,t={table.rsplit('.', 1)[-1]} --execute\n"
                    f'-- or: gh-ost --alter="{_text(sql, part)}" --table={table.rsplit(".", 1)[-1]}',
                    (table,),
                )
            )
    return hits


def _rename_column(table: str, old: str, new: str, run: TokenRun) -> Hit:
    return Hit(
        "rename-column",
        f"RENAME COLUMN `{old}` TO `{new}` on {run.describe(table)}: code using the old name "
        "fails until it is deployed",
        f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(new)} <type of {old}>;\n"
        f"-- deploy code that writes both, backfill in batches, deploy code that reads {new}, then:\n"
        f"ALTER TABLE {_quote(table)} DROP COLUMN {_quote(old)};",
        (table,),
        costly=False,
    )


def _text(sql: str, part: Sequence[Token]) -> str:
    return sql[part[0].start : part[-1].end]


def _quote(name: str) -> str:
    return ".".join(f"`{p}`" for p in name.split("."))

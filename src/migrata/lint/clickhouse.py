"""ClickHouse: mutations (``ALTER TABLE … UPDATE/DELETE``) and DDL that misses ``ON CLUSTER``
when the run has a cluster. Read from tokens (see :mod:`.tokens`)."""

from __future__ import annotations

from .model import Hit
from .tokens import Token, TokenRun, qualified_name, split_top, tokenize

_DDL_OBJECTS = {"TABLE", "DATABASE", "VIEW", "DICTIONARY", "FUNCTION", "INDEX"}


def check(sql: str, run: TokenRun) -> list[Hit]:
    """The rules' hits on one ClickHouse statement; CREATE TABLE records a new table."""
    tokens = tokenize(sql)
    words = [t.upper for t in tokens]
    if not words:
        return []
    hits: list[Hit] = []
    verb = words[0]
    if verb in {"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "EXCHANGE"}:
        at = 1
        while at < len(words) and words[at] in {"OR", "REPLACE", "TEMPORARY", "MATERIALIZED"}:
            at += 1
        kind = words[at] if at < len(words) else ""
        if kind in _DDL_OBJECTS or verb in {"RENAME", "TRUNCATE", "EXCHANGE"}:
            at += 1 if kind in _DDL_OBJECTS else 0
            for skip in (["IF", "NOT", "EXISTS"], ["IF", "EXISTS"]):
                if words[at : at + len(skip)] == skip:
                    at += len(skip)
            name, after = qualified_name(tokens, at)
            if verb == "CREATE" and kind == "TABLE":
                run.add_new(name)
            if run.cluster and "CLUSTER" not in words:
                insert = tokens[after - 1].end if after > 0 else len(sql)
                fixed = sql[:insert] + f" ON CLUSTER {run.cluster}" + sql[insert:]
                hits.append(
                    Hit(
                        "clickhouse-missing-on-cluster",
                        f"{verb} {kind if kind in _DDL_OBJECTS else 'TABLE'} `{name}` without ON CLUSTER "
                        f"changes one replica of cluster `{run.cluster}` only",
                        fixed.strip().rstrip(";") + ";",
                        (name,),
                        costly=False,
                    )
                )
            if verb == "ALTER" and kind == "TABLE" and not run.is_new(name):
                hits.extend(_mutations(sql, name, tokens[after:], run))
    return hits


def _mutations(sql: str, table: str, rest: list[Token], run: TokenRun) -> list[Hit]:
    """A mutation: a command (between top-level commas) starting with UPDATE or DELETE."""
    words = [t.upper for t in rest]
    if words[:1] == ["ON"] and words[1:2] == ["CLUSTER"]:
        rest = rest[3:]
    for part in split_top(rest):
        word = part[0].upper
        if word not in {"UPDATE", "DELETE"}:
            continue
        # The mutation runs to the end of the statement (its assignments hold commas).
        command = sql[part[0].start :].strip().rstrip(";").rstrip()
        where = command.upper().find(" WHERE ")
        if word == "DELETE" and where >= 0:
            safe = (
                "-- a lightweight DELETE marks rows deleted instead of rewriting every part:\n"
                f"DELETE FROM {table} {command[where + 1 :]};"
            )
        else:
            narrowed = (
                f"{command[:where]} IN PARTITION <partition>{command[where:]}"
                if where >= 0
                else f"{command} IN PARTITION <partition>"
            )
            safe = (
                "-- rewrite only the partitions that change:\n"
                f"ALTER TABLE {table} {narrowed};\n"
                "-- or insert corrected rows into a ReplacingMergeTree table"
            )
        return [
            Hit(
                "clickhouse-mutation",
                f"ALTER TABLE … {word} on {run.describe(table)} is a mutation: every part "
                "holding matching rows is rewritten in the background",
                safe,
                (table,),
            )
        ]
    return []

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
                        f"{verb} {kind.lower() or 'table'} `{name}` without ON CLUSTER "
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
        where = next((i for i, t in enumerate(part) if t.upper == "WHERE"), None)
        if word == "DELETE" and where is not None:
            condition = sql[part[where].start : part[-1].end]
            safe = (
                "-- a lightweight DELETE marks rows deleted instead of rewriting every part:\n"
                f"DELETE FROM {table} {condition};"
            )
        else:
            safe = (
                "-- rewrite only the partitions that change:\n"
                f"ALTER TABLE {table} {sql[part[0].start : part[-1].end]} IN PARTITION <partition>;\n"
                "-- or insert corrected rows into a ReplacingMergeTree table"
            )
            safe = (
                safe.replace(" WHERE", " IN PARTITION <partition> WHERE", 1).replace(
                    " IN PARTITION <partition>;", ";", 1
                )
                if where is not None
                else safe
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

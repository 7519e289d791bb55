"""A small SQL tokenizer for the dialects pglast cannot parse (MySQL/MariaDB, ClickHouse).

Comments are dropped and strings kept whole, so a keyword inside either is never mistaken
for SQL. Words are upper-cased for matching; identifiers keep their spelling in ``text``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .model import Catalog

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^'\\]|\\.|'')*(?:'|\Z)|"(?:[^"\\]|\\.|"")*(?:"|\Z))
    | (?P<quoted>`(?:[^`]|``)*(?:`|\Z))
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<number>\d+(?:\.\d*)?)
    | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | quoted | string | number | punct
    text: str  # as written
    start: int  # offset in the statement
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else self.text

    @property
    def name(self) -> str:
        """The identifier it spells (backquotes removed), lower-case."""
        if self.kind == "quoted":
            return self.text[1:-1].replace("``", "`").lower()
        if self.kind == "string" and self.text[:1] == '"':
            return self.text[1:-1].lower()
        return self.text.lower()


def tokenize(sql: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "punct"
        if kind in ("space", "comment"):
            continue
        tokens.append(Token(kind, match.group(), match.start(), match.end()))
    return tokens


def split_top(tokens: Sequence[Token]) -> list[list[Token]]:
    """``tokens`` split at the commas outside parentheses."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        if token.text == "," and depth == 0:
            parts.append([])
            continue
        parts[-1].append(token)
    return [p for p in parts if p]


def qualified_name(tokens: Sequence[Token], at: int) -> tuple[str, int]:
    """The (maybe ``db.``-qualified) name starting at ``at``, lower-case, and the index after it."""
    if at >= len(tokens):
        return "", at
    name = tokens[at].name
    at += 1
    while at + 1 < len(tokens) and tokens[at].text == ".":
        name += "." + tokens[at + 1].name
        at += 2
    return name, at


@dataclass(slots=True)
class TokenRun:
    """What a lint run over MySQL or ClickHouse has seen: the tables it created."""

    catalog: Catalog | None = None
    cluster: str | None = None
    new_tables: set[str] = field(default_factory=set)

    def is_new(self, table: str) -> bool:
        return table in self.new_tables or table.rsplit(".", 1)[-1] in self.new_tables

    def add_new(self, table: str) -> None:
        self.new_tables.add(table)
        self.new_tables.add(table.rsplit(".", 1)[-1])

    def info(self, table: str) -> tuple[int, int] | None:
        tables: Mapping[str, object] = self.catalog.tables if self.catalog else {}
        info = tables.get(table) or tables.get(table.rsplit(".", 1)[-1])
        if info is None:
            return None
        return info.rows, info.bytes  # type: ignore[attr-defined]

    def is_empty(self, tables: Sequence[str]) -> bool:
        sizes = [self.info(t) for t in tables]
        return bool(sizes) and all(s is not None and s[0] == 0 for s in sizes)

    def describe(self, table: str) -> str:
        from .postgres import _count, _size

        info = self.info(table)
        if info is None:
            return f"`{table}`"
        return f"`{table}` (~{_count(info[0])} rows, {_size(info[1])})"

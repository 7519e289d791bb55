"""``-- migrata: allow=rule-id[,rule-id] -- reason`` directives inside migration files.

On the comment line(s) directly before a statement, a directive allows those rules for that
statement. In the file's leading comment block, as its first line or followed by a blank line,
it allows them for the whole file. The leading-block form shares its line syntax with the
other ``-- migrata:`` directives (:func:`migrata.sqltext.parse_directives` accepts and skips
``allow=``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..models import Statement
from ..sqltext import normalize

_ALLOW = re.compile(
    r"^--\s*migrata:.*?\ballow\s*=\s*(?P<ids>[A-Za-z0-9_-]+(?:\s*,\s*[A-Za-z0-9_-]+)*)"
    r"(?:.*?\s--\s*(?P<reason>.*?))?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Allowances:
    """The rules a file allows: for all its statements, and per statement (by index)."""

    file: Mapping[str, str] = field(default_factory=dict)
    statements: Mapping[int, Mapping[str, str]] = field(default_factory=dict)

    def reason(self, index: int, rule: str) -> str | None:
        """The allowing directive's reason ("" when it gives none), None when not allowed."""
        found = self.statements.get(index, {}).get(rule)
        return found if found is not None else self.file.get(rule)


def _parse(line: str) -> dict[str, str]:
    match = _ALLOW.match(line.strip())
    if match is None:
        return {}
    reason = (match["reason"] or "").strip()
    return {i.strip().lower(): reason for i in match["ids"].split(",") if i.strip()}


def read_allowances(text: str, statements: Sequence[Statement], first_line: int = 1) -> Allowances:
    """The ``allow=`` directives of a script whose statements are ``statements``."""
    if "allow" not in text:  # the common case, cheaply
        return Allowances()
    lines = normalize(text).split("\n")
    first_code = statements[0].line - first_line if statements else len(lines)
    whole: dict[str, str] = {}
    for i in range(min(first_code, len(lines))):
        found = _parse(lines[i])
        if not found:
            continue
        followed_by_blank = i + 1 < len(lines) and not lines[i + 1].strip()
        if i == 0 or followed_by_blank or _blank_between(lines, i, first_code):
            whole.update(found)
    per: dict[int, dict[str, str]] = {}
    for index, statement in enumerate(statements):
        row = statement.line - first_line - 1
        directives: dict[str, str] = {}
        while row >= 0 and lines[row].strip().startswith("--"):
            directives.update(_parse(lines[row]))
            row -= 1
        if directives:
            per[index] = directives
    return Allowances(whole, per)


def _blank_between(lines: Sequence[str], start: int, end: int) -> bool:
    """A blank line between the directive and the first statement: it is the file's."""
    return any(not line.strip() for line in lines[start + 1 : end])

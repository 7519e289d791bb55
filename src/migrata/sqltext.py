"""Text handling shared by every layout: decoding, checksum normalisation, directives and
offset → line:column conversion."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InvalidEncoding, UnknownDirective

#: Prefix of every checksum we store. A later scheme gets a new prefix; old rows keep theirs
#: and are compared with the scheme they name.
CHECKSUM_SCHEME = "sha256-lf"

_BOM = "\ufeff"


def decode(data: bytes, path: str) -> str:
    """Decode a migration file as UTF-8 (a BOM is allowed), naming the file on failure."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidEncoding(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
            "re-save the file as UTF-8",
            path=path,
            line=line,
        ) from exc
    return text


def normalize(text: str) -> str:
    """The text a checksum is computed over: no BOM, every line ending a single LF."""
    if text.startswith(_BOM):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def checksum(*parts: str) -> str:
    """Checksum of a migration's normalised text(s), prefixed with its scheme."""
    digest = hashlib.sha256()
    for i, part in enumerate(parts):
        if i:
            digest.update(b"\x00")
        digest.update(normalize(part).encode("utf-8"))
    return f"{CHECKSUM_SCHEME}:{digest.hexdigest()}"


def checksums_match(stored: str, current: str) -> bool:
    """Compare a stored checksum with a fresh one; unknown schemes never match silently."""
    return stored.strip() == current


@dataclass(frozen=True, slots=True)
class Directives:
    transactional: bool = True
    #: True when a directive (not the default) chose ``transactional``.
    explicit: bool = False


_DIRECTIVE = re.compile(r"^--\s*migrata:\s*(?P<body>.*?)\s*$", re.IGNORECASE)
_KNOWN = {"no-transaction", "transaction"}


def parse_directives(text: str, path: str) -> Directives:
    """Read the directives in the leading comment block of a script.

    ``-- migrata: no-transaction`` anywhere in the leading comments, or a first line
    ``-- no-transaction`` (the form sqlx uses), turns the transaction off. An unknown
    ``-- migrata:`` directive raises :class:`UnknownDirective` naming the file and line.
    """
    transactional = True
    explicit = False
    lines = normalize(text).split("\n")
    if lines and lines[0].strip().lower() == "-- no-transaction":
        transactional = False
        explicit = True
    in_block = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if in_block:
            in_block = "*/" not in line
            continue
        if not line:
            continue
        if line.startswith("/*"):
            end = line.find("*/", 2)
            if end == -1:
                in_block = True
                continue
            rest = line[end + 2 :].strip()
            if rest and not rest.startswith("--"):
                break  # a statement follows the comment on the same line
            continue
        if not line.startswith("--"):
            break
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        for word in filter(None, re.split(r"[\s,]+", match["body"].lower())):
            if word not in _KNOWN:
                raise UnknownDirective(
                    f"unknown directive `-- migrata: {word}`; known: " + ", ".join(sorted(_KNOWN)),
                    path=path,
                    line=number,
                )
            transactional = word == "transaction"
            explicit = True
    return Directives(transactional=transactional, explicit=explicit)


class LineIndex:
    """Maps character offsets in a text to 1-based (line, column)."""

    def __init__(self, text: str, first_line: int = 1) -> None:
        self._starts: Sequence[int] = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
        self._first_line = first_line

    def position(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self._starts, offset) - 1
        return self._first_line + index, offset - self._starts[index] + 1

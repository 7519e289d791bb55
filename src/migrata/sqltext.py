"""Text handling shared by every layout: decoding, checksum normalisation, directives and
offset → line:column conversion."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import InvalidEncoding, UnknownDirective
from .models import Timeouts

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
    #: ``environments=dev,test``: the environments the script is for (None: all).
    environments: tuple[str, ...] | None = None
    #: ``statement-timeout=…``, ``migration-timeout=…``, ``ddl-lock-timeout=…``.
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: ``squashes=0001..0042``: the versions this baseline replaces (written by ``squash``).
    squashes: tuple[str, str] | None = None


_DIRECTIVE = re.compile(r"^--\s*migrata:\s*(?P<body>.*?)\s*$", re.IGNORECASE)
_WORDS = {"no-transaction", "transaction"}
_TIMEOUT_KEYS = {
    "statement-timeout": "statement",
    "migration-timeout": "migration",
    "ddl-lock-timeout": "lock",
}
_ENVIRONMENT_KEYS = {"environments", "environment", "env"}
#: ``allow=rule-id[,rule-id] -- reason``: read by the linter (:mod:`migrata.lint.allow`);
#: accepted and skipped here, with the reason after `` -- ``.
_LINT_KEYS = {"allow"}
_REASON = re.compile(r"\s--(?:\s.*)?$")
_KNOWN = sorted(_WORDS) + [
    f"{k}=…" for k in ("environments", *_TIMEOUT_KEYS, *_LINT_KEYS, "squashes")
]
#: One item of a directive line: ``key=value[,value…]`` (spaces allowed around ``=`` and after
#: commas) or a bare word; items are separated by spaces or commas.
_ITEM = re.compile(
    r"(?P<key>[A-Za-z][\w-]*)\s*=\s*(?P<value>[^\s,=]+(?:\s*,\s*[^\s,=]+(?![^\s,]*\s*=))*)"
    r"|(?P<word>[^\s,=]+)"
)
#: What an environment may be called: the names people give them (dev, test, staging-eu…).
ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[a-z]*)\Z", re.IGNORECASE)
_UNITS = {
    "": 1.0,
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
DURATION_FORMS = "seconds (30, 1.5), or a number with ms, s, min or h (500ms, 30s, 10min, 1h)"


def parse_duration(value: object) -> float:
    """Seconds from ``30``, ``1.5``, ``500ms``, ``30s``, ``10min``, ``1h`` (0 = no limit).

    Raises ValueError naming the accepted forms.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        match = _DURATION.match(str(value).strip())
        unit = match["unit"].lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(f"not a duration: {value!r}; expected {DURATION_FORMS}")
        number = float(match["number"]) * _UNITS[unit]
    if not number >= 0:  # negative, or NaN
        raise ValueError(f"a duration must be zero or more, got {value!r}")
    return number


def parse_environments(value: str) -> tuple[str, ...]:
    """``dev,test`` (or ``dev, test``) as ``("dev", "test")``; raises ValueError for an empty
    list or a name that is not a plain word."""
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise ValueError("name at least one environment: environments=dev,test")
    for name in names:
        if not ENVIRONMENT_NAME.match(name):
            raise ValueError(
                f"{name!r} is not an environment name (letters, digits, '_', '.', '-')"
            )
        if name.lower() in _WORDS:
            raise ValueError(
                f"{name!r} is a directive, not an environment: separate the list from other "
                "directives with a space, e.g. `environments=dev,test no-transaction`"
            )
    return names


def parse_directives(text: str, path: str) -> Directives:
    """Read the directives in the leading comment block of a script.

    ``-- migrata: no-transaction`` anywhere in the leading comments, or a first line
    ``-- no-transaction`` (the form sqlx uses), turns the transaction off;
    ``-- migrata: environments=dev,test`` limits the script to those environments;
    ``statement-timeout=``, ``migration-timeout=`` and ``ddl-lock-timeout=`` set its time
    limits. Several may share a line (``-- migrata: no-transaction statement-timeout=1h``).
    An unknown directive or a bad value raises :class:`UnknownDirective` naming the file and
    line.
    """
    transactional = True
    explicit = False
    environments: tuple[str, ...] | None = None
    limits: dict[str, float] = {}
    squashes: tuple[str, str] | None = None
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
        body = match["body"]
        if "allow" in body.lower():
            body = _REASON.sub("", body)
        for item in _ITEM.finditer(body):
            if item["word"] is not None:
                word = item["word"].lower()
                if word in _ENVIRONMENT_KEYS or word in _TIMEOUT_KEYS:
                    raise UnknownDirective(
                        f"`-- migrata: {word}` needs a value: {word}=…", path=path, line=number
                    )
                if word not in _WORDS:
                    raise _unknown(word, path, number)
                transactional = word == "transaction"
                explicit = True
                continue
            key, value = item["key"].lower(), item["value"]
            try:
                if key in _LINT_KEYS:
                    continue
                if key in _ENVIRONMENT_KEYS:
                    environments = parse_environments(value)
                elif key in _TIMEOUT_KEYS:
                    limits[_TIMEOUT_KEYS[key]] = parse_duration(value)
                elif key == "squashes":
                    first, dots, last = value.partition("..")
                    if not dots or not first.strip() or not last.strip():
                        raise ValueError("write squashes=FIRST..LAST (two versions)")
                    squashes = (first.strip(), last.strip())
                else:
                    raise _unknown(f"{key}=", path, number)
            except ValueError as exc:
                raise UnknownDirective(
                    f"bad value in `-- migrata: {key}={value}`: {exc}", path=path, line=number
                ) from None
    return Directives(
        transactional=transactional,
        explicit=explicit,
        environments=environments,
        timeouts=Timeouts(**limits),
        squashes=squashes,
    )


def _unknown(word: str, path: str, line: int) -> UnknownDirective:
    return UnknownDirective(
        f"unknown directive `-- migrata: {word}`; known: " + ", ".join(_KNOWN),
        path=path,
        line=line,
    )


class LineIndex:
    """Maps character offsets in a text to 1-based (line, column)."""

    def __init__(self, text: str, first_line: int = 1) -> None:
        self._starts: Sequence[int] = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
        self._first_line = first_line

    def position(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self._starts, offset) - 1
        return self._first_line + index, offset - self._starts[index] + 1

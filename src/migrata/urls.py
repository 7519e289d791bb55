"""Database URLs: parsing, and redaction so that a password never reaches output."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from .engines import engine_for_scheme, engine_named, known_schemes
from .errors import ConfigError

__all__ = ["DatabaseURL", "database_name", "parse_url", "redact", "scrub", "url_database_name"]


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A parsed URL. ``repr`` and ``str`` never show the password."""

    engine: str
    raw: str
    password: str | None
    #: For SQLite: the file path (or ``:memory:``).
    path: str | None = None

    @property
    def redacted(self) -> str:
        return redact(self.raw)

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"DatabaseURL({self.redacted!r})"

    def scrub(self, text: str) -> str:
        """``text`` with this URL's password (raw and URL-encoded) replaced by ``***``."""
        return scrub(text, self.password, self.raw)


def parse_url(url: str) -> DatabaseURL:
    """Parse a database URL; raises ConfigError (without the password) when it is not one."""
    if not url or "://" not in url:
        raise ConfigError(
            f"not a database URL: {redact(url)!r}; expected e.g. postgresql://user@host/db or "
            "sqlite:///file.db"
        )
    scheme = url.split("://", 1)[0].lower()
    engine = engine_for_scheme(scheme.split("+", 1)[0])
    if engine is None:
        raise ConfigError(
            f"unsupported database URL scheme {scheme!r} in {redact(url)!r}; supported: "
            + ", ".join(known_schemes())
        )
    if engine.file_based:
        rest = url.split("://", 1)[1]
        main = engine.schemes[0]
        if not rest.startswith("/"):
            raise ConfigError(
                f"{engine.title} URL {url!r} needs three slashes: {main}:///relative.db or "
                f"{main}:////absolute/path.db"
            )
        path = unquote(rest[1:].split("?", 1)[0])
        if not path:
            raise ConfigError(
                f"{engine.title} URL has no file: use {main}:///file.db or {main}:///:memory:"
            )
        return DatabaseURL(engine.name, url, None, path)
    userinfo = _userinfo(url)
    if userinfo is not None and "@" in userinfo[1]:
        # libpq splits at the first "@" and would send part of the password as a host name.
        raise ConfigError(
            f"the user or password in {redact(url)} contains an unencoded '@': write it as %40"
        )
    password = None
    if userinfo is not None and ":" in userinfo[1]:
        password = unquote(userinfo[1].split(":", 1)[1]) or None
    query = _QUERY_PW.search(url)
    if password is None and query is not None:
        password = unquote(query.group(0).split("=", 1)[1]) or None
    return DatabaseURL(engine.name, url, password)


_QUERY_PW = re.compile(r"[?&]password=[^&#]*", re.IGNORECASE)


def _userinfo(url: str) -> tuple[int, str] | None:
    """(start offset, text) of the ``user:password`` part, read the way libpq reads it: up to
    the last ``@`` of the authority, so an unencoded ``@``, ``#``, ``?`` or ``:`` in a password
    still counts as password."""
    if "://" not in url:
        return None
    start = url.index("://") + 3
    rest = url[start:]
    at = rest.rfind("@")
    while at != -1 and "/" in rest[:at]:
        at = rest.rfind("@", 0, at)
    if at == -1:
        return None
    return start, rest[:at]


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    found = _userinfo(url)
    if found is not None and ":" in found[1]:
        start, userinfo = found
        user = userinfo.split(":", 1)[0]
        url = f"{url[:start]}{user}:***{url[start + len(userinfo) :]}"
    return _QUERY_PW.sub(lambda m: m.group(0).split("=", 1)[0] + "=***", url)


def scrub(text: str, password: str | None, url: str | None = None) -> str:
    """Remove every trace of a password (and of the full URL) from a message.

    The URL is shown redacted, its user name kept even when it is the password's text
    (``postgresql://app:***@db/app`` for the user ``app`` with the password ``app``); the
    password's text anywhere else is replaced by ``***``.
    """
    shown = redact(url) if url else None
    if url and shown is not None:
        text = text.replace(url, shown)
    if not password:
        return text
    from urllib.parse import quote

    forms = [f for f in {password, quote(password, safe=""), quote(password)} if f]
    # The redacted URL stays whole; every other piece of the text is scrubbed.
    parts = text.split(shown) if shown else [text]
    cleaned = []
    for part in parts:
        for form in forms:
            part = part.replace(form, "***")
        cleaned.append(part)
    return shown.join(cleaned) if shown else cleaned[0]


def database_name(url: DatabaseURL) -> str:
    """The name of the database ``url`` names, as a person would type it: SQLite's file path,
    chdb's ``?database=``, otherwise the URL's path (or a ``dbname``/``database`` option)."""
    return engine_named(url.engine).database_name(url)


def url_database_name(url: DatabaseURL) -> str:
    """The database a server URL names: its path, or a ``dbname``/``database`` option."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url.raw)
    options = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    return unquote(parts.path.lstrip("/")) or options.get("dbname") or options.get("database", "")

"""Parsing of storage URLs: which backend, and where."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.storage.base import StorageError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_POSTGRES = {"postgres", "postgresql"}
MEMORY = ":memory:"


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed storage URL."""

    backend: str
    location: str


def parse_url(url: str) -> Target:
    """Parse ``sqlite:///abs/path.db``, ``sqlite:rel/path.db``, ``:memory:``, a plain path, or
    ``postgresql://user:password@host:port/database`` (also ``postgres://`` and
    ``postgresql+asyncpg://``; the location is then a DSN asyncpg reads).

    Raises StorageError for anything else, naming what is supported.
    """
    text = url.strip()
    if not text:
        raise StorageError("no storage URL given (expected sqlite:///path/to/consentry.db)")
    if text == MEMORY:
        return Target("sqlite", MEMORY)
    match = _SCHEME.match(text)
    # A one-letter "scheme" is a Windows drive (C:\...), i.e. a plain path.
    if match is None or len(match.group(1)) == 1:
        return _sqlite(text)
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme == "sqlite":
        return _sqlite(_sqlite_location(url, rest))
    base, _, driver = scheme.partition("+")
    if base in _POSTGRES:
        if driver not in ("", "asyncpg"):
            raise StorageError(
                f"unsupported PostgreSQL driver {driver!r}: use postgresql://user@host/database"
            )
        # asyncpg reads the rest itself (user, password, host, port, database, options).
        return Target("postgresql", "postgresql:" + rest)
    # The URL itself is not repeated: it may hold a password.
    raise StorageError(
        f"unsupported storage URL scheme {scheme!r}: use sqlite:///absolute/path.db,"
        " sqlite:relative/path.db, a file path or postgresql://user@host/database"
    )


def _sqlite(location: str) -> Target:
    return Target("sqlite", location if location == MEMORY else str(Path(location).expanduser()))


def _sqlite_location(url: str, rest: str) -> str:
    if rest.startswith("//"):
        # sqlite:///abs/path -> "/abs/path"; sqlite://host/... has no meaning for a local file.
        location = rest[2:]
        if not location.startswith("/"):
            raise StorageError(
                f"cannot read {url!r}: use sqlite:///absolute/path.db or sqlite:relative/path.db"
            )
        # SQLAlchemy spells absolute paths with four slashes (sqlite:////abs): accept that too.
        location = "/" + location.lstrip("/")
        return MEMORY if location == "/" + MEMORY else location
    if not rest:
        raise StorageError(f"{url!r} names no database file")
    return rest

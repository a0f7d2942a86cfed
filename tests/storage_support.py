"""Helpers shared by the storage tests (the backend fixtures live in ``conftest.py``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from bot.core.blocklist import Algorithm, NewEntry
from bot.storage import NewCase, NewEnrolment, NewEvidence, Storage
from bot.storage.postgres import PostgresStorage

GUILD = 1234567890123456789
MEMBER, OTHER_MEMBER = 11, 12
OTHER_GUILD = 987654321098765432


def md5(n: int) -> str:
    return f"{n:032x}"


def pdq(n: int) -> str:
    return f"{n:064x}"


def entry(n: int, **kwargs: object) -> NewEntry:
    return NewEntry(Algorithm.MD5, md5(n), **kwargs)  # type: ignore[arg-type]


AUTHOR = 7
# A fixed moment, so that expiry comparisons never depend on the clock.
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def new_case(
    message_id: int = 1,
    guild_id: int = GUILD,
    *,
    author_id: int = AUTHOR,
    media: list[dict[str, Any]] | None = None,
) -> NewCase:
    return NewCase(
        guild_id=guild_id,
        channel_id=42,
        message_id=message_id,
        author_id=author_id,
        sha256="ab" * 32,
        action="quarantine",
        verdict={"action": "quarantine", "reasons": [{"signal": "blocklist", "distance": 3}]},
        media=[] if media is None else media,
    )


def new_evidence(n: int = 1, *, expires_at: datetime = T0, size: int = 100) -> NewEvidence:
    return NewEvidence(
        label=f"attachment:{n}",
        sha256=f"{n:064x}",
        media_type="image/png",
        size=size,
        key_id="key-2030",
        nonce=bytes([n]) * 12,
        ciphertext=bytes([n, 0, 255]) * 10,
        expires_at=expires_at,
    )


def assert_recent_utc(moment: datetime) -> None:
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


async def append(storage: Storage, n: int, guild_id: int | None = GUILD) -> None:
    await storage.audit.append(
        guild_id=guild_id, actor=f"mod:{n}", action="case.confirm", subject=f"case:{n}", details={}
    )


def break_change_feed(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the backend's next blocklist change-feed write fail as a full disk would."""
    if isinstance(storage, PostgresStorage):

        async def pg_full(*args: object, **kwargs: object) -> None:
            raise asyncpg.DiskFullError("could not extend file: disk is full")

        monkeypatch.setattr("bot.storage.postgres.blocklist._record_changes", pg_full)
        return

    async def sqlite_full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("bot.storage.sqlite.blocklist._record_change", sqlite_full)


def new_enrolment(member_id: int = MEMBER, guild_id: int = GUILD, faces: int = 2) -> NewEnrolment:
    """A sealed face enrolment (made-up bytes: storage never opens it)."""
    return NewEnrolment(
        guild_id=guild_id,
        member_id=member_id,
        model="dlib-face@abc123",
        faces=faces,
        key_id="key-2030",
        nonce=b"n" * 12,
        ciphertext=bytes(range(64)),
        notify=True,
    )

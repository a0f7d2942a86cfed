"""Discord-style snowflake ids and timestamps.

A snowflake is ``(milliseconds since 2015-01-01) << 22 | worker << 17 | process << 12 | increment``.
Clients derive creation times from ids (discord.py does, e.g. to pick the bulk-delete route for
old messages), so the sandbox mints real ones from the wall clock instead of counting from 1.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeGenerator:
    """Mints strictly increasing snowflakes from the current time."""

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._prefix = ((worker & 0x1F) << 17) | ((process & 0x1F) << 12)
        self._last = 0

    def next(self) -> int:
        """A new id, greater than every id minted before by this generator."""
        candidate = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | self._prefix
        # Many ids in one millisecond (or a clock step back) still have to increase: bump the
        # increment bits, spilling into the timestamp as Discord's own workers effectively do.
        self._last = max(candidate, self._last + 1)
        return self._last

    def at(self, when: datetime) -> int:
        """A new id that reads as created at ``when`` (for back-dated messages and members)."""
        millis = int(when.timestamp() * 1000) - DISCORD_EPOCH_MS
        self._last += 1
        return (millis << 22) | self._prefix | (self._last & 0xFFF)


def snowflake_time(snowflake: int) -> datetime:
    """When a snowflake was minted."""
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, tz=UTC)


def iso(when: datetime) -> str:
    """Discord's ISO 8601 form: microseconds and an explicit ``+00:00`` offset."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def now_iso() -> str:
    """The current time in Discord's ISO 8601 form."""
    return iso(datetime.now(UTC))


def parse_iso(value: str) -> datetime:
    """Parse a timestamp a client sent (``Z`` or an offset); naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

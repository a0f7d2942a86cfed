"""What a change notification from another process (PostgreSQL LISTEN/NOTIFY) means here.

Every process of a cluster hears the same notifications, its own included (then there is
nothing left to do, and each handling is idempotent):

- ``blocklist``: entries changed; the live index catches up from the change feed.
- ``settings:<server>``: a server's settings changed; the cached copy is dropped.
- ``enrolment:<server>:<member>``: a member enrolled, re-enrolled or withdrew.
- ``case:<id>``: a case was decided; a raid's burst on it ends.
- ``work``: scans are due (only scan workers act on it).
- ``ratelimit:<seconds>``: Discord's global rate limit was met (see ``global_limit``).

A notification can be missed (a dropped connection), and SQLite sends none: the blocklist is
also compared every ``blocklist_refresh_seconds``, and while other processes share the database,
settings are read again every ``SETTINGS_RELOAD_SECONDS`` and enrolments every
``ENROLMENTS_RELOAD_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bot.guild_settings import GuildSettingsService
from bot.protection import ProtectionService
from bot.runtime.bursts import BurstTracker
from bot.runtime.global_limit import SharedGlobalLimit
from bot.storage import StorageError

log = logging.getLogger(__name__)

ENROLMENTS_RELOAD_SECONDS = 300.0
"""How often every enrolment is read again while other processes share the database."""
SETTINGS_RELOAD_SECONDS = 60.0
"""How often servers' settings are read again while other processes share the database."""


class Hearing:
    """Turns notifications into the changes they ask of this process."""

    def __init__(
        self,
        *,
        global_limit: SharedGlobalLimit,
        settings: GuildSettingsService,
        protection: ProtectionService,
        refresh_blocklist: Callable[[], Coroutine[Any, Any, None]],
        bursts: Callable[[], BurstTracker | None],
        on_work: Callable[[], None] | None = None,
        on_settings: Callable[[int], None] | None = None,
    ) -> None:
        self._limit = global_limit
        self._settings = settings
        self._protection = protection
        self._refresh = refresh_blocklist
        self._bursts = bursts
        self._on_work = on_work
        self._on_settings = on_settings
        self._refreshing: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, what: str) -> None:
        """Handle one notification (unknown or malformed ones are ignored)."""
        kind, _, rest = what.partition(":")
        ids = [int(part) for part in rest.split(":") if part.isdigit()]
        if kind == "ratelimit":
            self._limit.heard(what)
        elif kind == "blocklist":
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = asyncio.create_task(self._refresh())
        elif kind == "settings" and len(ids) == 1:
            self._settings.forget(ids[0])
            if self._on_settings is not None:
                self._on_settings(ids[0])
        elif kind == "enrolment" and len(ids) == 2:
            self._spawn(self._reload(ids[0], ids[1]))
        elif kind == "case" and len(ids) == 1:
            bursts = self._bursts()
            if bursts is not None:
                bursts.decided(ids[0])
        elif kind == "work" and self._on_work is not None:
            self._on_work()

    async def reload_enrolments(self) -> None:
        """Read every enrolment again (the checkpoint, in case a notification was missed)."""
        await self._protection.load()

    async def reload_settings(self) -> None:
        """Read servers' settings again when next used (the checkpoint)."""
        self._settings.forget_all()

    def _spawn(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload(self, guild_id: int, member_id: int) -> None:
        try:
            await self._protection.reload(guild_id, member_id)
        except StorageError as exc:  # the periodic reload catches up
            log.warning("enrolment of member %s not reloaded: %s", member_id, exc)

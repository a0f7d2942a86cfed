"""Background jobs that run every so often, in a gateway or a scan worker.

A failing run is logged and the job runs again next period: background jobs never stop the
process. A job with a lease runs in one process of those sharing the database at a time; the
lease outlasts two periods, so a process that dies is taken over from soon after, and a process
that stops gives its leases up at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bot.storage import StorageError
from bot.storage.base_jobs import JobLeases

log = logging.getLogger(__name__)

JOB_LEASE_MIN_SECONDS = 120.0
"""The shortest lease a background job is taken for."""


class Periodic:
    """Runs jobs every so often for one process (``holder``, as leases name it)."""

    def __init__(self, jobs: JobLeases, holder: str) -> None:
        self._jobs = jobs
        self._holder = holder
        self._leases: set[str] = set()

    async def every(
        self,
        seconds: float,
        job: Callable[[], Awaitable[None]],
        *,
        at_start: bool = False,
        lease: str | None = None,
    ) -> None:
        """Run ``job`` every ``seconds`` for ever (first at once if ``at_start``), only while
        this process holds the lease ``lease`` if one is named."""
        if lease is not None:
            self._leases.add(lease)
        if not at_start:
            await asyncio.sleep(seconds)
        while True:
            try:
                if lease is None or await self._holds(lease, seconds):
                    await job()
            except Exception:
                log.exception("background job %s failed; retrying later", job.__name__)
            await asyncio.sleep(seconds)

    async def release(self) -> None:
        """Give up every lease this process may hold (it is stopping): another process may
        take the jobs over at once."""
        for name in sorted(self._leases):
            with contextlib.suppress(StorageError):
                await self._jobs.release(name, self._holder)

    async def _holds(self, job: str, seconds: float) -> bool:
        now = datetime.now(UTC)
        until = now + timedelta(seconds=max(2 * seconds, JOB_LEASE_MIN_SECONDS))
        return await self._jobs.claim(job, self._holder, until=until, now=now)

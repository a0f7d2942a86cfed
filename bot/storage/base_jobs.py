"""The interface for leases on background jobs (one process at a time runs each), and for the
heartbeats of the processes sharing a database."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["JobLeases", "ProcessBeat"]


FORGET_PROCESSES = timedelta(days=1)
"""How long the row of a process whose heartbeat ran out is kept (then deleted)."""


@dataclass(frozen=True, slots=True)
class ProcessBeat:
    """One process's last heartbeat: it counts as alive until ``until``."""

    holder: str
    """The process, as leases name it (host:pid:random)."""
    role: str
    """``"gateway"`` or ``"worker"``."""
    detail: str
    """What it runs: a gateway's shards ("0,1", or "all"); empty for a worker."""
    version: str
    started_at: datetime
    beat_at: datetime
    until: datetime


class JobLeases(ABC):
    """Named leases, each held by one process (its ``holder`` name) until a time."""

    @abstractmethod
    async def claim(self, name: str, holder: str, *, until: datetime, now: datetime) -> bool:
        """Take job ``name`` until ``until`` if it is free, its lease ran out before ``now``, or
        ``holder`` holds it already (which renews it); whether ``holder`` holds it now."""

    @abstractmethod
    async def release(self, name: str, holder: str) -> None:
        """Give job ``name`` up, if ``holder`` holds it (a process stopping)."""

    @abstractmethod
    async def beat(self, process: ProcessBeat) -> None:
        """Record ``process``'s heartbeat (its row is created or replaced); rows run out for
        over a day (processes that died) are deleted."""

    @abstractmethod
    async def processes(
        self, now: datetime, *, role: str | None = None
    ) -> builtins.list[ProcessBeat]:
        """The processes alive at ``now`` (heartbeat not run out), only ``role``'s if given,
        oldest first."""

    @abstractmethod
    async def leave(self, holder: str) -> None:
        """Forget ``holder``'s heartbeat (a process stopping): it counts as gone at once."""

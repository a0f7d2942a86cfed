"""The interface for leases on background jobs: one process at a time runs each."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["JobLeases"]


class JobLeases(ABC):
    """Named leases, each held by one process (its ``holder`` name) until a time."""

    @abstractmethod
    async def claim(self, name: str, holder: str, *, until: datetime, now: datetime) -> bool:
        """Take job ``name`` until ``until`` if it is free, its lease ran out before ``now``, or
        ``holder`` holds it already (which renews it); whether ``holder`` holds it now."""

    @abstractmethod
    async def release(self, name: str, holder: str) -> None:
        """Give job ``name`` up, if ``holder`` holds it (a process stopping)."""

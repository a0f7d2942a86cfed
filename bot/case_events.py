"""Typed case events, for cogs of an operator's own (the extension point) and shipped ones (the
webhook forwarder): a case opened, decided, or one of its effects done or given up.

Subscribers only hear; they never change Discord or a case themselves. Each event is handed to
each subscriber as a task of its own, so a slow or failing subscriber never holds up moderation;
at most :data:`MAX_PENDING` deliveries wait at once, and beyond that events are dropped, counted
and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from bot.storage import Case

log = logging.getLogger(__name__)

MAX_PENDING = 1000


@dataclass(frozen=True, slots=True)
class CaseOpened:
    """A case was stored (its message is being removed or flagged)."""

    name: ClassVar[str] = "case.opened"
    case: Case


@dataclass(frozen=True, slots=True)
class CaseDecided:
    """A moderator confirmed, dismissed or restored a case (``case.status`` says which)."""

    name: ClassVar[str] = "case.decided"
    case: Case
    actor: str


@dataclass(frozen=True, slots=True)
class EffectDone:
    """One effect of a case was carried out, or refused for good (``detail`` says which)."""

    name: ClassVar[str] = "effect.done"
    case: Case
    effect: str
    """``delete``, ``alert``, ``ladder`` or ``repost``."""
    detail: str


@dataclass(frozen=True, slots=True)
class EffectFailed:
    """A case's effects were given up after every retry."""

    name: ClassVar[str] = "effect.failed"
    case: Case
    detail: str


CaseEvent = CaseOpened | CaseDecided | EffectDone | EffectFailed
Subscriber = Callable[[CaseEvent], Awaitable[None]]


class CaseEvents:
    """Hands each event to every subscriber, without waiting for them."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._pending: set[asyncio.Task[None]] = set()
        self.dropped = 0

    def subscribe(self, subscriber: Subscriber) -> None:
        """Hear every event from now on."""
        self._subscribers.append(subscriber)

    def publish(self, event: CaseEvent) -> None:
        """Deliver ``event`` to every subscriber, each as a task of its own."""
        for subscriber in self._subscribers:
            if len(self._pending) >= MAX_PENDING:
                self.dropped += 1
                log.warning(
                    "case event %s of case %s dropped: too many pending", event.name, event.case.id
                )
                continue
            task = asyncio.create_task(self._deliver(subscriber, event))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def drain(self, seconds: float) -> None:
        """Let deliveries under way finish, for at most ``seconds`` (the bot is stopping)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=seconds)

    @staticmethod
    async def _deliver(subscriber: Subscriber, event: CaseEvent) -> None:
        try:
            await subscriber(event)
        except Exception:
            log.exception(
                "a case event subscriber failed on %s of case %s", event.name, event.case.id
            )

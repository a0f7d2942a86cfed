"""An operator's own extension, as the README documents them: it hears case events and keeps
them (the tests read ``HEARD``), and changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.case_events import CaseEvent

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

HEARD: list[CaseEvent] = []


async def setup(bot: ConsentryBot) -> None:
    """Subscribe to case events."""

    async def hear(event: CaseEvent) -> None:
        HEARD.append(event)

    bot.cases.events.subscribe(hear)

"""Registers the persistent review buttons, so alerts keep working after a restart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.runtime.buttons import BanButton, CaseButton

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot


async def setup(bot: ConsentryBot) -> None:
    bot.add_dynamic_items(CaseButton, BanButton)

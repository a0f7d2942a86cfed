"""The "Report as NCII" message context menu: any member can report a message.

It works without the message-content intent: Discord hands the reported message, attachments
included, to the command itself.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

log = logging.getLogger(__name__)

THANKS = (
    "Thank you for reporting this. The moderators have been alerted and will review it. "
    "If it shows you, you are not alone: consider also a takedown request via StopNCII.org."
)


REPORT_COOLDOWN_SECONDS = 30.0
"""One report per member and server in this time: a flood of reports cannot flood moderators."""


class Cooldown:
    """Who acted last and when, for at most ``entries`` keys (the oldest are forgotten)."""

    def __init__(
        self, seconds: float, entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.entries = entries
        self._clock = clock
        self._last: OrderedDict[Hashable, float] = OrderedDict()

    def allow(self, key: Hashable) -> bool:
        """Whether ``key`` may act now (and, if so, start its cooldown)."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.seconds:
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self.entries:
            self._last.popitem(last=False)
        return True


def report_command(bot: ConsentryBot) -> app_commands.ContextMenu:
    """The context menu, bound to ``bot``."""
    cooldown = Cooldown(REPORT_COOLDOWN_SECONDS)

    @app_commands.context_menu(name="Report as NCII")
    @app_commands.guild_only()
    async def report(interaction: discord.Interaction, message: discord.Message) -> None:
        if not cooldown.allow((interaction.guild_id or 0, interaction.user.id)):
            await interaction.response.send_message(
                f"You reported a message moments ago: you can report again in "
                f"{REPORT_COOLDOWN_SECONDS:.0f} seconds. The moderators have your first report.",
                ephemeral=True,
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if bot.watcher is None:
            await interaction.followup.send(
                "Consentry is still starting; try again.", ephemeral=True
            )
            return
        try:
            incident = await bot.watcher.report(message, interaction.user.id)
        except Exception:
            log.exception("report of message %s failed", message.id)
            await interaction.followup.send(
                "Sorry, the report could not be recorded. Please tell a moderator directly.",
                ephemeral=True,
            )
            return
        removed = (
            " It has been removed while they review it."
            if incident.outcome == "Message deleted."
            else ""
        )
        if incident.outcome.startswith("Already with the moderators"):
            removed = f" {incident.outcome}"
        await interaction.followup.send(THANKS + removed, ephemeral=True)

    return report


async def setup(bot: ConsentryBot) -> None:
    bot.tree.add_command(report_command(bot))

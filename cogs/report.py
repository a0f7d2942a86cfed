"""The "Report as NCII" message context menu: any member can report a message.

It works without the message-content intent: Discord hands the reported message, attachments
included, to the command itself.
"""

from __future__ import annotations

import logging
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


def report_command(bot: ConsentryBot) -> app_commands.ContextMenu:
    """The context menu, bound to ``bot``."""

    @app_commands.context_menu(name="Report as NCII")
    @app_commands.guild_only()
    async def report(interaction: discord.Interaction, message: discord.Message) -> None:
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
        await interaction.followup.send(THANKS + removed, ephemeral=True)

    return report


async def setup(bot: ConsentryBot) -> None:
    bot.tree.add_command(report_command(bot))

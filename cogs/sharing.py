"""`/sharing`: opt in to matching the hashes other servers on this instance confirm, and theirs
yours; trust or ignore each participating server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.runtime.permissions import is_manager
from cogs._common import audit, refuse_audited, reply

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

SERVER = "The server's id (right-click it with Developer Mode on, then Copy Server ID)"


class Sharing(commands.Cog):
    """Sharing confirmed hashes between the servers of this instance (opt-in)."""

    group = app_commands.Group(
        name="sharing",
        description="Share confirmed hashes with the other servers of this Consentry instance",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @group.command(name="join", description="Match others' confirmed hashes here, and yours there")
    async def join(self, interaction: discord.Interaction) -> None:
        """Take part: only hashes and labels travel, never media, reasons or who posted."""
        guild = await self._manager(interaction)
        if guild is None:
            return
        await self._set(interaction, guild.id, "share_confirmed", True)
        await reply(
            interaction,
            "This server now takes part in sharing: hashes its moderators confirm are matched in "
            "the other participating servers of this instance, and theirs here (alerts name "
            "the server that confirmed them). Only hashes travel. `/sharing ignore` leaves one "
            "server's confirmations out; `/sharing leave` stops it all.",
        )

    @group.command(name="leave", description="Stop sharing: only this server's own hashes count")
    async def leave(self, interaction: discord.Interaction) -> None:
        """Stop taking part (both ways, at once)."""
        guild = await self._manager(interaction)
        if guild is None:
            return
        await self._set(interaction, guild.id, "share_confirmed", False)
        await reply(interaction, "This server no longer takes part in sharing, either way.")

    @group.command(name="ignore", description="Ignore one participating server's confirmations")
    @app_commands.describe(server=SERVER)
    async def ignore(self, interaction: discord.Interaction, server: str) -> None:
        """Leave one server's confirmations out here."""
        await self._trust(interaction, server, trusted=False)

    @group.command(name="trust", description="Count an ignored server's confirmations again")
    @app_commands.describe(server=SERVER)
    async def trust(self, interaction: discord.Interaction, server: str) -> None:
        """Count one server's confirmations here again."""
        await self._trust(interaction, server, trusted=True)

    @group.command(name="status", description="Who takes part, and whom this server ignores")
    async def status(self, interaction: discord.Interaction) -> None:
        """Participating servers of this instance, and this server's choices."""
        guild = await self._manager(interaction)
        if guild is None:
            return
        mine = await self.bot.guild_settings.get(guild.id)
        lines = [f"This server {'takes' if mine.share_confirmed else 'does not take'} part."]
        for other in self.bot.guilds:
            if (
                other.id == guild.id
                or not (await self.bot.guild_settings.get(other.id)).share_confirmed
            ):
                continue
            state = "ignored here" if other.id in mine.share_ignored_guild_ids else "trusted"
            lines.append(f"- {other.name} ({other.id}): {state}")
        if len(lines) == 1:
            lines.append("No other server of this instance takes part.")
        await reply(interaction, "\n".join(lines))

    async def _trust(self, interaction: discord.Interaction, server: str, *, trusted: bool) -> None:
        guild = await self._manager(interaction)
        if guild is None:
            return
        if not server.strip().isdigit() or int(server) == guild.id:
            await reply(interaction, "Give another server's id (a number).")
            return
        ignored = (await self.bot.guild_settings.get(guild.id)).share_ignored_guild_ids
        other = int(server)
        changed = ignored - {other} if trusted else ignored | {other}
        await self._set(interaction, guild.id, "share_ignored_guild_ids", changed)
        word = "counted here again" if trusted else "ignored here from now on"
        await reply(interaction, f"Confirmations of server {other} are {word}.")

    async def _set(
        self, interaction: discord.Interaction, guild_id: int, key: str, value: object
    ) -> None:
        await self.bot.guild_settings.set(guild_id, key, value)
        shown = sorted(value) if isinstance(value, frozenset) else value
        await audit(
            self.bot,
            interaction,
            "settings.changed",
            f"setting {key}",
            {"key": key, "value": shown},
        )

    async def _manager(self, interaction: discord.Interaction) -> discord.Guild | None:
        member = interaction.user
        if isinstance(member, discord.Member) and is_manager(member):
            return member.guild
        await refuse_audited(
            self.bot, interaction, "Only members with Manage Server can change sharing."
        )
        return None


async def setup(bot: ConsentryBot) -> None:
    """Register the ``/sharing`` commands."""
    await bot.add_cog(Sharing(bot))

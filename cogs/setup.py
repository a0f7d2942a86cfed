"""`/consentry setup` and `/consentry status`: finish setup and see what the bot is doing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.runtime.permissions import is_manager, refuse
from bot.storage import WorkState
from cogs._status_format import feed_lines, process_lines

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot


class Setup(commands.Cog):
    """Setup and status commands for server managers."""

    group = app_commands.Group(
        name="consentry",
        description="Consentry setup and status",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @group.command(name="setup", description="Choose the channel where moderators get alerts")
    @app_commands.describe(alert_channel="Moderators-only channel for Consentry alerts")
    async def setup_command(
        self, interaction: discord.Interaction, alert_channel: discord.TextChannel
    ) -> None:
        if not await _can_manage(interaction):
            return
        assert interaction.guild is not None  # guild_only
        me = interaction.guild.me
        missing = _missing_alert_permissions(alert_channel, me)
        if missing:
            await interaction.response.send_message(
                f"I cannot post alerts in {alert_channel.mention}: give me {missing} there, "
                "then run this again (alerts are embeds with a blurred preview attached).",
                ephemeral=True,
            )
            return
        await self.bot.guild_settings.set(
            interaction.guild.id, "alert_channel_id", alert_channel.id
        )
        await interaction.response.send_message(
            f"Setup complete: alerts go to {alert_channel.mention}. Consentry now acts on every "
            f"signal in its policy, not only on blocklist matches.\n{_evidence(self.bot)}\n"
            f"{protection_text(self.bot, interaction.guild.id)}",
            ephemeral=True,
        )

    @group.command(name="status", description="Show setup, blocklist size and scanner state")
    async def status_command(self, interaction: discord.Interaction) -> None:
        if not await _can_manage(interaction):
            return
        assert interaction.guild is not None
        settings = await self.bot.guild_settings.get(interaction.guild.id)
        engine = self.bot.engine
        channel = f"<#{settings.alert_channel_id}>" if settings.alert_channel_id else "not set"
        lines = [
            f"Alert channel: {channel}"
            + ("" if settings.setup_complete else " (setup incomplete: blocklist matches only)"),
            f"Blocklist entries loaded: {len(engine.matcher.snapshot)}",
            _evidence(self.bot),
            protection_text(self.bot, interaction.guild.id),
            f"State: {'ready' if self.bot.caught_up.is_set() else 'catching up'}",
            f"Messages waiting to be scanned: {_queue(self.bot)}",
            *await work_lines(self.bot, interaction.guild.id),
            f"CPU tasks waiting or running: {engine.executor.pending}",
            f"Files remembered: {len(engine.scanner.cache)}",
            *await process_lines(self.bot),
            *feed_lines(
                await engine.storage.feeds.list(None)
                + await engine.storage.feeds.list(interaction.guild.id)
            ),
        ]
        await interaction.response.send_message("\n".join(lines), ephemeral=True)


STUCK_SHOWN = 5
"""Failed or retrying messages listed by /consentry status (newest first)."""
STUCK_TEXT = 200

ALERT_PERMISSIONS = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
    ("attach_files", "Attach Files"),
)
"""What posting an alert takes: without any one of them every alert would be lost."""


def _missing_alert_permissions(channel: discord.TextChannel, me: discord.Member | None) -> str:
    have = channel.permissions_for(me) if me is not None else discord.Permissions.none()
    missing = [name for attribute, name in ALERT_PERMISSIONS if not getattr(have, attribute)]
    return (
        ", ".join(missing[:-1])
        + (" and " if len(missing) > 1 else "")
        + (missing[-1] if missing else "")
    )


def _evidence(bot: ConsentryBot) -> str:
    if bot.cases.keeps_evidence:
        return "Evidence: encrypted copies are kept with each case for the retention period."
    return (
        "Evidence: **not kept** (hashes only): the bot's host has no CONSENTRY_EVIDENCE_KEY, so "
        "Reveal and Restore are unavailable."
    )


def protection_text(bot: ConsentryBot, guild_id: int) -> str:
    """Whether members can protect themselves here, and how many have."""
    reason = bot.protection.unavailable_reason
    if reason is not None:
        return f"Likeness protection: **unavailable**. {reason}"
    count = bot.engine.protected.count(guild_id)
    return f"Likeness protection: on; {count} member(s) protected (members enrol with /protect me)."


async def work_lines(bot: ConsentryBot, guild_id: int) -> list[str]:
    """The durable record of work in this server: what is due, and what has failed."""
    work = bot.engine.storage.work
    counts = await work.counts(guild_id)
    lines = [
        f"Work: {counts[WorkState.SCAN]} message(s) to scan, {counts[WorkState.ACT]} with a "
        f"deletion or alert still due, {counts[WorkState.FAILED]} given up"
    ]
    for item in await work.stuck(guild_id, limit=STUCK_SHOWN):
        verb = "given up" if item.state is WorkState.FAILED else "retrying"
        case = f" (case {item.case_id})" if item.case_id else ""
        lines.append(
            f"• message {item.message_id} in <#{item.channel_id}>{case}, {verb}: "
            f"{item.error[:STUCK_TEXT]}"
        )
    return lines


def _queue(bot: ConsentryBot) -> str:
    queue = bot.intake
    if queue is None:
        return "not started"
    return f"{queue.depth} (of {queue.maxsize}; {queue.handled} handled, {queue.drops} dropped)"


async def _can_manage(interaction: discord.Interaction) -> bool:
    member = interaction.user
    if isinstance(member, discord.Member) and is_manager(member):
        return True
    await refuse(interaction, "You need the Manage Server permission to use this command.")
    return False


async def setup(bot: ConsentryBot) -> None:
    await bot.add_cog(Setup(bot))

"""Shared by the command cogs: who the caller is, audit records, and ephemeral replies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.runtime.permissions import refuse

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

DISCORD_LIMIT = 2000
"""Discord refuses message content longer than this."""


def actor(member: discord.abc.User) -> str:
    """The audit log's name for a Discord user (the same form the review buttons record)."""
    return f"user:{member.id}"


def name_of(file: discord.Attachment) -> str:
    """An attachment's name, quoted so that markdown in it shows as typed."""
    return "`" + file.filename.replace("`", "'") + "`"


async def download(interaction: discord.Interaction, file: discord.Attachment) -> bytes | None:
    """An attachment's bytes, or None after telling the caller Discord would not give them."""
    try:
        return await file.read()
    except discord.HTTPException as exc:
        await reply(
            interaction, f"Could not download {name_of(file)} (Discord answered {exc.status})."
        )
        return None


def clip(text: str, limit: int = DISCORD_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, ending with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def audit(
    bot: ConsentryBot,
    interaction: discord.Interaction,
    action: str,
    subject: str,
    details: dict[str, Any],
) -> None:
    """Append one record for the command's server, with the caller as actor."""
    await bot.engine.storage.audit.append(
        guild_id=interaction.guild_id,
        actor=actor(interaction.user),
        action=action,
        subject=subject,
        details=details,
    )


async def refuse_audited(bot: ConsentryBot, interaction: discord.Interaction, text: str) -> None:
    """Refuse a caller who lacks the permission, and record the attempt (``command.refused``)."""
    command = interaction.command
    name = command.qualified_name if command is not None else "unknown"
    await audit(bot, interaction, "command.refused", f"/{name}", {"command": name})
    await refuse(interaction, text)


async def reply(
    interaction: discord.Interaction, text: str, *, file: discord.File | None = None
) -> None:
    """Answer only the caller, as the first response or as the follow-up to a deferral."""
    text = clip(text)
    if interaction.response.is_done():
        if file is None:
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.followup.send(text, ephemeral=True, file=file)
    elif file is None:
        await interaction.response.send_message(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True, file=file)

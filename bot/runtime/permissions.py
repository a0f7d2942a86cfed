"""Who may do what, re-checked in code whatever a server did to the default permissions."""

from __future__ import annotations

import discord

from bot.guild_settings import GuildSettings


def is_moderator(member: discord.Member, settings: GuildSettings) -> bool:
    """Manage Messages (or Administrator) in the server, or the server's moderator role."""
    permissions = member.guild_permissions
    if permissions.manage_messages or permissions.administrator:
        return True
    role = settings.moderator_role_id
    return role is not None and any(r.id == role for r in member.roles)


def is_manager(member: discord.Member) -> bool:
    """Manage Server (or Administrator): may change Consentry's settings."""
    permissions = member.guild_permissions
    return permissions.manage_guild or permissions.administrator


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """Answer only the caller, whether or not the interaction was answered already."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)

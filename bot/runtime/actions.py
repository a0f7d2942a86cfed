"""The one module that changes Discord: deletes, alerts, direct messages and notices.

Everything else decides; this module acts, and turns every Discord error into a logged outcome
or a message to moderators. Nothing here raises into the caller for a Discord-side failure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import discord

from bot.core.moderation import Decision, is_known_abuse
from bot.core.verdict import Action, Verdict
from bot.guild_settings import GuildSettings

log = logging.getLogger(__name__)

_COLOURS = {
    Action.QUARANTINE: discord.Colour.red(),
    Action.FLAG: discord.Colour.orange(),
    Action.UNSCANNABLE: discord.Colour.light_grey(),
}
_FIELD_LIMIT = 1024
_MAX_MEDIA_FIELDS = 10
_AUDIT_REASON_LIMIT = 512

SETUP_NOTICE = (
    "**Consentry is installed but not set up yet.** No alert channel has been chosen, so for now "
    "it only removes media that matches a blocklist of known abusive images, and it reports to "
    "the server owner by direct message. A server manager can finish setup with "
    "`/consentry setup`, choosing the channel where moderators receive alerts."
)


@dataclass(frozen=True, slots=True)
class MediaReport:
    """One scanned piece of media and its verdict."""

    label: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Incident:
    """A scanned message: its media's verdicts, the decision, and what was done about it."""

    message: discord.Message
    decision: Decision
    media: tuple[MediaReport, ...]
    outcome: str
    """What happened, for moderators: "Message deleted.", or why it could not be."""


class Actioner:
    """Performs moderation actions on Discord for decided incidents."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def delete(self, message: discord.Message, reason: str) -> str | None:
        """Delete ``message``; returns None on success or a moderator-facing reason it failed."""
        try:
            # Message.delete() takes no reason; the HTTP call carries it to the audit log.
            await self._client.http.delete_message(
                message.channel.id, message.id, reason=reason[:_AUDIT_REASON_LIMIT]
            )
        except discord.NotFound:
            return None  # already gone (deleted by its author or another moderator)
        except discord.Forbidden:
            where = getattr(message.channel, "mention", "this channel")
            return f"Not deleted: Consentry lacks the Manage Messages permission in {where}."
        except discord.HTTPException as exc:
            log.warning("delete of message %s failed: %s", message.id, exc)
            return f"Not deleted: Discord answered {exc.status} ({exc.text or 'no detail'})."
        return None

    async def alert(self, incident: Incident, settings: GuildSettings) -> bool:
        """Send the alert to the alert channel, or to the owner by DM while setup is incomplete."""
        embed = alert_embed(incident)
        guild = incident.message.guild
        if guild is None:
            return False
        if settings.alert_channel_id is not None:
            channel = guild.get_channel_or_thread(settings.alert_channel_id)
            if isinstance(channel, discord.abc.Messageable):
                return await self._send(channel, embed=embed)
            log.warning(
                "guild %s: alert channel %s no longer exists", guild.id, settings.alert_channel_id
            )
        return await self._dm_owner(guild, embed)

    async def setup_notice(self, guild: discord.Guild) -> bool:
        """Say once, in the system channel, what setup is missing (never mentioning content)."""
        channel = guild.system_channel
        if channel is None:
            return await self._dm_owner(guild, None, content=SETUP_NOTICE)
        return await self._send(channel, content=SETUP_NOTICE)

    async def tell_alert_channel(
        self, guild: discord.Guild, settings: GuildSettings, text: str
    ) -> bool:
        """Post a plain operational notice (missing permissions...) where moderators will see it."""
        if settings.alert_channel_id is None:
            return False
        channel = guild.get_channel_or_thread(settings.alert_channel_id)
        return isinstance(channel, discord.abc.Messageable) and await self._send(
            channel, content=text
        )

    async def _dm_owner(
        self, guild: discord.Guild, embed: discord.Embed | None, content: str | None = None
    ) -> bool:
        try:
            owner = guild.owner or await self._client.fetch_user(guild.owner_id or 0)
        except discord.HTTPException as exc:
            log.warning("guild %s: cannot find the owner to alert: %s", guild.id, exc)
            return False
        if embed is not None:
            content = f"From **{guild.name}**, where Consentry is not fully set up yet:"
        return await self._send(owner, content=content, embed=embed)

    async def _send(
        self,
        target: discord.abc.Messageable,
        *,
        content: str | None = None,
        embed: discord.Embed | None = None,
    ) -> bool:
        embeds = [embed] if embed is not None else []
        try:
            await target.send(
                content=content, embeds=embeds, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as exc:
            log.warning("could not send to %s: %s", getattr(target, "id", target), exc)
            return False
        return True


def alert_embed(incident: Incident) -> discord.Embed:
    """The alert: who, where, a jump link, every reason with its score or distance. No image."""
    decision = incident.decision
    message = incident.message
    known = any(is_known_abuse(v) for v in decision.verdicts)
    title = {
        Action.QUARANTINE: "Quarantined: known abusive media" if known else "Quarantined",
        Action.FLAG: "Flagged for review",
        Action.UNSCANNABLE: "Could not scan media",
    }.get(decision.action, "Consentry alert")
    embed = discord.Embed(title=title, colour=_COLOURS.get(decision.action))
    author = message.author
    embed.add_field(name="Author", value=f"{author.mention} `{author}` ({author.id})", inline=True)
    channel = getattr(message.channel, "mention", str(message.channel.id))
    embed.add_field(name="Channel", value=channel, inline=True)
    embed.add_field(name="Message", value=f"[jump]({message.jump_url}) ({message.id})", inline=True)
    embed.add_field(name="Outcome", value=incident.outcome[:_FIELD_LIMIT], inline=False)
    shown = [m for m in incident.media if m.verdict in decision.verdicts][:_MAX_MEDIA_FIELDS]
    for report in shown:
        lines = [f"• {r.message}" for r in report.verdict.reasons] or ["• no reason recorded"]
        embed.add_field(name=report.label[:256], value=_clip("\n".join(lines)), inline=False)
    hidden = len([m for m in incident.media if m.verdict in decision.verdicts]) - len(shown)
    if hidden > 0:
        embed.add_field(name="More media", value=f"{hidden} more not shown", inline=False)
    embed.set_footer(text="Consentry · no image is reposted here")
    return embed


def audit_reason(decision: Decision) -> str:
    """The audit-log reason for a deletion: the strongest reason, briefly."""
    for verdict in decision.verdicts:
        for reason in verdict.reasons:
            if reason.action is Action.QUARANTINE:
                return f"Consentry quarantine: {reason.message}"
    return "Consentry quarantine"


def _clip(text: str) -> str:
    return text if len(text) <= _FIELD_LIMIT else text[: _FIELD_LIMIT - 1] + "…"

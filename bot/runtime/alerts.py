"""What moderators are told: incidents, alert embeds and notices (built here, sent by actions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import discord

from bot.core.moderation import Decision, is_known_abuse, protects_member
from bot.core.verdict import Action, Verdict
from bot.runtime.campaigns import campaign_text
from bot.storage import Campaign, Case

_COLOURS = {
    Action.QUARANTINE: discord.Colour.red(),
    Action.FLAG: discord.Colour.orange(),
    Action.UNSCANNABLE: discord.Colour.light_grey(),
}
_FIELD_LIMIT = 1024
_MAX_MEDIA_FIELDS = 10

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
    data: bytes | None = field(default=None, repr=False, compare=False)
    """The downloaded bytes (None if the download failed); kept only until the case is open."""


@dataclass(frozen=True, slots=True)
class Post:
    """The message an incident is about, by id: it may be gone by the time its alert is sent."""

    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    author_name: str = ""
    """The author's user name, when known (shown beside the mention)."""

    @classmethod
    def of(cls, message: discord.Message) -> Post:
        return cls(
            message.guild.id if message.guild else 0,
            message.channel.id,
            message.id,
            message.author.id,
            str(message.author),
        )

    @property
    def jump_url(self) -> str:
        return f"https://discord.com/channels/{self.guild_id}/{self.channel_id}/{self.message_id}"


@dataclass(frozen=True, slots=True)
class Incident:
    """A scanned message: its media's verdicts, the decision, and what was done about it."""

    post: Post
    decision: Decision
    media: tuple[MediaReport, ...]
    outcome: str
    """What happened, for moderators: "Message deleted.", or why it could not be."""
    case_id: int | None = None
    reported_by: int | None = None
    """The member who reported the message with "Report as NCII", if that is how it came."""
    campaign: Campaign | None = None
    """The campaign the message belongs to, if it is one (several accounts or servers)."""


def alert_embed(incident: Incident) -> discord.Embed:
    """The alert: who, where, a jump link, every reason with its score or distance. No image."""
    decision = incident.decision
    post = incident.post
    known = any(is_known_abuse(v) for v in decision.verdicts)
    likeness = any(protects_member(v) for v in decision.verdicts)
    quarantined = (
        "Quarantined: known abusive media"
        if known
        else "Quarantined: explicit media showing a protected member"
        if likeness
        else "Quarantined"
    )
    title = {
        Action.QUARANTINE: quarantined,
        Action.FLAG: "Flagged for review",
        Action.UNSCANNABLE: "Could not scan media",
    }.get(decision.action, "Consentry alert")
    if incident.reported_by is not None:
        title = f"Reported as NCII · {title}" if decision.verdicts else "Reported as NCII"
    embed = discord.Embed(title=title, colour=_COLOURS.get(decision.action))
    if incident.reported_by is not None:
        embed.add_field(name="Reported by", value=f"<@{incident.reported_by}>", inline=False)
    name = f" `{post.author_name}`" if post.author_name else ""
    embed.add_field(
        name="Author", value=f"<@{post.author_id}>{name} ({post.author_id})", inline=True
    )
    embed.add_field(name="Channel", value=f"<#{post.channel_id}>", inline=True)
    embed.add_field(
        name="Message", value=f"[jump]({post.jump_url}) ({post.message_id})", inline=True
    )
    embed.add_field(name="Outcome", value=incident.outcome[:_FIELD_LIMIT], inline=False)
    if incident.campaign is not None and incident.campaign.spread:
        embed.add_field(name="Campaign", value=campaign_text(incident.campaign), inline=False)
    shown = [m for m in incident.media if m.verdict in decision.verdicts][:_MAX_MEDIA_FIELDS]
    for report in shown:
        lines = [f"• {r.message}" for r in report.verdict.reasons] or ["• no reason recorded"]
        embed.add_field(name=report.label[:256], value=_clip("\n".join(lines)), inline=False)
    hidden = len([m for m in incident.media if m.verdict in decision.verdicts]) - len(shown)
    if hidden > 0:
        embed.add_field(name="More media", value=f"{hidden} more not shown", inline=False)
    embed.set_footer(text="Consentry · the preview is blurred; the original only via Reveal")
    return embed


def case_incident(case: Case, outcome: str) -> Incident:
    """The incident a stored case records, for an alert sent after a restart (the message may
    be gone, and its bytes with it: such an alert has no preview)."""
    media = tuple(
        MediaReport(str(m.get("label", "media")), Verdict.from_dict(m))
        for m in case.verdict.get("media", [])
    )
    decision = Decision(Action(case.action), True, tuple(r.verdict for r in media))
    post = Post(case.guild_id, case.channel_id, case.message_id, case.author_id)
    return Incident(post, decision, media, outcome, case.id)


def audit_reason(decision: Decision) -> str:
    """The audit-log reason for a deletion: the strongest reason, briefly."""
    for verdict in decision.verdicts:
        for reason in verdict.reasons:
            if reason.action is Action.QUARANTINE:
                return f"Consentry quarantine: {reason.message}"
    return "Consentry quarantine"


def _clip(text: str) -> str:
    return text if len(text) <= _FIELD_LIMIT else text[: _FIELD_LIMIT - 1] + "…"

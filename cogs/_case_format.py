"""The text and embeds of `/cases` replies: kept apart so the cog reads as what it does.

Times are Discord timestamps (``<t:…>``): each moderator's client shows them in their own time
zone and language, and relative ones ("3 hours ago") stay right as the reply ages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord
from discord.utils import format_dt

from bot.storage import AuditVerification, Case, CaseEvent, CaseStatus, Evidence
from cogs._common import clip

PAGE_SIZE = 10
TIMELINE_SHOWN = 10
MEDIA_SHOWN = 6
"""Media fields in `/cases show`; with the other fields this keeps an embed under Discord's 6,000
characters in all (each media field is clipped to ``_MEDIA_LIMIT``)."""
_FIELD_LIMIT = 1024
_MEDIA_LIMIT = 400
_NOTE_SHOWN = 150
_HOLD = "🔒 legal hold"

_COLOURS = {
    CaseStatus.OPEN: discord.Colour.orange(),
    CaseStatus.CONFIRMED: discord.Colour.red(),
    CaseStatus.DISMISSED: discord.Colour.light_grey(),
    CaseStatus.RESTORED: discord.Colour.green(),
}


def plural(n: int, word: str) -> str:
    """``"1 case"``, ``"2 cases"``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def actor_text(actor: str) -> str:
    """A timeline or audit actor as moderators read it: members as mentions."""
    kind, _, ident = actor.partition(":")
    if kind == "user" and ident.isdigit():
        return f"<@{ident}>"
    return "Consentry" if actor == "consentry" else f"`{actor}`"


def case_line(case: Case) -> str:
    """One case in `/cases list`: id, age, action, author, channel, status, legal hold."""
    line = (
        f"**#{case.id}** · {format_dt(case.created_at, 'R')} · {case.action} · "
        f"<@{case.author_id}> in <#{case.channel_id}> · {case.status.value}"
    )
    return f"{line} · {_HOLD}" if case.legal_hold else line


def list_text(cases: Sequence[Case], status: str, page: int, total: int) -> str:
    """The reply to `/cases list`: a page of cases, the page count and how to see the next one."""
    which = "" if status == "all" else f"{status} "
    pages = max(1, -(-total // PAGE_SIZE))
    if total == 0:
        return f"There are no {which}cases in this server."
    if not cases:
        count = plural(total, which + "case")
        return f"There is no page {page}: the last is page {pages} ({count})."
    lines = [f"**{which.capitalize() or 'All '}cases in this server, newest first**"]
    lines += [case_line(case) for case in cases]
    lines.append(f"Page {page} of {pages} ({plural(total, 'case')}).")
    if page < pages:
        lines.append(f"Next page: `/cases list status:{status} page:{page + 1}`.")
    lines.append("Details of one case: `/cases show case_id:<id>`.")
    return clip("\n".join(lines))


def case_embed(
    case: Case, evidence: Sequence[Evidence], events: Sequence[CaseEvent]
) -> discord.Embed:
    """The reply to `/cases show`: the case, its media and reasons, its evidence and timeline."""
    embed = discord.Embed(
        title=f"Case #{case.id}: {case.status.value}", colour=_COLOURS[case.status]
    )
    jump = f"https://discord.com/channels/{case.guild_id}/{case.channel_id}/{case.message_id}"
    fields = [
        ("Status", case.status.value),
        ("Action", case.action),
        ("Legal hold", "yes: its evidence is never purged" if case.legal_hold else "no"),
        ("Author", f"<@{case.author_id}> ({case.author_id})"),
        ("Channel", f"<#{case.channel_id}>"),
        ("Message", f"[{case.message_id}]({jump}) (deleted if the action removed it)"),
        ("Created", f"{format_dt(case.created_at, 'f')} ({format_dt(case.created_at, 'R')})"),
        ("Evidence", evidence_state(evidence, legal_hold=case.legal_hold)),
    ]
    for name, value in fields:
        embed.add_field(name=name, value=value, inline=name != "Evidence")
    items = media_items(case)
    for item in items[:MEDIA_SHOWN]:
        embed.add_field(
            name=clip(str(item.get("label") or "media"), 256),
            value=clip(_media_text(case, item, evidence), _MEDIA_LIMIT),
            inline=False,
        )
    if len(items) > MEDIA_SHOWN:
        embed.add_field(name="More media", value=f"{len(items) - MEDIA_SHOWN} more not shown")
    embed.add_field(name="Timeline", value=timeline_text(events) or "no events", inline=False)
    return embed


def media_items(case: Case) -> list[dict[str, Any]]:
    """The case's media records; cases opened before schema 2 only have their verdicts."""
    if case.media:
        return case.media
    recorded = case.verdict.get("media")
    if isinstance(recorded, list) and recorded:
        return [m for m in recorded if isinstance(m, dict)]
    return [{"label": "media", "sha256": case.sha256, "action": case.action}]


def _media_text(case: Case, item: dict[str, Any], evidence: Sequence[Evidence]) -> str:
    sha256 = str(item.get("sha256") or "")
    kept = [e for e in evidence if e.label == item.get("label") and e.sha256 == sha256]
    head = f"sha256 `{sha256[:16]}…` · {item.get('action', case.action)} · evidence: " + (
        evidence_state(kept, legal_hold=case.legal_hold, short=True)
    )
    reasons = [f"• {r}" for r in _reasons(case, item)] or ["• no reason recorded"]
    return "\n".join([head, *reasons])


def _reasons(case: Case, item: dict[str, Any]) -> list[str]:
    # The verdicts are stored per media item, labelled as in ``case.media``.
    for verdict in case.verdict.get("media") or []:
        if isinstance(verdict, dict) and verdict.get("label") == item.get("label"):
            return [str(r.get("message", r)) for r in verdict.get("reasons") or []]
    return []


def evidence_state(items: Sequence[Evidence], *, legal_hold: bool, short: bool = False) -> str:
    """Stored (until when, or kept under hold), purged (when), or not kept at all."""
    if not items:
        return "not kept" if short else "not kept: this case holds hashes only"
    stored = [e for e in items if e.purged_at is None]
    purged = [e for e in items if e.purged_at is not None]
    if short:
        return "stored" if stored else "purged"
    parts = []
    if stored:
        until = (
            "kept under legal hold"
            if legal_hold
            else f"due for purging {format_dt(min(e.expires_at for e in stored), 'R')}"
        )
        parts.append(f"stored: {plural(len(stored), 'item')}, encrypted, {until}")
    if purged:
        last = max(e.purged_at for e in purged if e.purged_at is not None)
        parts.append(f"purged: {plural(len(purged), 'item')}, last {format_dt(last, 'R')}")
    return "; ".join(parts)


def timeline_text(events: Sequence[CaseEvent]) -> str:
    """The newest ``TIMELINE_SHOWN`` events, oldest first, as many as fit in one field."""
    lines: list[str] = []
    used = 0
    for event in reversed(events[-TIMELINE_SHOWN:]):
        line = _event_line(event)
        if used + len(line) + 1 > _FIELD_LIMIT - 40:  # room for the "earlier events" line
            break
        lines.append(line)
        used += len(line) + 1
    lines.reverse()
    hidden = len(events) - len(lines)
    if hidden:
        lines.insert(0, f"… {plural(hidden, 'earlier event')} not shown")
    return "\n".join(lines)


def _event_line(event: CaseEvent) -> str:
    if event.previous is None:
        change = "opened"
    elif event.previous is not event.status:
        change = f"{event.previous.value} → {event.status.value}"
    else:
        change = ""  # a note or a legal hold: the status did not move
    note = clip(event.note, _NOTE_SHOWN)
    what = " · ".join(part for part in (change, note) if part)
    return f"{format_dt(event.at, 'f')} {actor_text(event.actor)}: {what}"


def forget_text(mention: str, purged: int, kept: int, cases: int) -> str:
    """The reply to `/cases forget-user`."""
    if cases == 0:
        return f"{mention} has no cases in this server: there is nothing to purge."
    lines = [
        f"Data request for {mention}: purged {plural(purged, 'evidence item')} "
        f"from their {plural(cases, 'case')} in this server."
    ]
    if kept:
        lines.append(
            f"Kept {plural(kept, 'item')} whose cases are under legal hold: lift the hold with "
            "`/cases hold case_id:<id> on:False` and run this again to purge them."
        )
    lines.append(
        "The cases themselves stay, with their hashes and timelines: they hold no media, and "
        "they keep this media blocked and the moderators' decisions accountable."
    )
    return "\n".join(lines)


def verify_text(result: AuditVerification) -> str:
    """The reply to `/cases audit-verify`."""
    if result.ok:
        return (
            f"Audit log intact: {plural(result.checked, 'record')} checked, every one chained to "
            f"the one before. Head: `{result.head[:16]}…` (keep a copy to notice a later rewrite)."
        )
    return (
        f"Audit log BROKEN at record #{result.first_bad_id} ({plural(result.checked, 'record')} "
        "checked): that record, or the one before it, was changed or deleted outside Consentry. "
        "Records from there on cannot be trusted; compare with a backup."
    )

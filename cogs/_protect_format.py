"""Texts of ``/protect`` and ``/protected``: what a member and the moderators read."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.blocklist import BlocklistEntry
from bot.protection import EnrolOutcome
from bot.storage import Enrolment

PAGE_SIZE = 20

CONSENT = (
    "By enrolling you ask Consentry to remove explicit media showing your face from this "
    "server. It keeps only numbers describing your face (encrypted), never your photos; "
    "moderators see that you are protected and since when, never the data. "
    "`/protect withdraw` deletes it at once."
)


def outcome_text(outcome: EnrolOutcome) -> str:
    """The private reply to an enrolment: usable faces, and why any photo was refused."""
    lines = []
    if outcome.stored is None:
        lines.append("You are **not** protected: none of your photos could be used.")
    else:
        verb = "updated" if outcome.replaced else "on"
        notice = (
            "You will get a private notice when media showing you is removed."
            if outcome.stored.notify
            else "You will not be notified (enrol with `notify: True` to be)."
        )
        lines.append(
            f"Protection {verb}: {outcome.usable} usable face{'s' * (outcome.usable != 1)} "
            f"stored (encrypted). {notice}"
        )
    for photo in outcome.photos:
        if photo.problem is not None:
            lines.append(f"- {photo.name}: refused, {photo.problem}")
    if outcome.stored is not None:
        lines.append(CONSENT)
    return "\n".join(lines)


def status_text(enrolment: Enrolment | None, unavailable: str | None) -> str:
    """The member's own status."""
    if enrolment is None:
        base = "You are not protected in this server."
        return f"{base} {unavailable}" if unavailable else f"{base} Use `/protect me` to enrol."
    notice = "on" if enrolment.notify else "off"
    return (
        f"You are protected here since {_date(enrolment)} ({enrolment.faces} face"
        f"{'s' * (enrolment.faces != 1)}, from {enrolment.source}; private notices {notice}). "
        "`/protect withdraw` deletes your data at once."
    )


def listing_text(enrolments: Sequence[Enrolment], page: int, enabled: bool) -> str:
    """Who is protected and since when (moderators): never the data."""
    state = (
        "" if enabled else " Likeness matching is **off** in this server (`/settings likeness`)."
    )
    if not enrolments:
        return "No member is protected in this server." + state
    pages = max(1, -(-len(enrolments) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = enrolments[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    lines = [f"{len(enrolments)} protected member(s), page {page} of {pages}.{state}"]
    lines += [f"- <@{e.member_id}> since {_date(e)} ({e.faces} face(s))" for e in shown]
    return "\n".join(lines)


def _date(enrolment: Enrolment) -> str:
    return f"<t:{int(enrolment.created_at.timestamp())}:D>"


def own_media_help() -> str:
    """How a member makes the file ``/protect media add`` takes."""
    return (
        "Make the file on your own computer with `consentry hash YOUR-FILES` (it hashes the "
        "media there; the media never leaves it) and upload `consentry-hashes.json`."
    )


def registered_text(files: int, fresh: int, known: int) -> str:
    """The reply to ``/protect media add``."""
    again = f" ({known} you had registered already)" if known else ""
    return (
        f"Registered {fresh} hashes of {files} files{again}. Copies of this media posted here "
        "are now removed, edited copies too when their picture still matches. Moderators see "
        "that members registered hashes and how many, never whose or of what. "
        "`/protect media withdraw` takes them back at once; leaving the server does too."
    )


def own_listing_text(entries: Sequence[BlocklistEntry]) -> str:
    """The reply to ``/protect media list``: only the caller's own registrations."""
    if not entries:
        return f"You registered no media here. {own_media_help()}"
    kinds: dict[str, int] = {}
    for entry in entries:
        kinds[entry.algorithm.value] = kinds.get(entry.algorithm.value, 0) + 1
    counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    since = min(e.added_at for e in entries)
    shown = "\n".join(f"- {e.algorithm.value} `{e.value[:16]}…`" for e in entries[:10])
    more = f"\n- … and {len(entries) - 10} more" if len(entries) > 10 else ""
    return (
        f"You registered {len(entries)} hashes here ({counted}), the first on "
        f"{since:%Y-%m-%d}:\n{shown}{more}\n`/protect media withdraw` takes them all back."
    )


def own_counts_text(members: int, hashes: int) -> str:
    """What moderators see of registered media: counts only."""
    if not members:
        return ""
    return f"\n{members} member(s) registered {hashes} hashes of their own media (not shown)."

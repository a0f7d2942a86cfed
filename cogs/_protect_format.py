"""Texts of ``/protect`` and ``/protected``: what a member and the moderators read."""

from __future__ import annotations

from collections.abc import Sequence

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

"""Carrying out a stored case's effects on Discord, each recorded as it completes.

The case is committed first (with its work record in ACT); then the message is deleted and the
moderators alerted. Each effect that succeeds, or is refused for good, is cleared from the work
record in the same transaction as its audit record; one that meets a passing fault is retried
with backoff, by the backlog (:mod:`bot.runtime.backlog`), from the stored record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import discord

from bot.case_events import EffectDone, EffectFailed
from bot.cases import BOT_ACTOR, CaseError, CaseService
from bot.guild_settings import GuildSettingsService
from bot.runtime.actions import Actioner, Outcome
from bot.runtime.alerts import Incident, audit_reason
from bot.runtime.buttons import review_view
from bot.runtime.likeness import LikenessEffects
from bot.storage import Case, Storage, WorkState

log = logging.getLogger(__name__)

ALERT_TRIES = 4
"""Tries at posting an alert in the alert channel before it goes to the owner by DM instead."""
MAX_TRIES = 12
"""Tries at any effect before the work is given up (FAILED, shown in /consentry status): with
the backoff below, about an hour and a half of retrying."""
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 600.0


Audit = tuple[str, dict[str, object]]
"""An effect's audit record: its action and details."""

Preview = Callable[[], Awaitable[bytes | None]]
"""Makes an alert's blurred preview (CPU work in the executor), when it is about to be sent."""


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try: 5 s, doubling, at most 10 min."""
    return timedelta(
        seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)
    )


@dataclass(frozen=True, slots=True)
class Due:
    """The effects still due for one message of a stored case."""

    case: Case
    channel_id: int
    message_id: int
    delete: bool
    alert: bool
    attempts: int = 1
    """Which try this is (1 for the first)."""
    reason: str = ""
    """For Discord's audit log (default: the strongest reason of the decision)."""
    ladder: str = ""
    """The action-ladder step due on the case's author (``timeout:<minutes>``, ``kick``)."""
    repost: bool = False
    """Repost the restored case's media under its author's name."""
    files: Sequence[tuple[str, bytes]] | None = field(default=None, repr=False)
    """The decrypted originals to repost, when the caller has them (else decrypted here)."""


def _said(result: Outcome, retry: str | None) -> str:
    """What moderators are told of one effect."""
    return f"{result.detail} Retrying." if retry is not None else result.detail


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EffectRunner:
    """Deletes, notifies and alerts for stored cases, recording each step."""

    def __init__(
        self,
        storage: Storage,
        cases: CaseService,
        actioner: Actioner,
        settings: GuildSettingsService,
        client: discord.Client,
        *,
        likeness: LikenessEffects | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.storage = storage
        self.cases = cases
        self.actioner = actioner
        self.settings = settings
        self.client = client
        self.likeness = likeness
        self._clock = clock

    async def run(
        self, due: Due, incident: Incident, *, preview: Preview | None = None
    ) -> tuple[Incident, discord.Message | None]:
        """Carry out what is due; return the incident with what happened (its ``outcome``) and
        the alert message, if one was posted in a channel. ``preview`` makes the alert's
        blurred preview; it is called after the deletion, so it never delays one. An effect
        that meets a passing fault stays due, and the backlog tries it again after a backoff."""
        case = due.case
        said: list[str] = [] if due.delete else [incident.outcome]
        retry: str | None = None
        if due.delete:
            deleted = await self.actioner.delete(
                due.channel_id, due.message_id, due.reason or audit_reason(incident.decision)
            )
            retry = self._passing(due, deleted)
            if retry is None:
                await self._deleted(due, deleted, incident)
            said.append(_said(deleted, retry))
        for effect, make in (("ladder", self._ladder), ("repost", self._repost)):
            if getattr(due, effect):
                result, audit = await make(due)
                passing = self._passing(due, result)
                if passing is None:
                    await self.storage.work.effect_done(
                        case.guild_id, due.message_id, effect, audit=audit
                    )
                    self.cases.events.publish(EffectDone(case, effect, result.detail))
                said.append(_said(result, passing))
                retry = retry or passing
        outcome = " ".join(s for s in said if s)
        sent: discord.Message | None = None
        if due.alert:
            sent, failure = await self._alert(due, replace(incident, outcome=outcome), preview)
            retry = failure or retry
        if retry is not None and due.attempts >= MAX_TRIES:
            await self._give_up(due, retry)
        elif retry is not None:
            if self.actioner.metrics is not None:
                self.actioner.metrics.retries.labels("effects").inc()
            await self.storage.work.postpone(
                case.guild_id,
                due.message_id,
                until=self._clock() + backoff(due.attempts),
                error=retry,
            )
        return replace(incident, outcome=outcome), sent

    @staticmethod
    def _passing(due: Due, result: Outcome) -> str | None:
        """Why to try ``result``'s effect again later, or None when the result is final (done,
        refused for good, or out of tries)."""
        return result.detail if result.retry and due.attempts < MAX_TRIES else None

    async def _deleted(self, due: Due, deleted: Outcome, incident: Incident) -> None:
        detail = f"message {due.message_id} in channel {due.channel_id}: {deleted.detail}"
        action = "message.deleted" if deleted.done else "message.kept"
        await self.storage.work.effect_done(
            due.case.guild_id, due.message_id, "delete", audit=(action, {"detail": detail})
        )
        self.cases.events.publish(EffectDone(due.case, "delete", deleted.detail))
        if due.attempts > 1:
            await self.storage.cases.add_note(
                due.case.id, actor="consentry", note=f"on try {due.attempts}: {deleted.detail}"
            )
        if deleted.done and self.likeness is not None:
            guild = self.client.get_guild(due.case.guild_id)
            if guild is not None:
                await self.likeness.notify(guild, due.channel_id, incident.decision, due.case)

    async def _ladder(self, due: Due) -> tuple[Outcome, Audit]:
        """Apply the ladder step to the author (a member who left or a missing permission is
        final, recorded with it)."""
        case = due.case
        guild = self.client.get_guild(case.guild_id)
        if guild is None:
            result = Outcome(False, "No action against the author: Consentry left this server.")
        else:
            reason = due.reason or f"Consentry case {case.id} confirmed"
            result = await self.actioner.apply_step(guild, case.author_id, due.ladder, reason)
        details = {"step": due.ladder, "outcome": result.detail, "author_id": case.author_id}
        return result, ("member.ladder", details)

    async def _repost(self, due: Due) -> tuple[Outcome, Audit]:
        """Repost the restored media through a webhook under the author's name (the channel
        gone, a missing permission or the evidence purged is final, recorded with it)."""
        result = await self._reposted(due)
        action = "post.restored" if result.done else "restore.failed"
        return result, (action, {"detail": result.detail})

    async def _reposted(self, due: Due) -> Outcome:
        case = due.case
        guild = self.client.get_guild(case.guild_id)
        channel = guild.get_channel_or_thread(case.channel_id) if guild is not None else None
        if channel is None or isinstance(channel, discord.CategoryChannel | discord.ForumChannel):
            return Outcome(False, "Not restored: the channel of this case no longer exists.")
        try:
            files = due.files or await self.cases.originals(
                case, actor=BOT_ACTOR, purpose="restored"
            )
            author = self.client.get_user(case.author_id) or await self.client.fetch_user(
                case.author_id
            )
        except CaseError as exc:
            return Outcome(False, f"Not restored: {exc}")
        except discord.HTTPException as exc:
            passing = exc.status >= 500 or exc.status == 429
            return Outcome(
                False, f"Not restored: the author cannot be found ({exc.status}).", passing
            )
        note = f"*Restored by the moderators after review (case {case.id}).*"
        return await self.actioner.restore(channel, author, files, note)

    async def _alert(
        self, due: Due, incident: Incident, preview: Preview | None
    ) -> tuple[discord.Message | None, str | None]:
        """Post the alert, or fall back to the owner's DMs; return the alert message, if posted
        in a channel, and why to retry, if it should be."""
        case = due.case
        settings = await self.settings.get(case.guild_id)
        view = None
        if settings.setup_complete:
            view = review_view(case.id, case.status, evidence=self.cases.keeps_evidence)
        image = await preview() if preview is not None else None
        sent = await self.actioner.alert(incident, settings, preview=image, view=view)
        if sent.done:
            alert = (sent.sent.channel.id, sent.sent.id) if sent.sent is not None else None
            await self.storage.work.effect_done(case.guild_id, due.message_id, "alert", alert=alert)
            self.cases.events.publish(EffectDone(case, "alert", sent.detail))
            return sent.sent, None
        if sent.retry and due.attempts < ALERT_TRIES:
            return None, sent.detail
        fallback = await self.actioner.alert_owner(incident, sent.detail.rstrip("."))
        if not fallback.done:
            log.warning("case %s: alert and owner DM both failed: %s", case.id, fallback.detail)
            return None, f"{sent.detail} {fallback.detail}"
        await self.storage.work.effect_done(
            case.guild_id,
            due.message_id,
            "alert",
            audit=("alert.fallback", {"detail": sent.detail, "tries": due.attempts}),
        )
        self.cases.events.publish(EffectDone(case, "alert", fallback.detail))
        return None, None

    async def _give_up(self, due: Due, error: str) -> None:
        why = f"given up after {due.attempts} tries: {error}"
        log.error("case %s: %s", due.case.id, why)
        await self.storage.work.finish(
            due.case.guild_id, due.message_id, WorkState.FAILED, error=why
        )
        await self.storage.cases.add_note(due.case.id, actor="consentry", note=why)
        self.cases.events.publish(EffectFailed(due.case, why))

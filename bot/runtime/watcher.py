"""Watching messages: find media, scan it, decide, and hand the decision to the actioner."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from enum import Enum
from functools import partial

import discord

from bot.cases import CapturedMedia, CaseService
from bot.core.moderation import Decision
from bot.core.verdict import Action, Reason, Verdict
from bot.engine import Engine
from bot.guild_settings import GuildSettings, GuildSettingsService
from bot.metrics import Metrics
from bot.runtime._deciding import (
    age_restricted,
    blurred_alert_preview,
    decide_message,
    planned_outcome,
)
from bot.runtime.actions import Actioner
from bot.runtime.alerts import Incident, MediaReport, Post, audit_reason
from bot.runtime.bursts import Burst, BurstTracker
from bot.runtime.buttons import review_view
from bot.runtime.campaigns import CampaignTracker
from bot.runtime.catchup import CursorBook
from bot.runtime.effects import Due, EffectRunner
from bot.runtime.extract import MediaRef, media_key, media_refs
from bot.runtime.fetch import FetchError, MediaFetcher
from bot.runtime.handoff import handoff
from bot.runtime.likeness import LikenessEffects
from bot.runtime.recorder import WorkRecorder
from bot.safeguards import Safeguards
from bot.storage import Case, CopyWork, Effects, NewWork, StorageError
from bot.storage.retrying import retrying

log = logging.getLogger(__name__)

Observer = Callable[[discord.Message, "Incident | None", BaseException | None], None]
"""Sees each handled message: what was scanned and done (None: skipped), or the error."""

# Remembered (message id -> media URLs already scanned) so an edit scans only what it added.
_SEEN_MESSAGES = 10_000


class Admission(Enum):
    """Where an arriving message goes."""

    SKIP = "skip"
    """Nothing to scan (exempt, the bot's own, no new media, or already waiting)."""
    SCAN = "scan"
    """Recorded: queue it for this process to scan."""
    RECORDED = "recorded"
    """Recorded, but too many are waiting here: the backlog takes it up from the record."""
    WORKERS = "workers"
    """Recorded as due now, for a scan worker to claim."""


class Watcher:
    """Scans the media of guild messages and acts on the result."""

    def __init__(
        self,
        engine: Engine,
        settings: GuildSettingsService,
        fetcher: MediaFetcher,
        actioner: Actioner,
        cases: CaseService,
        book: CursorBook,
        effects: EffectRunner,
        *,
        likeness: LikenessEffects | None = None,
        own_user_id: int | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.fetcher = fetcher
        self.actioner = actioner
        self.cases = cases
        self.book = book
        self.effects = effects
        self.recorder = WorkRecorder(engine.storage.work)
        self.safeguards = Safeguards(engine.storage, settings)
        self.campaigns = CampaignTracker(engine.storage)
        self.metrics: Metrics | None = None
        self.likeness = likeness
        self.own_user_id = own_user_id
        self._seen: OrderedDict[int, frozenset[str]] = OrderedDict()
        self._active: set[asyncio.Task[object]] = set()
        self._queued: set[int] = set()
        self._in_flight = asyncio.Semaphore(engine.config.scanner.media_in_flight)
        self.bursts = BurstTracker()
        self.observers: list[Observer] = []
        """Called after each message is handled (for logs, metrics, the demo and tests)."""

    async def drain(self, seconds: float) -> None:
        """Wait (up to ``seconds``) for messages being handled to finish."""
        pending = {t for t in self._active if t is not asyncio.current_task()}
        if pending:
            log.info("waiting for %d message(s) being scanned", len(pending))
            await asyncio.wait(pending, timeout=seconds)

    async def admit(self, message: discord.Message, *, hand_off: bool = False) -> Admission:
        """A message arrived (or was found by catch-up): record it durably if it has media to
        scan, before it is queued. ``hand_off``: record it for a scan worker to claim.

        A record that cannot be written even after retrying (the database is unusable) is
        logged, and the message is to be scanned here anyway: the scan and its removal still
        happen. A message skipped counts as handled for the observers.
        """
        if message.id in self._queued:
            return Admission.SKIP  # already waiting or being scanned (catch-up met it live)
        # Past the bound, messages are only recorded: the backlog takes them up.
        tracked = len(self._queued) < _SEEN_MESSAGES
        if tracked:
            self._queued.add(message.id)
        admission = await self._admit(message, hand_off)
        if admission is not Admission.SCAN:
            self._queued.discard(message.id)
        if admission is Admission.SKIP:
            for observe in self.observers:
                observe(message, None, None)
        if admission is Admission.SCAN and not tracked:
            return Admission.RECORDED
        return admission

    async def _admit(self, message: discord.Message, hand_off: bool) -> Admission:
        guild = message.guild
        if guild is None:
            return Admission.SKIP
        self.book.recording(guild.id, message.channel.id, message.id)
        try:
            return await self._record(message, guild.id, hand_off)
        finally:
            self.book.note(guild.id, message.channel.id, message.id)

    async def _record(self, message: discord.Message, guild_id: int, hand_off: bool) -> Admission:
        if message.author.id == self.own_user_id:
            return Admission.SKIP
        settings = await self.settings.get(guild_id)
        if self._exempt(message, settings):
            return Admission.SKIP
        refs = media_refs(message)
        seen = self._seen.get(message.id, frozenset())
        if not [r for r in refs if r.url not in seen]:
            return Admission.SKIP
        keys = tuple(media_key(r) for r in refs)
        new = NewWork(
            guild_id, message.channel.id, message.id, keys, handoff(message) if hand_off else None
        )
        try:
            wanted = await self.recorder.seen(new, due_now=hand_off)
        except StorageError as exc:
            log.error("message %s not recorded (scanning it anyway): %s", message.id, exc)
            return Admission.SCAN
        if not wanted:
            return Admission.SKIP
        return Admission.WORKERS if hand_off else Admission.SCAN

    async def handle(self, message: discord.Message, *, force: bool = False) -> Incident | None:
        """Scan a new or edited message's media and act on it.

        Returns what was scanned, decided and done, or None when the message was skipped
        (exempt, the bot's own, or without new media).
        """
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        result: Incident | None = None
        error: BaseException | None = None
        try:
            result = await self._handle(message, force)
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._queued.discard(message.id)
            if task is not None:
                self._active.discard(task)
            for observe in self.observers:
                observe(message, result, error)

    async def _handle(self, message: discord.Message, force: bool) -> Incident | None:
        guild = message.guild
        if guild is None or message.author.id == self.own_user_id:
            return None
        settings = await self.settings.get(guild.id)
        if self._exempt(message, settings):
            await self.engine.storage.work.scanned(guild.id, message.id)
            return None
        # A sweep or a retry (force) rescans media seen before: the blocklist may have grown.
        refs = media_refs(message) if force else self._new_refs(message)
        if not refs:
            if force:  # a retried message whose media is gone (edited away): nothing to do
                await self.engine.storage.work.scanned(guild.id, message.id)
            return None
        reports = await asyncio.gather(*(self._scan(ref, message) for ref in refs))
        if self.likeness is not None and await self.likeness.departed(guild, reports):
            # A matched member had left: decide again without them, from the bytes already
            # downloaded (their findings are cached, so this is only the policy again).
            reports = [
                await self._judge(r.label, r.data, message) if r.data is not None else r
                for r in reports
            ]
        decision = decide_message(reports, settings)
        if not decision.alert:
            await retrying(
                lambda: self.engine.storage.work.scanned(guild.id, message.id),
                what=f"recording message {message.id} as scanned",
            )
            return Incident(Post.of(message), decision, tuple(reports), "Nothing to do.")
        key = self.bursts.key(guild.id, decision)
        if key is None:
            return (await self._act(message, decision, reports, settings))[0]
        async with self.bursts.lock(key):
            burst = self.bursts.active(key)
            if burst is not None:
                return await self._join(burst, message, decision, reports, settings)
            incident, case, alert = await self._act(message, decision, reports, settings)
            if case is not None:
                self.bursts.start(key, case, alert, message.author.id)
            return incident

    async def report(self, message: discord.Message, reporter_id: int) -> Incident:
        """A member reported ``message`` as NCII: scan it and open a case whatever the verdict.

        Known abusive media is removed as usual; anything else is flagged for moderators.
        """
        guild = message.guild
        assert guild is not None  # the report command is guild-only
        existing = await self.engine.storage.cases.find_by_message(guild.id, message.id)
        if existing is not None:
            # Reported again (or already caught): the report joins the case moderators have.
            await self.engine.storage.cases.add_note(
                existing.id, actor=f"user:{reporter_id}", note="reported again as NCII"
            )
            decision = Decision(Action(existing.action), True, ())
            outcome = f"Already with the moderators as case {existing.id}: your report was added."
            return Incident(Post.of(message), decision, (), outcome, existing.id, reporter_id)
        settings = await self.settings.get(guild.id)
        reports = await asyncio.gather(*(self._scan(r, message) for r in media_refs(message)))
        decision = decide_message(reports, settings)
        if not decision.alert:
            decision = Decision(Action.FLAG, True, tuple(r.verdict for r in reports))
        incident, _, _ = await self._act(message, decision, reports, settings, reporter_id)
        return incident

    async def _act(
        self,
        message: discord.Message,
        decision: Decision,
        reports: Sequence[MediaReport],
        settings: GuildSettings,
        reported_by: int | None = None,
    ) -> tuple[Incident, Case | None, discord.Message | None]:
        """Store the case, then remove the message if decided and alert; returns all three."""
        guild = message.guild
        assert guild is not None
        post = Post.of(message)
        incident = Incident(post, decision, tuple(reports), planned_outcome(decision, settings))
        existing = await self.engine.storage.cases.find_by_message(guild.id, message.id)
        if existing is not None:  # an edit added media to a message that has a case
            incident = await self._join_case(existing, message, incident, settings, "more media")
            return incident, existing, None
        remove = decision.remove and not settings.dry_run
        # The case, with its encrypted evidence and the work record, is stored before anything
        # is deleted; the effects then run from that record.
        try:
            case = await self.cases.open(
                guild_id=guild.id,
                channel_id=message.channel.id,
                message_id=message.id,
                author_id=message.author.id,
                decision=decision,
                media=[CapturedMedia(r.label, r.verdict, r.data) for r in reports],
                retention_days=settings.retention_days,
                reported_by=reported_by,
                effects=Effects(delete=remove, alert=True),
            )
        except StorageError as exc:
            return await self._unrecorded(incident, settings, exc), None, None
        campaign = await self.campaigns.record(message, decision, case.id)
        incident = replace(incident, case_id=case.id, reported_by=reported_by, campaign=campaign)
        due = Due(case, message.channel.id, message.id, delete=remove, alert=True)
        incident, sent = await self.effects.run(
            due, incident, preview=lambda: blurred_alert_preview(self.engine, decision, reports)
        )
        if (
            not settings.setup_complete
            and not settings.setup_notice_sent
            and await self.actioner.setup_notice(guild)
        ):
            await self.settings.set(guild.id, "setup_notice_sent", True)
        return incident, case, sent

    async def _unrecorded(
        self, incident: Incident, settings: GuildSettings, error: StorageError
    ) -> Incident:
        """Fail closed: the database refused the case even after retrying. Known abusive media
        is removed all the same, and the alert (without buttons) says no case was stored."""
        post = incident.post
        log.error("case for message %s not stored: %s", post.message_id, error)
        outcome = f"No case could be stored ({error})."
        if incident.decision.remove and not settings.dry_run:
            deleted = await self.actioner.delete(
                post.channel_id, post.message_id, audit_reason(incident.decision)
            )
            outcome = f"{deleted.detail} {outcome}"
        incident = replace(incident, outcome=outcome)
        await self.actioner.alert(incident, settings)
        return incident

    async def _join_case(
        self,
        case: Case,
        message: discord.Message,
        incident: Incident,
        settings: GuildSettings,
        what: str,
    ) -> Incident:
        """Another message (a copy), or more media of the same one, joins an existing case:
        noted on its timeline with the message's work record, then removed if decided."""
        remove = incident.decision.remove and not settings.dry_run
        note = f"{what}: message {message.id} in <#{message.channel.id}> by <@{message.author.id}>"
        work = CopyWork(message.channel.id, message.id, Effects(delete=remove, alert=False))
        await retrying(
            lambda: self.engine.storage.cases.add_note(
                case.id, actor="consentry", note=note, work=work
            ),
            what=f"recording message {message.id} on case {case.id}",
        )
        due = Due(case, message.channel.id, message.id, delete=remove, alert=False)
        return (await self.effects.run(due, replace(incident, case_id=case.id)))[0]

    async def _join(
        self,
        burst: Burst,
        message: discord.Message,
        decision: Decision,
        reports: Sequence[MediaReport],
        settings: GuildSettings,
    ) -> Incident:
        """Another copy of media that just triggered: act on it, and count it on the first
        case and alert instead of opening new ones."""
        burst.copies += 1
        burst.authors.add(message.author.id)
        incident = Incident(
            Post.of(message), decision, tuple(reports), planned_outcome(decision, settings)
        )
        incident = await self._join_case(burst.case, message, incident, settings, "copy")
        campaign = await self.campaigns.record(message, decision, burst.case.id)
        incident = replace(incident, campaign=campaign)
        if burst.alert is not None and burst.refresh is None:
            burst.refresh = asyncio.create_task(self._refresh_burst_alert(burst))
        return incident

    async def _refresh_burst_alert(self, burst: Burst) -> None:
        # Debounced: one edit per second at most, however fast copies arrive.
        await asyncio.sleep(1.0)
        burst.refresh = None
        alert = burst.alert
        if alert is None or not alert.embeds:
            return
        embed = alert.embeds[0].copy()
        text = f"{burst.copies} messages with this media by {len(burst.authors)} members"
        for index, item in enumerate(embed.fields):
            if item.name == "Copies":
                embed.set_field_at(index, name="Copies", value=text, inline=False)
                break
        else:
            embed.add_field(name="Copies", value=text, inline=False)
        view = review_view(burst.case.id, burst.case.status, evidence=self.cases.keeps_evidence)
        await self.actioner.update_alert(alert.channel.id, alert.id, embed, view)

    def _exempt(self, message: discord.Message, settings: GuildSettings) -> bool:
        if message.webhook_id is not None:
            return not settings.scan_webhooks
        if message.author.bot and not settings.scan_bots:
            return True
        channel = message.channel
        parent_id = getattr(channel, "parent_id", None)
        if channel.id in settings.exempt_channel_ids or parent_id in settings.exempt_channel_ids:
            return True
        roles = getattr(message.author, "roles", ())
        return any(role.id in settings.exempt_role_ids for role in roles)

    def _new_refs(self, message: discord.Message) -> list[MediaRef]:
        refs = media_refs(message)
        seen = self._seen.get(message.id, frozenset())
        fresh = [r for r in refs if r.url not in seen]
        self._seen[message.id] = seen | {r.url for r in refs}
        self._seen.move_to_end(message.id)
        while len(self._seen) > _SEEN_MESSAGES:
            self._seen.popitem(last=False)
        return fresh

    async def _scan(self, ref: MediaRef, message: discord.Message) -> MediaReport:
        guild_id = message.guild.id if message.guild else 0
        # Held from download to verdict, so downloaded bytes waiting for a scan stay bounded.
        async with self._in_flight:
            started = time.perf_counter()
            try:
                data = await self.fetcher.fetch(ref.url)
                if self.metrics is not None:
                    self.metrics.timed("download", time.perf_counter() - started)
            except FetchError as exc:
                log.info("guild %s: %s not scanned: %s", guild_id, ref.label, exc.message)
                reason = Reason("download", Action.UNSCANNABLE, exc.message)
                return MediaReport(ref.label, Verdict(Action.UNSCANNABLE, (reason,), "", ""))
            return await self._judge(ref.label, data, message)

    async def _judge(self, label: str, data: bytes, message: discord.Message) -> MediaReport:
        """The verdict on downloaded media, under the policy of the message's server."""
        guild_id = message.guild.id if message.guild else 0
        verdict = await self.engine.scan(
            data,
            guild_id,
            age_restricted=age_restricted(message.channel),
            author_id=message.author.id,
            scope_for=partial(self.safeguards.scope_for, guild_id),
        )
        if self.metrics is not None:
            self.metrics.scanned(verdict.media_type, verdict.action.value)
        held = await self.safeguards.observe(message.author.id, verdict)
        if held and message.guild is not None:
            settings = await self.settings.get(guild_id)
            for note in held:
                await self.actioner.tell_alert_channel(message.guild, settings, note)
        return MediaReport(label, verdict, data)

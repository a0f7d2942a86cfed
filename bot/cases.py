"""Cases: opened with encrypted evidence when the bot flags or removes media; decided by
moderators (confirm, dismiss, restore). Discord-free: the runtime calls it and then acts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.case_events import CaseDecided, CaseEvents, CaseOpened
from bot.core.blocklist import Algorithm, NewEntry
from bot.core.evidence import EvidenceError, EvidenceKey, Sealed, evidence_context
from bot.core.moderation import Decision
from bot.core.verdict import Verdict
from bot.storage import (
    Case,
    CaseStatus,
    CopyWork,
    Effects,
    NewCase,
    NewEvidence,
    Storage,
    StorageError,
    TransitionRefused,
)
from bot.storage.retrying import retrying

BOT_ACTOR = "consentry"
RESTORABLE = (CaseStatus.OPEN, CaseStatus.DISMISSED)
"""Statuses a case may be restored from (a dismissed one is still up for a repost)."""
MAX_CASE_ID = 2**63 - 1
"""The largest id the database can hold (a signed 64-bit integer)."""


class CaseError(Exception):
    """A case action that cannot be done; the message is fit to show the moderator."""


@dataclass(frozen=True, slots=True)
class CapturedMedia:
    """One piece of a message's media: its verdict and, if it was downloaded, its bytes."""

    label: str
    verdict: Verdict
    data: bytes | None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CaseService:
    """Opens cases, keeps their evidence, and records moderators' decisions in the audit log."""

    def __init__(
        self,
        storage: Storage,
        key: EvidenceKey | None,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.storage = storage
        self.key = key
        self._clock = clock
        self.events = CaseEvents()
        """Where the case's opening and decisions are told (:mod:`bot.case_events`)."""

    @property
    def keeps_evidence(self) -> bool:
        """False without an evidence key: cases then hold hashes only."""
        return self.key is not None

    async def open(
        self,
        *,
        guild_id: int,
        channel_id: int,
        message_id: int,
        author_id: int,
        decision: Decision,
        media: Sequence[CapturedMedia],
        retention_days: int,
        reported_by: int | None = None,
        effects: Effects | None = None,
    ) -> Case:
        """Open a case for a decided message and seal the evidence of the media that matched.

        The case, its evidence, its audit record and (with ``effects``) the message's work
        record commit in one transaction. If the evidence cannot be stored (a full disk) after
        a bounded retry, the case is stored without it and says why: a removal never waits on
        evidence. A busy database is waited for. StorageError if even that fails.

        ``reported_by``: the member who reported the message, when a report opened the case.
        """
        relevant = [m for m in media if m.verdict in decision.verdicts] or list(media)
        # A report about a message without media still opens a case (with no media).
        new = NewCase(
            guild_id=guild_id,
            channel_id=channel_id,
            message_id=message_id,
            author_id=author_id,
            sha256=relevant[0].verdict.sha256 if relevant else "",
            action=decision.action.value,
            verdict={"media": [_verdict_record(m) for m in relevant]},
            media=[_media_record(m) for m in relevant],
        )
        actor = BOT_ACTOR if reported_by is None else f"user:{reported_by}"
        details: dict[str, Any] = {
            "message_id": message_id,
            "channel_id": channel_id,
            "author_id": author_id,
            "action": decision.action.value,
            "evidence_items": len([m for m in relevant if m.data is not None]) if self.key else 0,
            "reported_by": reported_by,
        }

        def seal(case_id: int) -> list[NewEvidence]:
            return self._seal(case_id, relevant, retention_days)

        async def store(with_evidence: bool) -> Case:
            return await self.storage.cases.open(
                new,
                actor=actor,
                seal=seal if with_evidence else None,
                audit=("case.opened", details),
                work=effects,
            )

        try:
            case = await retrying(lambda: store(True), what=f"storing the case of {message_id}")
        except StorageError as exc:
            if exc.busy or not details["evidence_items"]:
                raise
            failure = str(exc)
            # Fail closed: the case (a small row) without its evidence, and why.
            new.verdict["evidence_error"] = failure
            details = {**details, "evidence_items": 0, "evidence_error": failure}
            case = await retrying(
                lambda: store(False), what=f"storing the case of {message_id} without evidence"
            )
        self.events.publish(CaseOpened(case))
        return case

    async def log(self, case: Case, action: str, detail: str) -> None:
        """Record something done about ``case`` (a deletion, a failed one) in the audit log."""
        await self.storage.audit.append(
            guild_id=case.guild_id,
            actor=BOT_ACTOR,
            action=action,
            subject=f"case {case.id}",
            details={"detail": detail},
        )

    def _seal(
        self, case_id: int, media: Sequence[CapturedMedia], retention_days: int
    ) -> list[NewEvidence]:
        if self.key is None:
            return []
        expires = self._clock() + timedelta(days=retention_days)
        items = []
        for m in media:
            if m.data is None:
                continue
            sealed = self.key.seal(m.data, evidence_context(case_id, m.verdict.sha256))
            items.append(
                NewEvidence(
                    label=m.label,
                    sha256=m.verdict.sha256,
                    media_type=m.verdict.media_type,
                    size=len(m.data),
                    key_id=sealed.key_id,
                    nonce=sealed.nonce,
                    ciphertext=sealed.ciphertext,
                    expires_at=expires,
                )
            )
        return items

    async def get(self, case_id: int, guild_id: int) -> Case:
        """The case, if it belongs to ``guild_id``; CaseError otherwise (a crafted button id
        past what the database stores included)."""
        if not 0 < case_id <= MAX_CASE_ID:
            raise CaseError(f"There is no case {case_id} in this server.")
        case = await self.storage.cases.get(case_id)
        if case is None or case.guild_id != guild_id:
            raise CaseError(f"There is no case {case_id} in this server.")
        return case

    async def originals(self, case: Case, *, actor: str, purpose: str) -> list[tuple[str, bytes]]:
        """Decrypt the case's evidence (logged with ``purpose``); CaseError if none is left."""
        if self.key is None:
            raise CaseError("No evidence was kept: the bot runs without an evidence key.")
        items = await self.storage.evidence.for_case(case.id)
        originals = []
        for item in items:
            if item.ciphertext is None or item.nonce is None:
                continue
            sealed = Sealed(item.key_id, item.nonce, item.ciphertext)
            try:
                data = self.key.open(sealed, evidence_context(case.id, item.sha256))
            except EvidenceError as exc:
                raise CaseError(f"The evidence of case {case.id} cannot be opened: {exc}") from exc
            originals.append((item.label, data))
        if not originals:
            raise CaseError(f"The evidence of case {case.id} has been purged.")
        await self.storage.audit.append(
            guild_id=case.guild_id,
            actor=actor,
            action=f"evidence.{purpose}",
            subject=f"case {case.id}",
            details={"items": len(originals)},
        )
        return originals

    async def confirmed_before(self, case: Case) -> int:
        """How many confirmed cases the author of ``case`` has in its server so far (confirming
        it makes one more: the action ladder's step is chosen with that)."""
        return await self.storage.cases.count_by_author(
            case.guild_id, case.author_id, status=CaseStatus.CONFIRMED
        )

    async def confirm(
        self, case: Case, *, actor: str, remove: bool = False, ladder: str = ""
    ) -> Case:
        """Confirm the removal and add the media's hashes to the server's blocklist, with its
        CLIP embeddings when CLIP scanned it (look-alikes are then flagged: near-duplicates).
        ``remove``: the message is still up (it was only flagged) and must now be deleted;
        ``ladder``: the action-ladder step due on the author. Both become due on the message's
        work record in the same transaction, and run from it.
        """
        entries = _entries(case, allow=False, actor=actor)
        work = None
        if remove or ladder:
            effects = Effects(delete=remove, alert=False, ladder=ladder)
            work = CopyWork(case.channel_id, case.message_id, effects)
        return await self._decide(
            case, CaseStatus.CONFIRMED, actor, f"{len(entries)} hashes blocked", entries, work
        )

    async def dismiss(self, case: Case, *, actor: str) -> Case:
        """A false positive: allow-list the media's hashes in this server so it never triggers."""
        entries = _entries(case, allow=True, actor=actor)
        return await self._decide(
            case, CaseStatus.DISMISSED, actor, f"{len(entries)} hashes allow-listed", entries
        )

    def check_restorable(self, case: Case) -> None:
        """CaseError unless ``case`` may be restored (open, or dismissed as a false positive):
        checked before anything is reposted."""
        if case.status not in RESTORABLE:
            raise CaseError(f"Case {case.id} is already {case.status.value}: nothing reposted.")

    async def restore(self, case: Case, *, actor: str) -> Case:
        """Mark the case restored; an open one is allow-listed in the same transaction, so the
        repost (and any later copy) is not removed again. The repost itself is due on the
        message's work record from the same transaction."""
        entries = _entries(case, allow=True, actor=actor) if case.status is CaseStatus.OPEN else []
        note = f"restored; {len(entries)} hashes allow-listed" if entries else "restored"
        work = CopyWork(case.channel_id, case.message_id, Effects(False, False, repost=True))
        return await self._decide(case, CaseStatus.RESTORED, actor, note, entries, work)

    async def _decide(
        self,
        case: Case,
        status: CaseStatus,
        actor: str,
        note: str,
        entries: Sequence[NewEntry] = (),
        work: CopyWork | None = None,
    ) -> Case:
        # The one place a case changes state: status, entries and audit record in one checked
        # transaction. A second, conflicting decision is refused and changes nothing.
        expected = RESTORABLE if status is CaseStatus.RESTORED else (CaseStatus.OPEN,)
        try:
            updated = await self.storage.cases.transition(
                case.id,
                expected=expected,
                status=status,
                actor=actor,
                note=note,
                entries=entries,
                audit=(f"case.{status.value}", {"note": note}),
                work=work,
            )
        except TransitionRefused as exc:
            raise CaseError(f"Case {case.id} is already {exc.current.value}.") from None
        if updated is None:
            raise CaseError(f"Case {case.id} no longer exists.")
        self.events.publish(CaseDecided(updated, actor))
        return updated

    async def purge_expired(self, *, batch: int = 100) -> int:
        """Purge evidence past its retention (cases under legal hold keep theirs)."""
        total = 0
        while True:
            due = await self.storage.evidence.due_for_purge(self._clock(), limit=batch)
            if not due:
                return total
            total += await self.storage.evidence.purge(due, now=self._clock())


def _verdict_record(media: CapturedMedia) -> dict[str, Any]:
    return {"label": media.label, **media.verdict.to_dict()}


def _media_record(media: CapturedMedia) -> dict[str, Any]:
    v = media.verdict
    return {
        "label": media.label,
        "sha256": v.sha256,
        "md5": v.md5,
        "action": v.action.value,
        "pdq": list(v.pdq),
        "phash": list(v.phash),
        "clip": list(v.clip),
    }


def _entries(case: Case, *, allow: bool, actor: str) -> list[NewEntry]:
    reason = f"{'dismissed' if allow else 'confirmed'} in case {case.id}"
    entries: list[NewEntry] = []
    for item in case.media:
        hashes = [(Algorithm.SHA256, item.get("sha256"))]
        hashes += [(Algorithm.PDQ, h) for h in item.get("pdq", [])]
        hashes += [(Algorithm.PHASH, h) for h in item.get("phash", [])]
        if not allow:  # look-alikes are never allow-listed (see Algorithm.CLIP)
            hashes += [(Algorithm.CLIP, h) for h in item.get("clip", [])]
        entries += [
            NewEntry(algorithm, value, case.guild_id, "case", reason, actor, allow)
            for algorithm, value in hashes
            if value
        ]
    return entries

"""Plain value types that cross the storage boundary (the same for every backend)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from datetime import datetime

    from bot.core.blocklist import BlocklistEntry, MatchRow, NewEntry
    from bot.core.hash_lists import Removal


class AllGuilds(enum.Enum):
    """Type of the :data:`ALL` sentinel: "every scope", as opposed to ``None`` (instance-wide)."""

    ALL = "all"


ALL: Final = AllGuilds.ALL
"""Pass as ``guild_id`` to list records of every scope: instance-wide and every server."""

GuildScope = int | None | Literal[AllGuilds.ALL]
"""A listing filter: one server's id, ``None`` for instance-wide only, or :data:`ALL`."""


@dataclass(frozen=True, slots=True)
class AddResult:
    """What :meth:`BlocklistStore.add` did with each entry it was given."""

    added: list[BlocklistEntry] = field(default_factory=list)
    duplicates: list[NewEntry] = field(default_factory=list)
    """Entries whose (algorithm, value, scope, allow, source) was stored already, or came earlier
    in the same call."""
    count: int = 0
    """How many were stored (also when they are not returned in ``added``)."""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What :meth:`BlocklistStore.apply` did: a hash list's additions and removals together."""

    added: int = 0
    """How many entries were stored."""
    duplicates: list[NewEntry] = field(default_factory=list)
    removed: list[BlocklistEntry] = field(default_factory=list)
    missing: list[Removal] = field(default_factory=list)
    """Removals that found no entry (their source never added it, or it is gone already)."""


@dataclass(frozen=True, slots=True)
class BlocklistChanges:
    """What changed in the blocklist after some revision, for an incremental index update."""

    revision: int
    """The revision these changes bring the reader to."""
    added: tuple[MatchRow, ...]
    """Entries added since (and still there), oldest first."""
    removed: tuple[int, ...]
    """Ids of entries removed since."""


class CaseStatus(enum.StrEnum):
    """Where a moderation case stands."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    RESTORED = "restored"


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case about to be opened: one piece of media in one message that the scanner acted on."""

    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    sha256: str
    action: str
    """The verdict's action (``Action.value``): flag, quarantine..."""
    verdict: dict[str, Any]
    """The verdict as JSON-serialisable data (reasons, scores, matches)."""
    media: list[dict[str, Any]] = field(default_factory=list)
    """Every piece of media the message carried that the scanner looked at, as JSON-serialisable
    data (``{"label", "sha256", "md5", "action"}``); ``sha256`` above stays the primary one's."""


@dataclass(frozen=True, slots=True)
class Case:
    """A stored moderation case."""

    id: int
    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    sha256: str
    action: str
    verdict: dict[str, Any]
    status: CaseStatus
    created_at: datetime
    updated_at: datetime
    """When the case last changed: status, legal hold or a note (not an attached alert)."""
    media: list[dict[str, Any]] = field(default_factory=list)
    """As given in :attr:`NewCase.media`; empty for cases opened before schema 2."""
    legal_hold: bool = False
    """While true, the case's evidence is never purged (by expiry or by an author's request)."""
    alert_channel_id: int | None = None
    alert_message_id: int | None = None
    """Where the bot posted the moderators' alert about this case, once it has."""


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One step in a case's timeline: its opening, a status change, a legal hold placed or lifted,
    or a moderator's note (the last two keep the status: ``status == previous``)."""

    id: int
    case_id: int
    at: datetime
    actor: str
    status: CaseStatus
    """The status the case had after this event."""
    previous: CaseStatus | None
    """The status before this event; ``None`` for the event that opened the case."""
    note: str = ""


@dataclass(frozen=True, slots=True)
class NewEvidence:
    """Media kept with a case, already encrypted by the caller: storage never sees the key."""

    label: str
    """Which piece of the message it is (matches a ``label`` in :attr:`Case.media`)."""
    sha256: str
    """Of the plaintext."""
    media_type: str | None
    size: int
    """Plaintext size in bytes."""
    key_id: str
    """Names the key that encrypted it (keys rotate; the key itself is never stored)."""
    # repr=False: a log line or a failing test must not print megabytes of ciphertext.
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    expires_at: datetime
    """When it becomes due for purging (unless its case is under legal hold)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """Stored evidence. Purging drops the bytes and keeps the row, so the case still shows what
    was kept and when it went."""

    id: int
    case_id: int
    label: str
    sha256: str
    media_type: str | None
    size: int
    key_id: str
    nonce: bytes | None = field(repr=False)
    """None once purged."""
    ciphertext: bytes | None = field(repr=False)
    """None once purged."""
    created_at: datetime
    expires_at: datetime
    purged_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One link of the tamper-evident audit chain (see :mod:`bot.storage.audit_chain`)."""

    id: int
    at: datetime
    guild_id: int | None
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The outcome of walking the audit chain."""

    ok: bool
    checked: int
    """Records examined, including the first bad one when ``ok`` is false."""
    first_bad_id: int | None = None
    head: str = ""
    """Hash of the last good record (the genesis hash for an empty log). Keeping a copy of it
    elsewhere (a mod-log message, a backup) also lets one notice a truncated or rewritten chain."""


@dataclass(frozen=True, slots=True)
class NewEnrolment:
    """A member's own enrolment in one server, its descriptors already sealed by the caller."""

    guild_id: int
    member_id: int
    model: str
    """The face model and version the descriptors come from (``dlib-face@<sha prefix>``)."""
    faces: int
    """How many descriptors are sealed."""
    key_id: str
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    notify: bool = False
    """The member wants a private notice when media showing them is removed."""
    source: str = "photos"
    """How the member enrolled: ``photos`` (the slash command) or ``file`` (an enrolment file)."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A stored enrolment. Listings for moderators show who and since when, never the data."""

    guild_id: int
    member_id: int
    model: str
    faces: int
    key_id: str
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    notify: bool
    source: str
    created_at: datetime
    """When the member first enrolled in this server (a re-enrolment keeps it)."""
    updated_at: datetime


class WorkState(enum.StrEnum):
    """Where the durable record of one message's work stands."""

    SCAN = "scan"
    """Media seen and not yet scanned and decided."""
    ACT = "act"
    """Decided and its case stored; a deletion or an alert is still due."""
    DONE = "done"
    """Nothing left to do: clean, or every effect carried out (or refused for good)."""
    GONE = "gone"
    """The message was deleted before it could be scanned: nothing left to do."""
    FAILED = "failed"
    """Given up, with the reason in ``error`` (no access to the channel, retries exhausted)."""

    @property
    def finished(self) -> bool:
        return self not in (WorkState.SCAN, WorkState.ACT)


@dataclass(frozen=True, slots=True)
class NewWork:
    """A message seen with media: recorded before anything else happens to it."""

    guild_id: int
    channel_id: int
    message_id: int
    media: tuple[str, ...]
    """What identifies each piece of media (its URL without the query string)."""
    handoff: str | None = None
    """The message as a scan worker needs it (Discord's message JSON: its media and author,
    never its text), recorded when a worker is to take it; None: the message is fetched."""


@dataclass(frozen=True, slots=True)
class Effects:
    """What a decided message still needs on Discord once its case is stored."""

    delete: bool
    """Delete the message (a quarantine outside dry run)."""
    alert: bool
    """Post the moderators' alert (a copy in a raid is counted on the first alert instead)."""
    ladder: str = ""
    """The action-ladder step due on the author of a confirmed case (``timeout:<minutes>`` or
    ``kick``; a ban is asked for, never due by itself); empty when none is."""
    repost: bool = False
    """Repost a restored case's media under its author's name."""


@dataclass(frozen=True, slots=True)
class CopyWork:
    """Another message joining an existing case (a copy in a raid, a report, an edit): the
    message's record moves to ACT with the case's id and these effects."""

    channel_id: int
    message_id: int
    effects: Effects


@dataclass(frozen=True, slots=True)
class WorkItem:
    """The durable record of one message's work."""

    guild_id: int
    channel_id: int
    message_id: int
    state: WorkState
    media: tuple[str, ...]
    case_id: int | None
    delete_due: bool
    alert_due: bool
    ladder_due: str
    """The action-ladder step still due on the author (empty: none)."""
    repost_due: bool
    """A restored case's media is still to be reposted."""
    attempts: int
    """How many times this work was taken up (the first try included)."""
    next_at: datetime
    """When it may be taken up again (a lease while someone works on it, or a backoff)."""
    error: str
    """Why the last attempt did not finish (empty when none failed)."""
    created_at: datetime
    updated_at: datetime
    handoff: str | None = None
    """See :attr:`NewWork.handoff`; kept only while the message waits to be scanned."""

"""Plain value types that cross the storage boundary (the same for every backend)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from datetime import datetime

    from bot.core.blocklist import BlocklistEntry, NewEntry


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
    """Entries whose (algorithm, value, scope, allow) was stored already, or came earlier in the
    same call."""


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


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One step in a case's timeline: its opening, or a status change."""

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

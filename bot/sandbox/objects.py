"""The objects of the sandbox's world: plain dataclasses, one per Discord concept.

``state.World`` indexes them; ``payloads`` turns them into Discord's JSON.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sandbox import permissions as perm

JSON = dict[str, Any]

# Channel types, as the API numbers them.
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_FORUM = 15
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})


@dataclass
class User:
    """A Discord account: a person, a bot, or the sandbox's own bot user."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    accepts_dms: bool = True  # False makes DMs to this user fail with 50007, as privacy settings do


@dataclass
class Role:
    """A guild role; the @everyone role's id equals the guild's."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None  # set on a bot's managed role (``tags.bot_id``)


@dataclass
class Member:
    """A user's membership of a guild."""

    guild_id: int
    user_id: int
    roles: list[int]
    joined_at: datetime
    nick: str | None = None
    communication_disabled_until: datetime | None = None
    mute: bool = False
    deaf: bool = False
    pending: bool = False
    flags: int = 0

    def timed_out(self) -> bool:
        until = self.communication_disabled_until
        return until is not None and until > datetime.now(UTC)


@dataclass
class Channel:
    """A guild channel, thread or DM channel."""

    id: int
    type: int
    guild_id: int | None
    name: str | None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    overwrites: list[perm.Overwrite] = field(default_factory=list)
    last_message_id: int | None = None
    flags: int = 0
    # Threads only.
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    created_at: datetime | None = None
    message_count: int = 0
    applied_tags: list[int] = field(default_factory=list)
    # Forums only.
    available_tags: list[JSON] = field(default_factory=list)
    # DMs only.
    recipient_ids: list[int] = field(default_factory=list)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


@dataclass
class Sticker:
    """A guild sticker and its image, served by the CDN."""

    id: int
    guild_id: int
    name: str
    format_type: int  # 1 PNG, 2 APNG, 3 Lottie, 4 GIF
    data: bytes
    description: str = ""
    tags: str = ""


@dataclass
class Ban:
    user_id: int
    reason: str | None


@dataclass
class AuditEntry:
    """One audit log entry, as GET /guilds/{id}/audit-logs lists it."""

    id: int
    guild_id: int
    action_type: int
    user_id: int
    target_id: int | None
    reason: str | None
    changes: list[JSON] = field(default_factory=list)
    options: JSON | None = None


@dataclass
class Guild:
    """A server and everything in it that is not a channel or message."""

    id: int
    name: str
    owner_id: int
    system_channel_id: int | None = None
    features: list[str] = field(default_factory=list)
    description: str | None = None
    preferred_locale: str = "en-US"
    nsfw_level: int = 0
    verification_level: int = 1
    explicit_content_filter: int = 2
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    bans: dict[int, Ban] = field(default_factory=dict)
    stickers: dict[int, Sticker] = field(default_factory=dict)
    audit_log: deque[AuditEntry] = field(default_factory=lambda: deque(maxlen=1000))
    joined_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class StoredMessage:
    """A message as its JSON payload (the canonical form), plus bookkeeping."""

    payload: JSON
    deleted: bool = False
    interaction_id: int | None = None
    embedded: list[JSON] = field(default_factory=list)
    """Files an embed shows (``attachment://name``). Discord keeps them with the message but
    leaves them out of its ``attachments`` array; an edit that lists attachments drops them."""

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def author_id(self) -> int:
        return int(self.payload["author"]["id"])


@dataclass
class Blob:
    """A file the CDN serves."""

    data: bytes
    content_type: str


@dataclass
class Webhook:
    """An incoming (type 1) or application (type 3) webhook."""

    id: int
    type: int
    channel_id: int | None
    guild_id: int | None
    name: str
    token: str | None
    avatar: str | None = None
    creator_id: int | None = None
    application_id: int | None = None


@dataclass
class InteractionRecord:
    """An interaction a user started, and every response the app made to it."""

    id: int
    token: str
    type: int
    guild_id: int | None
    channel_id: int
    user_id: int
    payload: JSON
    created: float  # time.monotonic() when dispatched
    name: str | None = None  # command name, for app commands
    responses: list[JSON] = field(default_factory=list)
    response_type: int | None = None  # the initial callback's type, once acknowledged
    original_message_id: int | None = None
    source_message_id: int | None = None  # the message a component was on
    modal: JSON | None = None  # the modal the app opened in response
    followups: list[int] = field(default_factory=list)
    deferred_pending: bool = False  # a type 5 "thinking" message not yet replaced

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None


@dataclass
class Application:
    """The bot's application: identity, token and which privileged intents it was granted."""

    id: int
    name: str
    bot_user_id: int
    owner_id: int
    token: str
    message_content: bool = True
    members: bool = True
    presences: bool = False

    @property
    def flags(self) -> int:
        # The "_LIMITED" flags are the ones an unverified bot (< 100 servers) carries.
        value = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.presences:
            value |= 1 << 13
        if self.members:
            value |= 1 << 15
        if self.message_content:
            value |= 1 << 19
        return value

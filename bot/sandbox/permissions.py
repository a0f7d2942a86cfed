"""Permission bits and Discord's permission computation.

Follows the algorithm Discord documents ("Permission Overwrites"): the base is the OR of the
member's roles and @everyone; the owner and ADMINISTRATOR get everything; then the channel's
@everyone overwrite, the OR of the member's role overwrites, and the member overwrite apply, in
that order. Threads take their parent's overwrites. On top sit the implicit rules the client
and API apply: no VIEW_CHANNEL means nothing, no SEND_MESSAGES drops what depends on sending,
and a timed-out member keeps only viewing and reading history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntFlag


class P(IntFlag):
    """Discord's permission bits (names as in the API documentation)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51


ALL = 0
for _flag in P:
    ALL |= int(_flag)

# What @everyone gets in a new server: the defaults Discord grants a freshly created one.
DEFAULT_EVERYONE = int(
    P.CREATE_INSTANT_INVITE
    | P.ADD_REACTIONS
    | P.STREAM
    | P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.MENTION_EVERYONE
    | P.USE_EXTERNAL_EMOJIS
    | P.CONNECT
    | P.SPEAK
    | P.USE_VAD
    | P.CHANGE_NICKNAME
    | P.USE_APPLICATION_COMMANDS
    | P.REQUEST_TO_SPEAK
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.USE_EXTERNAL_STICKERS
    | P.SEND_MESSAGES_IN_THREADS
    | P.USE_EMBEDDED_ACTIVITIES
    | P.SEND_VOICE_MESSAGES
    | P.SEND_POLLS
    | P.USE_EXTERNAL_APPS
)

# What a moderation bot's invite link typically asks for: its managed role gets these.
DEFAULT_BOT = int(
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.SEND_MESSAGES_IN_THREADS
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.MANAGE_MESSAGES
    | P.MODERATE_MEMBERS
    | P.KICK_MEMBERS
    | P.BAN_MEMBERS
    | P.MANAGE_WEBHOOKS
    | P.VIEW_AUDIT_LOG
    | P.ADD_REACTIONS
    | P.USE_EXTERNAL_EMOJIS
)

# Bits that only make sense with SEND_MESSAGES; Discord drops them when sending is denied.
_NEEDS_SEND = int(
    P.SEND_TTS_MESSAGES
    | P.MENTION_EVERYONE
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.SEND_VOICE_MESSAGES
    | P.SEND_POLLS
)
# A timed-out member keeps only these in every channel.
_TIMED_OUT_KEEPS = int(P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY)


@dataclass(frozen=True)
class Overwrite:
    """A channel permission overwrite: ``kind`` 0 targets a role, 1 a member."""

    id: int
    kind: int
    allow: int = 0
    deny: int = 0


def base_permissions(
    *,
    guild_id: int,
    owner_id: int,
    user_id: int,
    role_ids: Iterable[int],
    role_permissions: dict[int, int],
) -> int:
    """Guild-level permissions of a member: owner, then the OR of @everyone and their roles."""
    if user_id == owner_id:
        return ALL
    perms = role_permissions.get(guild_id, 0)  # @everyone's id is the guild's id
    for role_id in role_ids:
        perms |= role_permissions.get(role_id, 0)
    if perms & P.ADMINISTRATOR:
        return ALL
    return perms


def apply_overwrites(
    base: int,
    *,
    guild_id: int,
    user_id: int,
    role_ids: Iterable[int],
    overwrites: Iterable[Overwrite],
) -> int:
    """Channel permissions from guild-level ``base`` and the channel's overwrites."""
    if base & P.ADMINISTRATOR:
        return ALL
    by_target = {(o.kind, o.id): o for o in overwrites}
    perms = base
    everyone = by_target.get((0, guild_id))
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in role_ids:
        found = by_target.get((0, role_id))
        if found is not None:
            allow |= found.allow
            deny |= found.deny
    perms = (perms & ~deny) | allow
    member = by_target.get((1, user_id))
    if member is not None:
        perms = (perms & ~member.deny) | member.allow
    return perms


def finish(perms: int, *, is_thread: bool, timed_out_until: datetime | None) -> int:
    """Apply the implicit rules that follow overwrites (administrators and owners are exempt)."""
    if perms & P.ADMINISTRATOR:
        return perms
    if timed_out_until is not None and timed_out_until > datetime.now(UTC):
        perms &= _TIMED_OUT_KEEPS
    if not perms & P.VIEW_CHANNEL:
        return 0
    send_bit = P.SEND_MESSAGES_IN_THREADS if is_thread else P.SEND_MESSAGES
    if not perms & send_bit:
        perms &= ~_NEEDS_SEND
    return perms


def has(perms: int, *needed: P) -> bool:
    """Whether ``perms`` include every bit in ``needed`` (ADMINISTRATOR implies all)."""
    if perms & P.ADMINISTRATOR:
        return True
    return all(perms & flag == flag for flag in needed)

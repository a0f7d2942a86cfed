"""Gateway intents: which session receives which event, and what it may see of messages.

Discord filters dispatches by the intents a session identified with, and blanks message
content (content, embeds, attachments, components, poll) for apps that did not ask for the
MESSAGE_CONTENT intent, except in DMs, messages that mention the app, and the app's own.
"""

from __future__ import annotations

from typing import Any

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MODERATION = 1 << 2
GUILD_EXPRESSIONS = 1 << 3
GUILD_INTEGRATIONS = 1 << 4
GUILD_WEBHOOKS = 1 << 5
GUILD_INVITES = 1 << 6
GUILD_VOICE_STATES = 1 << 7
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15
GUILD_SCHEDULED_EVENTS = 1 << 16
AUTO_MODERATION_CONFIGURATION = 1 << 20
AUTO_MODERATION_EXECUTION = 1 << 21
GUILD_MESSAGE_POLLS = 1 << 24
DIRECT_MESSAGE_POLLS = 1 << 25

ALL_KNOWN = (1 << 26) - 1
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

_GUILD_EVENTS: dict[str, int] = {
    "GUILD_CREATE": GUILDS,
    "GUILD_UPDATE": GUILDS,
    "GUILD_DELETE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "GUILD_ROLE_UPDATE": GUILDS,
    "GUILD_ROLE_DELETE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "CHANNEL_DELETE": GUILDS,
    "THREAD_CREATE": GUILDS,
    "THREAD_UPDATE": GUILDS,
    "THREAD_DELETE": GUILDS,
    "THREAD_LIST_SYNC": GUILDS,
    "THREAD_MEMBER_UPDATE": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": GUILD_MEMBERS,
    "THREAD_MEMBERS_UPDATE": GUILD_MEMBERS,
    "GUILD_AUDIT_LOG_ENTRY_CREATE": GUILD_MODERATION,
    "GUILD_BAN_ADD": GUILD_MODERATION,
    "GUILD_BAN_REMOVE": GUILD_MODERATION,
    "GUILD_EMOJIS_UPDATE": GUILD_EXPRESSIONS,
    "GUILD_STICKERS_UPDATE": GUILD_EXPRESSIONS,
    "WEBHOOKS_UPDATE": GUILD_WEBHOOKS,
    "MESSAGE_CREATE": GUILD_MESSAGES,
    "MESSAGE_UPDATE": GUILD_MESSAGES,
    "MESSAGE_DELETE": GUILD_MESSAGES,
    "MESSAGE_DELETE_BULK": GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": GUILD_MESSAGE_REACTIONS,
    "TYPING_START": GUILD_MESSAGE_TYPING,
}
_DM_EVENTS: dict[str, int] = {
    "MESSAGE_CREATE": DIRECT_MESSAGES,
    "MESSAGE_UPDATE": DIRECT_MESSAGES,
    "MESSAGE_DELETE": DIRECT_MESSAGES,
    "CHANNEL_PINS_UPDATE": DIRECT_MESSAGES,
    "MESSAGE_REACTION_ADD": DIRECT_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": DIRECT_MESSAGE_REACTIONS,
    "TYPING_START": DIRECT_MESSAGE_TYPING,
}
_CONTENT_FIELDS = ("content", "embeds", "attachments", "components")
_MESSAGE_EVENTS = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE"})


def required_intent(event: str, *, in_guild: bool) -> int:
    """The intent bit a session needs to receive ``event`` (0: always delivered)."""
    table = _GUILD_EVENTS if in_guild else _DM_EVENTS
    return table.get(event, 0)


def delivers(
    event: str, data: dict[str, Any], *, in_guild: bool, intents: int, self_id: int
) -> bool:
    """Whether a session with ``intents`` receives this dispatch."""
    if event == "GUILD_MEMBER_UPDATE" and data.get("user", {}).get("id") == str(self_id):
        return True  # the app's own member updates arrive without GUILD_MEMBERS
    needed = required_intent(event, in_guild=in_guild)
    return needed == 0 or bool(intents & needed)


def may_read(message: dict[str, Any], *, self_id: int) -> bool:
    """Whether an app without MESSAGE_CONTENT still gets this message's content."""
    if "guild_id" not in message:
        return True
    if message.get("author", {}).get("id") == str(self_id):
        return True
    return any(m.get("id") == str(self_id) for m in message.get("mentions", []))


def strip_content(message: dict[str, Any]) -> dict[str, Any]:
    """The message with the content-bearing fields emptied, as Discord sends it."""
    stripped = dict(message)
    stripped["content"] = ""
    for name in _CONTENT_FIELDS[1:]:
        if name in stripped:
            stripped[name] = []
    stripped.pop("poll", None)
    return stripped


def tailor_message(
    event: str, data: dict[str, Any], *, intents: int, self_id: int
) -> dict[str, Any]:
    """A message event as a session with ``intents`` sees it."""
    if event not in _MESSAGE_EVENTS or intents & MESSAGE_CONTENT:
        return data
    if may_read(data, self_id=self_id):
        return data
    return strip_content(data)

"""The sandbox's world: users, guilds, roles, members, channels, messages, files, webhooks.

Plain data, no I/O. Lookups raise the :class:`DiscordError` Discord would answer with, so REST
handlers and user actions share one notion of "unknown channel" or "missing permissions".
"""

from __future__ import annotations

from bot.sandbox import errors
from bot.sandbox import permissions as perm
from bot.sandbox.objects import (
    JSON,
    Application,
    Blob,
    Channel,
    Guild,
    InteractionRecord,
    Member,
    Role,
    StoredMessage,
    User,
    Webhook,
)
from bot.sandbox.snowflake import SnowflakeGenerator


class World:
    """Every object in the sandbox, indexed by id."""

    def __init__(self, application: Application, ids: SnowflakeGenerator) -> None:
        self.ids = ids
        self.application = application
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, dict[int, StoredMessage]] = {}
        # Ephemeral messages live outside channels: only the interaction's user sees them.
        self.ephemeral: dict[int, StoredMessage] = {}
        self.blobs: dict[str, Blob] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.commands: dict[int, JSON] = {}
        self.dm_channels: dict[int, int] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.interaction_tokens: dict[str, int] = {}

    # --- lookups -------------------------------------------------------------------------------

    def user(self, user_id: int) -> User:
        found = self.users.get(user_id)
        if found is None:
            raise errors.unknown("User")
        return found

    def guild(self, guild_id: int) -> Guild:
        found = self.guilds.get(guild_id)
        if found is None:
            raise errors.unknown("Guild")
        return found

    def channel(self, channel_id: int) -> Channel:
        found = self.channels.get(channel_id)
        if found is None:
            raise errors.unknown("Channel")
        return found

    def member(self, guild_id: int, user_id: int) -> Member:
        found = self.guild(guild_id).members.get(user_id)
        if found is None:
            raise errors.unknown("Member")
        return found

    def role(self, guild_id: int, role_id: int) -> Role:
        found = self.guild(guild_id).roles.get(role_id)
        if found is None:
            raise errors.unknown("Role")
        return found

    def message(self, channel_id: int, message_id: int) -> StoredMessage:
        found = self.messages.get(channel_id, {}).get(message_id)
        if found is None or found.deleted:
            raise errors.unknown("Message")
        return found

    def find_message(self, message_id: int) -> StoredMessage | None:
        """A live message by id alone, in any channel or among ephemeral ones."""
        for by_id in self.messages.values():
            found = by_id.get(message_id)
            if found is not None and not found.deleted:
                return found
        return self.ephemeral.get(message_id)

    def live_messages(self, channel_id: int) -> list[StoredMessage]:
        """A channel's messages, oldest first, deletions applied."""
        return [m for m in self.messages.get(channel_id, {}).values() if not m.deleted]

    def guild_channels(self, guild_id: int) -> list[Channel]:
        return [self.channels[c] for c in self.guild(guild_id).channel_ids]

    # --- permissions ---------------------------------------------------------------------------

    def guild_permissions(self, guild_id: int, user_id: int) -> int:
        guild = self.guild(guild_id)
        member = self.member(guild_id, user_id)
        return perm.base_permissions(
            guild_id=guild_id,
            owner_id=guild.owner_id,
            user_id=user_id,
            role_ids=member.roles,
            role_permissions={r.id: r.permissions for r in guild.roles.values()},
        )

    def permissions_in(self, channel_id: int, user_id: int) -> int:
        """A member's permissions in a channel, as Discord computes them (DMs: view and send)."""
        channel = self.channel(channel_id)
        if channel.guild_id is None:
            return int(perm.P.VIEW_CHANNEL | perm.P.SEND_MESSAGES | perm.P.READ_MESSAGE_HISTORY)
        member = self.member(channel.guild_id, user_id)
        base = self.guild_permissions(channel.guild_id, user_id)
        source = self.channels.get(channel.parent_id or 0) if channel.is_thread else channel
        computed = perm.apply_overwrites(
            base,
            guild_id=channel.guild_id,
            user_id=user_id,
            role_ids=member.roles,
            overwrites=source.overwrites if source is not None else (),
        )
        return perm.finish(
            computed,
            is_thread=channel.is_thread,
            timed_out_until=member.communication_disabled_until,
        )

    def require(self, channel_id: int, user_id: int, *needed: perm.P) -> int:
        """The member's channel permissions; 403 50001 without VIEW_CHANNEL, 50013 for others."""
        granted = self.permissions_in(channel_id, user_id)
        if not perm.has(granted, perm.P.VIEW_CHANNEL):
            raise errors.missing_access()
        if not perm.has(granted, *needed):
            raise errors.missing_permissions()
        return granted

    def require_guild(self, guild_id: int, user_id: int, *needed: perm.P) -> int:
        granted = self.guild_permissions(guild_id, user_id)
        if not perm.has(granted, *needed):
            raise errors.missing_permissions()
        return granted

    def top_role_position(self, guild_id: int, user_id: int) -> int:
        guild = self.guild(guild_id)
        member = self.member(guild_id, user_id)
        return max((guild.roles[r].position for r in member.roles if r in guild.roles), default=0)

    def outranks(self, guild_id: int, actor_id: int, target_id: int) -> bool:
        """Whether ``actor`` may moderate ``target``: the role hierarchy Discord enforces."""
        guild = self.guild(guild_id)
        if target_id == guild.owner_id:
            return False
        if actor_id == guild.owner_id:
            return True
        return self.top_role_position(guild_id, actor_id) > self.top_role_position(
            guild_id, target_id
        )

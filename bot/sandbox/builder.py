"""Building the world: guilds, roles, channels, threads, members, stickers, webhooks.

Every method works before or after the bot connects; afterwards it dispatches the event
Discord would (GUILD_CREATE for a new guild, CHANNEL_CREATE, GUILD_MEMBER_ADD, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from bot.sandbox import payloads
from bot.sandbox import permissions as perm
from bot.sandbox.builder_channels import ChannelBuilder
from bot.sandbox.context import Context
from bot.sandbox.objects import (
    GUILD_TEXT,
    JSON,
    Guild,
    Member,
    Role,
    Sticker,
    User,
)
from bot.sandbox.routes_webhooks import create_incoming


class WorldBuilder(ChannelBuilder):
    """World-building methods of :class:`~bot.sandbox.server.Sandbox` (all synchronous)."""

    _ctx: Context

    # --- users and guilds ----------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        *,
        bot: bool = False,
        global_name: str | None = None,
        accepts_dms: bool = True,
    ) -> int:
        """A new account (not in any guild yet); returns its id."""
        user = User(
            id=self._ctx.world.ids.next(), username=username, global_name=global_name, bot=bot
        )
        user.accepts_dms = accepts_dms
        self._ctx.world.users[user.id] = user
        return user.id

    def create_guild(
        self,
        name: str,
        *,
        owner_id: int | None = None,
        features: Iterable[str] = (),
        everyone_permissions: int = perm.DEFAULT_EVERYONE,
        bot_permissions: int = perm.DEFAULT_BOT,
        system_channel: str | None = "general",
        with_bot: bool = True,
    ) -> int:
        """A guild with its @everyone role (id == guild id), an owner and a system channel.

        ``with_bot`` adds the bot as a member with its managed role carrying ``bot_permissions``
        (what its invite asked for), at the top of the role list.
        """
        world = self._ctx.world
        if owner_id is None:
            owner_id = self.create_user(f"{name.lower().replace(' ', '')}-owner")
        guild = Guild(id=world.ids.next(), name=name, owner_id=owner_id, features=list(features))
        guild.roles[guild.id] = Role(
            id=guild.id, guild_id=guild.id, name="@everyone", permissions=everyone_permissions
        )
        world.guilds[guild.id] = guild
        guild.members[owner_id] = Member(guild.id, owner_id, [], datetime.now(UTC))
        if system_channel is not None:
            guild.system_channel_id = self._add_channel(
                guild.id, system_channel, GUILD_TEXT, dispatch=False
            )
        if with_bot:
            self.add_bot_to_guild(guild.id, permissions=bot_permissions)
        return guild.id

    def add_bot_to_guild(self, guild_id: int, *, permissions: int = perm.DEFAULT_BOT) -> int:
        """Invite the bot: its member, its managed role (returned), and GUILD_CREATE if online."""
        world = self._ctx.world
        guild = world.guild(guild_id)
        app = world.application
        top = max((r.position for r in guild.roles.values()), default=0)
        role = Role(
            id=world.ids.next(),
            guild_id=guild_id,
            name=app.name,
            permissions=permissions,
            position=top + 1,
            managed=True,
            bot_id=app.bot_user_id,
        )
        guild.roles[role.id] = role
        guild.members[app.bot_user_id] = Member(
            guild_id, app.bot_user_id, [role.id], datetime.now(UTC)
        )
        guild.joined_at = datetime.now(UTC)
        joined = payloads.guild_create(guild, world)
        # A guild joined mid-session comes without "unavailable" (discord.py: on_guild_join);
        # "unavailable": false marks one that was in READY (on_guild_available).
        del joined["unavailable"]
        self._ctx.gateway.dispatch("GUILD_CREATE", joined, guild_id=guild_id)
        return role.id

    def bot_role_id(self, guild_id: int) -> int:
        """The bot's managed role in a guild."""
        guild = self._ctx.world.guild(guild_id)
        bot_id = self._ctx.world.application.bot_user_id
        return next(r.id for r in guild.roles.values() if r.bot_id == bot_id)

    def set_bot_permissions(self, guild_id: int, permissions: int) -> None:
        """Change what the bot's managed role grants (GUILD_ROLE_UPDATE)."""
        self.update_role(guild_id, self.bot_role_id(guild_id), permissions=permissions)

    # --- roles ---------------------------------------------------------------------------------

    def create_role(
        self,
        guild_id: int,
        name: str,
        *,
        permissions: int = 0,
        position: int | None = None,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
    ) -> int:
        """A role; by default placed just above @everyone, as Discord places new roles."""
        world = self._ctx.world
        guild = world.guild(guild_id)
        position = 1 if position is None else position
        for other in guild.roles.values():
            if other.id != guild_id and other.position >= position:
                other.position += 1
        role = Role(
            world.ids.next(), guild_id, name, permissions, position, color, hoist, mentionable
        )
        guild.roles[role.id] = role
        data = {"guild_id": str(guild_id), "role": payloads.role(role)}
        self._ctx.gateway.dispatch("GUILD_ROLE_CREATE", data, guild_id=guild_id)
        return role.id

    def update_role(
        self,
        guild_id: int,
        role_id: int,
        *,
        name: str | None = None,
        permissions: int | None = None,
        position: int | None = None,
    ) -> None:
        """Change a role (GUILD_ROLE_UPDATE)."""
        role = self._ctx.world.role(guild_id, role_id)
        if name is not None:
            role.name = name
        if permissions is not None:
            role.permissions = permissions
        if position is not None:
            role.position = position
        data = {"guild_id": str(guild_id), "role": payloads.role(role)}
        self._ctx.gateway.dispatch("GUILD_ROLE_UPDATE", data, guild_id=guild_id)

    # --- members -------------------------------------------------------------------------------

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        roles: Iterable[int] = (),
        nick: str | None = None,
        joined_at: datetime | None = None,
    ) -> None:
        """Put a user into a guild (GUILD_MEMBER_ADD)."""
        world = self._ctx.world
        guild = world.guild(guild_id)
        user = world.user(user_id)
        member = Member(guild_id, user_id, list(roles), joined_at or datetime.now(UTC), nick=nick)
        guild.members[user_id] = member
        data = payloads.member(member, with_user=user)
        data["guild_id"] = str(guild_id)
        self._ctx.gateway.dispatch("GUILD_MEMBER_ADD", data, guild_id=guild_id)

    def create_member(
        self,
        guild_id: int,
        username: str,
        *,
        bot: bool = False,
        roles: Iterable[int] = (),
        nick: str | None = None,
        global_name: str | None = None,
    ) -> int:
        """A new user who joins ``guild_id`` at once; returns the user id."""
        user_id = self.create_user(username, bot=bot, global_name=global_name)
        self.add_member(guild_id, user_id, roles=roles, nick=nick)
        return user_id

    def remove_member(self, guild_id: int, user_id: int) -> None:
        """A member leaves (GUILD_MEMBER_REMOVE)."""
        world = self._ctx.world
        del world.guild(guild_id).members[user_id]
        data = {"guild_id": str(guild_id), "user": payloads.user(world.user(user_id))}
        self._ctx.gateway.dispatch("GUILD_MEMBER_REMOVE", data, guild_id=guild_id)

    def set_member_roles(self, guild_id: int, user_id: int, roles: Iterable[int]) -> None:
        """Replace a member's roles (GUILD_MEMBER_UPDATE)."""
        world = self._ctx.world
        member = world.member(guild_id, user_id)
        member.roles = list(roles)
        data = payloads.member(member, with_user=world.user(user_id))
        data["guild_id"] = str(guild_id)
        self._ctx.gateway.dispatch("GUILD_MEMBER_UPDATE", data, guild_id=guild_id)

    def timeout_member(self, guild_id: int, user_id: int, until: datetime | None) -> None:
        """A moderator times a member out until ``until`` (None lifts it); GUILD_MEMBER_UPDATE."""
        world = self._ctx.world
        member = world.member(guild_id, user_id)
        member.communication_disabled_until = until
        data = payloads.member(member, with_user=world.user(user_id))
        data["guild_id"] = str(guild_id)
        self._ctx.gateway.dispatch("GUILD_MEMBER_UPDATE", data, guild_id=guild_id)

    # --- expressions and webhooks --------------------------------------------------------------

    def add_sticker(self, guild_id: int, name: str, data: bytes, *, format_type: int = 1) -> int:
        """A guild sticker served by the CDN (1 PNG, 2 APNG, 3 Lottie, 4 GIF)."""
        world = self._ctx.world
        guild = world.guild(guild_id)
        sticker = Sticker(world.ids.next(), guild_id, name, format_type, data)
        guild.stickers[sticker.id] = sticker
        event: JSON = {
            "guild_id": str(guild_id),
            "stickers": [payloads.sticker(s) for s in guild.stickers.values()],
        }
        self._ctx.gateway.dispatch("GUILD_STICKERS_UPDATE", event, guild_id=guild_id)
        return sticker.id

    def create_webhook(self, channel_id: int, name: str, *, creator_id: int | None = None) -> JSON:
        """An incoming webhook made by a person (or the guild owner); returns it with its token."""
        world = self._ctx.world
        channel = world.channel(channel_id)
        creator = (
            creator_id if creator_id is not None else world.guild(channel.guild_id or 0).owner_id
        )
        hook = create_incoming(self._ctx, channel_id, name, creator_id=creator)
        return payloads.webhook(hook, world)

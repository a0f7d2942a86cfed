"""Building channels: text channels, categories, forums and their posts, threads, overwrites,
DM channels. Each dispatches CHANNEL_CREATE / THREAD_CREATE / CHANNEL_UPDATE once connected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.sandbox import messages, payloads
from bot.sandbox import permissions as perm
from bot.sandbox.actions import AttachmentSpec, upload_attachment
from bot.sandbox.context import Context
from bot.sandbox.objects import (
    DM,
    GUILD_CATEGORY,
    GUILD_FORUM,
    GUILD_TEXT,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    Channel,
)


def open_thread(
    ctx: Context,
    channel_id: int,
    name: str,
    *,
    owner_id: int,
    private: bool = False,
    thread_id: int | None = None,
    applied_tags: Iterable[int] = (),
    auto_archive_duration: int = 1440,
) -> Channel:
    """Create a thread under ``channel_id`` and dispatch THREAD_CREATE (shared with REST)."""
    world = ctx.world
    parent = world.channel(channel_id)
    if parent.guild_id is None:
        raise ValueError("threads live in guild channels")
    thread = Channel(
        id=thread_id if thread_id is not None else world.ids.next(),
        type=PRIVATE_THREAD if private else PUBLIC_THREAD,
        guild_id=parent.guild_id,
        name=name,
        parent_id=parent.id,
        nsfw=parent.nsfw,
        owner_id=owner_id,
        created_at=datetime.now(UTC),
        applied_tags=list(applied_tags),
        auto_archive_duration=auto_archive_duration,
    )
    world.channels[thread.id] = thread
    world.guild(parent.guild_id).channel_ids.append(thread.id)
    data = payloads.channel(thread, world)
    data["newly_created"] = True
    ctx.gateway.dispatch("THREAD_CREATE", data, guild_id=thread.guild_id)
    return thread


class ChannelBuilder:
    """Channel-building methods of :class:`~bot.sandbox.server.Sandbox`."""

    _ctx: Context

    # --- channels and threads ------------------------------------------------------------------

    def create_text_channel(
        self,
        guild_id: int,
        name: str,
        *,
        topic: str | None = None,
        nsfw: bool = False,
        parent_id: int | None = None,
        overwrites: Iterable[perm.Overwrite] = (),
    ) -> int:
        """A text channel (``nsfw=True``: age-restricted); CHANNEL_CREATE."""
        return self._add_channel(
            guild_id,
            name,
            GUILD_TEXT,
            topic=topic,
            nsfw=nsfw,
            parent_id=parent_id,
            overwrites=overwrites,
        )

    def create_category(self, guild_id: int, name: str) -> int:
        return self._add_channel(guild_id, name, GUILD_CATEGORY)

    def create_forum_channel(
        self,
        guild_id: int,
        name: str,
        *,
        tags: Iterable[str] = (),
        nsfw: bool = False,
        topic: str | None = None,
    ) -> int:
        """A forum; ``tags`` become its available tags."""
        channel_id = self._add_channel(
            guild_id, name, GUILD_FORUM, nsfw=nsfw, topic=topic, dispatch=False
        )
        channel = self._ctx.world.channels[channel_id]
        channel.available_tags = [
            {
                "id": str(self._ctx.world.ids.next()),
                "name": tag,
                "moderated": False,
                "emoji_id": None,
                "emoji_name": None,
            }
            for tag in tags
        ]
        self._dispatch_channel("CHANNEL_CREATE", channel)
        return channel_id

    def _add_channel(
        self,
        guild_id: int,
        name: str,
        kind: int,
        *,
        topic: str | None = None,
        nsfw: bool = False,
        parent_id: int | None = None,
        overwrites: Iterable[perm.Overwrite] = (),
        dispatch: bool = True,
    ) -> int:
        world = self._ctx.world
        guild = world.guild(guild_id)
        position = sum(1 for c in world.guild_channels(guild_id) if not c.is_thread)
        channel = Channel(
            id=world.ids.next(),
            type=kind,
            guild_id=guild_id,
            name=name,
            position=position,
            parent_id=parent_id,
            topic=topic,
            nsfw=nsfw,
            overwrites=list(overwrites),
        )
        world.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        if dispatch:
            self._dispatch_channel("CHANNEL_CREATE", channel)
        return channel.id

    def _dispatch_channel(self, event: str, channel: Channel, **extra: Any) -> None:
        data = payloads.channel(channel, self._ctx.world)
        data.update(extra)
        self._ctx.gateway.dispatch(event, data, guild_id=channel.guild_id)

    def create_thread(
        self,
        channel_id: int,
        name: str,
        *,
        owner_id: int,
        private: bool = False,
        thread_id: int | None = None,
        applied_tags: Iterable[int] = (),
    ) -> int:
        """A thread in a text channel or forum (THREAD_CREATE); ``thread_id`` = starter message."""
        thread = open_thread(
            self._ctx,
            channel_id,
            name,
            owner_id=owner_id,
            private=private,
            thread_id=thread_id,
            applied_tags=applied_tags,
        )
        return thread.id

    def create_forum_post(
        self,
        forum_id: int,
        author_id: int,
        title: str,
        content: str = "",
        *,
        attachments: Sequence[AttachmentSpec] = (),
        tags: Iterable[int] = (),
    ) -> tuple[int, int]:
        """A forum post: its thread (THREAD_CREATE) and starter message, which share one id."""
        world = self._ctx.world
        post_id = world.ids.next()
        thread_id = self.create_thread(
            forum_id, title, owner_id=author_id, thread_id=post_id, applied_tags=tags
        )
        messages.create(
            self._ctx,
            world.channel(thread_id),
            world.user(author_id),
            content=content,
            attachments=[upload_attachment(self._ctx, thread_id, a) for a in attachments],
            message_id=post_id,
        )
        return thread_id, post_id

    def set_permission_overwrite(
        self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Set a channel overwrite for a role or a member (chosen by the id); CHANNEL_UPDATE."""
        world = self._ctx.world
        channel = world.channel(channel_id)
        guild = world.guild(channel.guild_id or 0)
        kind = 0 if target_id in guild.roles else 1
        channel.overwrites = [o for o in channel.overwrites if o.id != target_id]
        channel.overwrites.append(perm.Overwrite(target_id, kind, allow, deny))
        self._dispatch_channel("CHANNEL_UPDATE", channel)

    def open_dm(self, user_id: int) -> int:
        """The DM channel between the bot and a user (created on first use)."""
        world = self._ctx.world
        world.user(user_id)
        if user_id not in world.dm_channels:
            channel = Channel(
                id=world.ids.next(), type=DM, guild_id=None, name=None, recipient_ids=[user_id]
            )
            world.channels[channel.id] = channel
            world.dm_channels[user_id] = channel.id
        return world.dm_channels[user_id]

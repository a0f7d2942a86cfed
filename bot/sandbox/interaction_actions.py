"""Interactions people start: slash and context-menu commands, components, modal submits.

Each raises ``LookupError``/``PermissionError`` for what Discord's client would not let the
person do (run a command nobody registered or they cannot see, click a disabled button).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from bot.sandbox import interactions as ix
from bot.sandbox.actions import require_user_permissions
from bot.sandbox.context import Context
from bot.sandbox.objects import JSON, StoredMessage
from bot.sandbox.permissions import P


class InteractionActions:
    """Interaction methods of :class:`~bot.sandbox.server.Sandbox`."""

    _ctx: Context

    def _start_command(
        self, guild_id: int | None, channel_id: int, user_id: int, name: str, kind: int
    ) -> JSON:
        command = ix.find_command(self._ctx, guild_id, name, kind)
        ix.check_visible(self._ctx, command, guild_id, user_id, channel_id)
        require_user_permissions(self._ctx, channel_id, user_id, P.USE_APPLICATION_COMMANDS)
        data: JSON = {"id": command["id"], "name": name, "type": kind}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return data

    async def invoke_slash_command(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        subcommand: str | Sequence[str] | None = None,
    ) -> JSON:
        """Run ``/name [group] [subcommand] options...``; returns the interaction payload.

        Option values are plain: ids for users, roles and channels, ``(filename, bytes)`` for
        attachments; their ``resolved`` objects are filled in as Discord does.
        """
        data = self._start_command(guild_id, channel_id, user_id, name, ix.CHAT_INPUT)
        command = self._ctx.world.commands[int(data["id"])]
        path = subcommand.split() if isinstance(subcommand, str) else list(subcommand or ())
        resolved: JSON = {}
        options_payload = ix.command_options(
            self._ctx, command, path, options or {}, resolved, guild_id=guild_id
        )
        if options_payload:
            data["options"] = options_payload
        if resolved:
            data["resolved"] = resolved
        record = ix.start(
            self._ctx,
            kind=ix.APPLICATION_COMMAND,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            data=data,
            name=" ".join([name, *path]),
        )
        return record.payload

    async def invoke_message_command(
        self, guild_id: int | None, channel_id: int, user_id: int, name: str, target_message_id: int
    ) -> JSON:
        """Run a message context-menu command; ``data.resolved.messages`` holds the full target
        (content included, even for apps without the MESSAGE_CONTENT intent, as on Discord)."""
        data = self._start_command(guild_id, channel_id, user_id, name, ix.MESSAGE_COMMAND)
        target = self._ctx.world.message(channel_id, target_message_id)
        data["target_id"] = str(target_message_id)
        data["resolved"] = {"messages": {str(target_message_id): copy.deepcopy(target.payload)}}
        record = ix.start(
            self._ctx,
            kind=ix.APPLICATION_COMMAND,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            data=data,
            name=name,
        )
        return record.payload

    async def invoke_user_command(
        self, guild_id: int | None, channel_id: int, user_id: int, name: str, target_user_id: int
    ) -> JSON:
        """Run a user context-menu command on ``target_user_id``."""
        data = self._start_command(guild_id, channel_id, user_id, name, ix.USER_COMMAND)
        data["target_id"] = str(target_user_id)
        resolved: JSON = {}
        ix.add_user(self._ctx, resolved, target_user_id, guild_id)
        data["resolved"] = resolved
        record = ix.start(
            self._ctx,
            kind=ix.APPLICATION_COMMAND,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            data=data,
            name=name,
        )
        return record.payload

    def _component_message(self, channel_id: int, message_id: int) -> StoredMessage:
        found = self._ctx.world.find_message(message_id)
        if found is None or int(found.payload["channel_id"]) != channel_id:
            raise LookupError(f"no message {message_id} in channel {channel_id}")
        return found

    async def click_button(
        self, channel_id: int, message_id: int, user_id: int, custom_id: str
    ) -> JSON:
        """Click a button on a message (a MESSAGE_COMPONENT interaction)."""
        return await self._use_component(channel_id, message_id, user_id, custom_id, None)

    async def choose_select(
        self, channel_id: int, message_id: int, user_id: int, custom_id: str, values: Sequence[str]
    ) -> JSON:
        """Pick ``values`` in a select menu on a message."""
        return await self._use_component(channel_id, message_id, user_id, custom_id, list(values))

    async def _use_component(
        self,
        channel_id: int,
        message_id: int,
        user_id: int,
        custom_id: str,
        values: list[str] | None,
    ) -> JSON:
        stored = self._component_message(channel_id, message_id)
        component = ix.find_component(stored.payload.get("components", []), custom_id)
        if component is None:
            raise LookupError(f"message {message_id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled")
        data: JSON = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None:
            data["values"] = values
        channel = self._ctx.world.channel(channel_id)
        record = ix.start(
            self._ctx,
            kind=ix.MESSAGE_COMPONENT,
            guild_id=channel.guild_id,
            channel_id=channel_id,
            user_id=user_id,
            data=data,
            message=copy.deepcopy(stored.payload),
        )
        record.source_message_id = message_id
        return record.payload

    async def submit_modal(self, interaction_id: int, values: Mapping[str, Any]) -> JSON:
        """Submit the modal the app opened in response to ``interaction_id``.

        ``values`` maps each input's ``custom_id`` to its text (or a list, for selects).
        """
        world = self._ctx.world
        opener = world.interactions.get(interaction_id)
        if opener is None or opener.modal is None:
            raise LookupError(f"interaction {interaction_id} did not open a modal")
        data = {
            "custom_id": opener.modal["custom_id"],
            "components": ix.modal_components(opener.modal, values),
        }
        source = world.find_message(opener.source_message_id) if opener.source_message_id else None
        record = ix.start(
            self._ctx,
            kind=ix.MODAL_SUBMIT,
            guild_id=opener.guild_id,
            channel_id=opener.channel_id,
            user_id=opener.user_id,
            data=data,
            message=copy.deepcopy(source.payload) if source is not None else None,
        )
        record.source_message_id = opener.source_message_id
        return record.payload

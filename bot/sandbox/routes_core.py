"""Users, the gateway URL, the application and its commands, DM channels."""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox import errors, payloads
from bot.sandbox.objects import DM, JSON, Channel
from bot.sandbox.routing import Call, Reply, Routes

routes = Routes()

_CHAT_INPUT_NAME = re.compile(r"^[-_'\w]{1,32}$")
_MAX_COMMANDS = 100


@routes.route("GET", "/gateway", auth="none")
async def get_gateway(call: Call) -> Reply:
    return 200, {"url": call.ctx.urls.gateway_url.rstrip("/")}


@routes.route("GET", "/gateway/bot")
async def get_gateway_bot(call: Call) -> Reply:
    limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
    url = call.ctx.urls.gateway_url.rstrip("/")
    return 200, {"url": url, "shards": 1, "session_start_limit": limit}


@routes.route("GET", "/users/@me")
async def get_current_user(call: Call) -> Reply:
    return 200, payloads.current_user(call.ctx.world.user(call.bot_id))


@routes.route("GET", "/users/{user_id}")
async def get_user(call: Call) -> Reply:
    return 200, payloads.user(call.ctx.world.user(call.snowflake("user_id")))


@routes.route("GET", "/oauth2/applications/@me")
async def get_application(call: Call) -> Reply:
    return 200, payloads.application(call.ctx.world.application, call.ctx.world)


@routes.route("GET", "/applications/@me")
async def get_application_v2(call: Call) -> Reply:
    return await get_application(call)


@routes.route("POST", "/users/@me/channels")
async def create_dm(call: Call) -> Reply:
    """Open (or reuse) the DM channel with a user."""
    world = call.ctx.world
    raw = call.body().get("recipient_id")
    if raw is None or not str(raw).isdigit():
        raise errors.invalid_form("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
    user = world.user(int(raw))
    channel_id = world.dm_channels.get(user.id)
    if channel_id is None:
        channel = Channel(id=world.ids.next(), type=DM, guild_id=None, name=None)
        channel.recipient_ids = [user.id]
        world.channels[channel.id] = channel
        world.dm_channels[user.id] = channel.id
        channel_id = channel.id
    return 200, payloads.channel(world.channel(channel_id), world)


# --- application commands ----------------------------------------------------------------------


def _app_check(call: Call) -> None:
    if call.snowflake("application_id") != call.ctx.world.application.id:
        raise errors.forbidden(
            20012, "You are not authorized to perform this action on this application"
        )


def _scope(call: Call) -> int | None:
    if "guild_id" not in call.params:
        return None
    guild_id = call.snowflake("guild_id")
    call.ctx.world.guild(guild_id)
    return guild_id


def _in_scope(command: JSON, scope: int | None) -> bool:
    return command.get("guild_id") == (str(scope) if scope is not None else None)


def _validate_options(options: Any, where: str) -> None:
    if options is None:
        return
    if not isinstance(options, list) or len(options) > 25:
        raise errors.invalid_form(where, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    for index, option in enumerate(options):
        at = f"{where}.{index}"
        name = option.get("name", "")
        if not _CHAT_INPUT_NAME.match(name) or name != name.lower():
            raise errors.invalid_form(
                f"{at}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if not 1 <= len(option.get("description", "")) <= 100:
            raise errors.invalid_form(
                f"{at}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        if option.get("type") in (1, 2):
            _validate_options(option.get("options"), f"{at}.options")
        elif option.get("required"):
            if seen_optional:
                raise errors.invalid_form(
                    at,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID_ORDER",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True


def _validate(command: Any, where: str) -> None:
    if not isinstance(command, dict):
        raise errors.invalid_form(
            where, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"
        )
    kind = command.get("type", 1)
    name = command.get("name", "")
    if kind == 1:
        if not _CHAT_INPUT_NAME.match(name) or name != name.lower():
            raise errors.invalid_form(
                f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if not 1 <= len(command.get("description", "")) <= 100:
            raise errors.invalid_form(
                f"{where}.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        _validate_options(command.get("options"), f"{where}.options")
    elif not 1 <= len(name) <= 32:
        raise errors.invalid_form(
            f"{where}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
        )


def _stored(call: Call, body: JSON, scope: int | None, old: JSON | None) -> JSON:
    world = call.ctx.world
    kind = body.get("type", 1)
    command: JSON = {
        "id": old["id"] if old else str(world.ids.next()),
        "application_id": str(world.application.id),
        "version": "",
        "default_member_permissions": body.get("default_member_permissions"),
        "type": kind,
        "name": body["name"],
        "name_localizations": body.get("name_localizations"),
        "description": body.get("description", "") if kind == 1 else "",
        "description_localizations": body.get("description_localizations"),
        "dm_permission": body.get("dm_permission", True),
        "contexts": body.get("contexts"),
        "integration_types": body.get("integration_types", [0]),
        "nsfw": bool(body.get("nsfw", False)),
    }
    if body.get("options"):
        command["options"] = body["options"]
    if scope is not None:
        command["guild_id"] = str(scope)
    unchanged = old is not None and {k: v for k, v in old.items() if k != "version"} == {
        k: v for k, v in command.items() if k != "version"
    }
    command["version"] = old["version"] if unchanged and old else str(world.ids.next())
    return command


@routes.route("GET", "/applications/{application_id}/commands")
@routes.route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def list_commands(call: Call) -> Reply:
    _app_check(call)
    scope = _scope(call)
    return 200, [c for c in call.ctx.world.commands.values() if _in_scope(c, scope)]


@routes.route("PUT", "/applications/{application_id}/commands")
@routes.route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def overwrite_commands(call: Call) -> Reply:
    """Bulk overwrite: commands keep their id when name and type match, as on Discord."""
    _app_check(call)
    scope = _scope(call)
    body = call.json
    if not isinstance(body, list):
        raise errors.invalid_form("_", "BASE_TYPE_LIST", "Must be a list.")
    if len(body) > _MAX_COMMANDS:
        raise errors.bad_request(30032, "Maximum number of application commands reached (100)")
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(body):
        _validate(command, str(index))
        key = (command["name"], command.get("type", 1))
        if key in seen:
            raise errors.invalid_form(
                str(index),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {key[0]}",
            )
        seen.add(key)
    world = call.ctx.world
    current = {(c["name"], c["type"]): c for c in world.commands.values() if _in_scope(c, scope)}
    for command in current.values():
        del world.commands[int(command["id"])]
    result = []
    for command in body:
        stored = _stored(
            call, command, scope, current.get((command["name"], command.get("type", 1)))
        )
        world.commands[int(stored["id"])] = stored
        result.append(stored)
    return 200, result


@routes.route("POST", "/applications/{application_id}/commands")
@routes.route("POST", "/applications/{application_id}/guilds/{guild_id}/commands")
async def upsert_command(call: Call) -> Reply:
    _app_check(call)
    scope = _scope(call)
    body = call.body()
    _validate(body, "_")
    world = call.ctx.world
    key = (body["name"], body.get("type", 1))
    old = next(
        (
            c
            for c in world.commands.values()
            if _in_scope(c, scope) and (c["name"], c["type"]) == key
        ),
        None,
    )
    stored = _stored(call, body, scope, old)
    world.commands[int(stored["id"])] = stored
    return (200 if old else 201), stored


@routes.route("GET", "/applications/{application_id}/commands/{command_id}")
@routes.route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def get_command(call: Call) -> Reply:
    _app_check(call)
    scope = _scope(call)
    found = call.ctx.world.commands.get(call.snowflake("command_id"))
    if found is None or not _in_scope(found, scope):
        raise errors.unknown("application command")
    return 200, found


@routes.route("DELETE", "/applications/{application_id}/commands/{command_id}")
@routes.route("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def delete_command(call: Call) -> Reply:
    await get_command(call)
    del call.ctx.world.commands[call.snowflake("command_id")]
    return 204, None

"""Payloads only the gateway sends: READY and GUILD_MEMBERS_CHUNK."""

from __future__ import annotations

from typing import Any

from bot.sandbox import payloads
from bot.sandbox.config import Urls
from bot.sandbox.gateway_session import Session
from bot.sandbox.objects import JSON
from bot.sandbox.state import World


def ready(world: World, session: Session, urls: Urls, guild_ids: list[int]) -> JSON:
    """READY: the session, the bot user, and its guilds as unavailable stubs (GUILD_CREATEs
    with the full data follow), plus ``resume_gateway_url`` for later RESUMEs."""
    app = world.application
    return {
        "v": 10,
        "user_settings": {},
        "user": payloads.current_user(world.users[app.bot_user_id]),
        "session_type": "normal",
        "session_id": session.id,
        "resume_gateway_url": urls.resume_gateway_url,
        "relationships": [],
        "private_channels": [],
        "presences": [],
        "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["sandbox"],
        "auth": {},
        "application": {"id": str(app.id), "flags": app.flags},
        "shard": [session.shard_id, session.shard_count],
        "_trace": ['["gateway-sandbox",{"micros":0}]'],
    }


def members_chunk(world: World, request: dict[str, Any]) -> JSON | None:
    """The answer to op 8 REQUEST_GUILD_MEMBERS (one chunk: the sandbox's guilds are small)."""
    raw_guild = str(request.get("guild_id", ""))
    guild = world.guilds.get(int(raw_guild)) if raw_guild.isdigit() else None
    if guild is None:
        return None
    query = str(request.get("query") or "").lower()
    limit = int(request.get("limit") or 0)
    wanted_ids = {int(u) for u in request.get("user_ids") or []}
    found = []
    for member in guild.members.values():
        user = world.users[member.user_id]
        if wanted_ids and member.user_id not in wanted_ids:
            continue
        names = (user.username.lower(), (member.nick or "").lower())
        if query and not any(n.startswith(query) for n in names):
            continue
        found.append(payloads.member(member, with_user=user))
    if limit:
        found = found[:limit]
    chunk: JSON = {
        "guild_id": str(guild.id),
        "members": found,
        "chunk_index": 0,
        "chunk_count": 1,
    }
    missing = wanted_ids - set(guild.members)
    if missing:
        chunk["not_found"] = [str(u) for u in missing]
    if request.get("nonce"):
        chunk["nonce"] = request["nonce"]
    return chunk

"""Servers for a process without a gateway connection (a scan worker), fetched over REST.

The watcher and the actioner find a server's channels, its alert channel and the bot's own
member in discord.py's cache, which the gateway fills. A scan worker has no gateway, so it fills
the cache itself, from the same payload a GUILD_CREATE carries: the server, its channels, its
active threads and the bot's member. Entries are refetched after ``TTL_SECONDS`` (channels and
settings change), and at most ``MAX_GUILDS`` are kept.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

import discord

log = logging.getLogger(__name__)

TTL_SECONDS = 300.0
"""How long a fetched server is used before it is fetched again."""
MAX_GUILDS = 1000
"""Servers kept at most (the least recently used go first)."""


class RestGuilds:
    """A bounded cache of servers fetched over Discord's REST API, put where discord.py's
    gateway cache would hold them."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._fetched: OrderedDict[int, float] = OrderedDict()

    async def ensure(self, guild_id: int) -> None:
        """Make ``guild_id`` known to the client (fetched now if not fresh). A server the bot
        is no longer in stays unknown, so its work ends as "no longer in this server"; a passing
        fault (5xx, network) is raised for the caller to try again later."""
        fetched = self._fetched.get(guild_id)
        if fetched is not None and time.monotonic() - fetched < TTL_SECONDS:
            self._fetched.move_to_end(guild_id)
            return
        try:
            data = await self._payload(guild_id)
        except (discord.NotFound, discord.Forbidden) as exc:
            log.info("server %s is not reachable for this bot (%s)", guild_id, exc.status)
            self.forget(guild_id)
            return
        state: Any = self._client._connection
        guild = discord.Guild(data=data, state=state)  # type: ignore[arg-type]
        state._add_guild(guild)
        self._fetched[guild_id] = time.monotonic()
        self._fetched.move_to_end(guild_id)
        while len(self._fetched) > MAX_GUILDS:
            self.forget(next(iter(self._fetched)))

    def forget(self, guild_id: int) -> None:
        """Drop a server from the cache (its settings or channels changed)."""
        self._fetched.pop(guild_id, None)
        state: Any = self._client._connection
        guild = state._get_guild(guild_id)
        if guild is not None:
            state._remove_guild(guild)

    async def _payload(self, guild_id: int) -> dict[str, Any]:
        http = self._client.http
        me = self._client.user
        assert me is not None  # logged in
        data: dict[str, Any] = dict(await http.get_guild(guild_id, with_counts=False))
        data["channels"] = list(await http.get_all_guild_channels(guild_id))
        data["threads"] = list((await http.get_active_threads(guild_id)).get("threads", []))
        data["members"] = [await http.get_member(guild_id, me.id)]
        return data

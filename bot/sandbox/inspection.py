"""Inspection: what the bot sent, what the world looks like now, how the gateway fared."""

from __future__ import annotations

import copy
from collections.abc import Callable

from bot.sandbox import audit, payloads
from bot.sandbox.context import Context
from bot.sandbox.gateway import GatewayStats
from bot.sandbox.objects import JSON, InteractionRecord
from bot.sandbox.recorder import RecordedRequest, RouteMatcher


class Inspection:
    """Read-only views of :class:`~bot.sandbox.server.Sandbox` and its waits."""

    _ctx: Context

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request so far (oldest first), unknown routes included."""
        return self._ctx.log.all()

    def find_requests(
        self,
        method: str | None = None,
        route: RouteMatcher | None = None,
        *,
        predicate: Callable[[RecordedRequest], bool] | None = None,
    ) -> list[RecordedRequest]:
        """Requests by method and route template / concrete path (str) or regex (searched)."""
        return self._ctx.log.find(method, route, predicate)

    async def wait_for_request(
        self,
        method: str | None,
        route: RouteMatcher | None,
        timeout: float = 5.0,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        since: int = 0,
    ) -> RecordedRequest:
        """The first matching request (from index ``since``), waiting for it if need be.

        Pass ``since=len(sandbox.requests)`` to ignore requests made before the call.
        """
        return await self._ctx.log.wait_for(
            method, route, within=timeout, predicate=predicate, since=since
        )

    def messages(self, channel_id: int, *, include_deleted: bool = False) -> list[JSON]:
        """A channel's messages, oldest first (deleted ones only if asked); copies."""
        stored = self._ctx.world.messages.get(channel_id, {}).values()
        return [copy.deepcopy(m.payload) for m in stored if include_deleted or not m.deleted]

    def message(self, channel_id: int, message_id: int) -> JSON | None:
        """One live message, or None if it does not exist or was deleted."""
        found = self._ctx.world.messages.get(channel_id, {}).get(message_id)
        return copy.deepcopy(found.payload) if found is not None and not found.deleted else None

    def embedded_files(self, channel_id: int, message_id: int) -> list[JSON]:
        """The files a message's embeds show (kept by Discord, but not in ``attachments``)."""
        stored = self._ctx.world.messages.get(channel_id, {}).get(message_id)
        return [] if stored is None else list(stored.embedded)

    def ephemeral_messages(self) -> list[JSON]:
        """Ephemeral interaction responses (not part of any channel's history)."""
        return [copy.deepcopy(m.payload) for m in self._ctx.world.ephemeral.values()]

    def interaction(self, interaction_id: int) -> InteractionRecord:
        return self._ctx.world.interactions[interaction_id]

    def interaction_responses(self, interaction_id: int) -> list[JSON]:
        """What the app answered: ``{"kind": "callback"|"followup"|"edit"|"delete", ...}``."""
        return list(self._ctx.world.interactions[interaction_id].responses)

    def member(self, guild_id: int, user_id: int) -> JSON | None:
        """A member as the API shows it, or None if not in the guild."""
        found = self._ctx.world.guilds[guild_id].members.get(user_id)
        if found is None:
            return None
        return payloads.member(found, with_user=self._ctx.world.users[user_id])

    def banned(self, guild_id: int) -> dict[int, str | None]:
        """Banned user ids and their reasons."""
        return {b.user_id: b.reason for b in self._ctx.world.guilds[guild_id].bans.values()}

    def audit_log(self, guild_id: int) -> list[JSON]:
        """Audit-log entries, oldest first."""
        return [audit.entry_payload(e) for e in self._ctx.world.guilds[guild_id].audit_log]

    def permissions_for(self, channel_id: int, user_id: int) -> int:
        """A member's permissions in a channel, computed as Discord does."""
        return self._ctx.world.permissions_in(channel_id, user_id)

    @property
    def gateway_stats(self) -> GatewayStats:
        """Connections, IDENTIFYs, RESUMEs, invalid sessions and each handshake's path."""
        return self._ctx.gateway.stats

    @property
    def identify_count(self) -> int:
        return self._ctx.gateway.stats.identifies

    @property
    def resume_count(self) -> int:
        return self._ctx.gateway.stats.resumes

    async def wait_until_connected(self, timeout: float = 5.0) -> None:
        """Return once a client has identified (or resumed) and received its initial events."""
        await self._ctx.gateway.wait_until(self._ctx.gateway.online, timeout)

    async def wait_until_shards_connected(self, count: int, timeout: float = 5.0) -> None:
        """Return once ``count`` connections (shards, from one process or several) are
        identified and have received their initial events."""
        gateway = self._ctx.gateway
        await gateway.wait_until(lambda: sum(c.up for c in gateway.connections) >= count, timeout)

    async def wait_until_disconnected(self, timeout: float = 5.0) -> None:
        """Return once no client is connected (a killed process's socket has closed)."""
        gateway = self._ctx.gateway
        await gateway.wait_until(lambda: not gateway.online(), timeout)

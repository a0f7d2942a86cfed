"""The real Consentry bot, driven end to end through the local Discord sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import discord

from bot.config import Config, DiscordConfig, LikenessConfig
from bot.core.blocklist import NewEntry
from bot.core.evidence import EvidenceKey
from bot.core.fingerprint import fingerprint
from bot.engine import Engine, open_engine
from bot.runtime.alerts import Incident
from bot.runtime.client import ConsentryBot, make_bot, point_at
from bot.sandbox import DemoWorld, Sandbox
from bot.sandbox.demo import demo_world

HANDLE_TIMEOUT = 10.0


def sandbox_config(sandbox: Sandbox, tmp_path: Path, **overrides: Any) -> Config:
    """A config that points the bot at ``sandbox`` and keeps its database under ``tmp_path``."""
    discord_config = DiscordConfig(
        api_base=sandbox.api_base,
        gateway_url=sandbox.gateway_url,
        cdn_base=sandbox.cdn_base,
        media_hosts=(sandbox.cdn_host, sandbox.media_host),
        blocklist_refresh_seconds=overrides.pop("blocklist_refresh_seconds", 30.0),
    )
    # Models are opted into by the tests that need them: the shipped defaults load three.
    overrides.setdefault("detectors", ())
    overrides.setdefault("likeness", LikenessConfig(enabled=False))
    return Config(
        storage_url=overrides.pop("storage_url", f"sqlite:///{tmp_path / 'consentry.db'}"),
        discord=discord_config,
        **overrides,
    )


def shard_of(guild_id: int) -> int:
    """The shard of two that Discord puts ``guild_id`` on."""
    return (guild_id >> 22) % 2


def worlds_on_two_shards(sandbox: Sandbox, world: DemoWorld) -> dict[int, DemoWorld]:
    """``world`` and another demo server, one on each of two shards (by shard)."""
    worlds = {shard_of(world.guild_id): world}
    while len(worlds) < 2:
        other = demo_world(sandbox)
        worlds.setdefault(shard_of(other.guild_id), other)
    return worlds


def on_shard(config: Config, shard: int) -> Config:
    """``config`` for a gateway process running shard ``shard`` of two."""
    return replace(config, discord=replace(config.discord, shard_count=2, shard_ids=(shard,)))


@dataclass
class Harness:
    """A running bot, its engine, the sandbox and the demo world, plus helpers to drive them."""

    sandbox: Sandbox
    world: DemoWorld
    engine: Engine
    bot: ConsentryBot
    _handled: dict[int, asyncio.Future[Incident | None]] = field(default_factory=dict)

    def _future(self, message_id: int) -> asyncio.Future[Incident | None]:
        return self._handled.setdefault(message_id, asyncio.get_running_loop().create_future())

    def observe_watcher(self) -> None:
        """Record each handled message's result so tests can wait for it (no sleeping)."""
        assert self.bot.watcher is not None
        self.bot.watcher.observers.append(self._record)

    def _record(
        self, message: discord.Message, result: Incident | None, error: BaseException | None
    ) -> None:
        future = self._future(message.id)
        if future.done():  # an edit handled after the first pass: start a new wait
            self._handled[message.id] = future = asyncio.get_running_loop().create_future()
        if error is not None:
            future.set_exception(error)  # fail the waiting test at once, with the cause
        else:
            future.set_result(result)

    async def handled(self, message_id: int) -> Incident | None:
        """Wait until the bot has handled ``message_id``; return what it scanned and did."""
        return await asyncio.wait_for(asyncio.shield(self._future(message_id)), HANDLE_TIMEOUT)

    def forget(self, message_id: int) -> None:
        """Drop a handled result, to wait for the next handling of the same message (an edit)."""
        self._handled.pop(message_id, None)

    async def post(
        self, channel_id: int, author_id: int, files: Sequence[tuple[str, bytes]] = (), **kw: Any
    ) -> tuple[dict[str, Any], Incident | None]:
        """Post as a member and wait for the bot to handle the message."""
        message = await self.sandbox.post_message(channel_id, author_id, attachments=files, **kw)
        return message, await self.handled(int(message["id"]))

    async def blocklist(self, data: bytes, *, guild_id: int | None = None) -> list[int]:
        """Add ``data``'s hashes to the blocklist and rebuild the live index; returns entry ids."""
        config = self.engine.config
        hashes = fingerprint(data, config.limits, config.matching.pdq_min_quality).hashes
        entries = [NewEntry(a, v, guild_id, "test", "known fake (test)") for a, v in hashes]
        result = await self.engine.storage.blocklist.add(entries)
        await self.engine.reload_blocklist()
        return [e.id for e in result.added]

    async def configure(self, **settings: Any) -> None:
        """Set server settings as the settings commands would."""
        for key, value in settings.items():
            await self.bot.guild_settings.set(self.world.guild_id, key, value)

    async def click(self, alert: dict[str, Any], action: str, user_id: int) -> str:
        """Click a review button on ``alert`` as ``user_id``; returns the ephemeral reply."""
        custom_id = next(
            c["custom_id"]
            for row in alert["components"]
            for c in row["components"]
            if c["custom_id"].startswith(f"consentry:case:{action}:")
        )
        since = len(self.sandbox.requests)
        interaction = await self.sandbox.click_button(
            self.world.mod_alerts_id, int(alert["id"]), user_id, custom_id
        )
        route = "/interactions/{interaction_id}/{interaction_token}/callback"
        await self.sandbox.wait_for_request("POST", route, since=since, timeout=HANDLE_TIMEOUT)
        first = self.sandbox.interaction_responses(int(interaction["id"]))[0]["json"]
        if first["type"] == 5:  # deferred ("thinking"): the answer is the follow-up
            await self.sandbox.wait_for_request(
                "POST",
                "/webhooks/{webhook_id}/{webhook_token}",
                since=since,
                timeout=HANDLE_TIMEOUT,
                predicate=lambda r: str(interaction["token"]) in r.path,  # not a restore's repost
            )
            responses = self.sandbox.interaction_responses(int(interaction["id"]))
            data = next(r["json"] for r in responses if r["kind"] == "followup")
        else:
            data = first["data"]
        assert data["flags"] & 64  # only the moderator sees it
        return str(data["content"])

    def buttons(self, alert_id: int) -> list[str]:
        """The review actions an alert offers now."""
        alert = self.sandbox.message(self.world.mod_alerts_id, alert_id)
        assert alert is not None
        return [
            c["custom_id"].split(":")[2] for row in alert["components"] for c in row["components"]
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """Messages the bot posted in #mod-alerts."""
        bot_id = str(self.sandbox.bot_user_id)
        return [
            m
            for m in self.sandbox.messages(self.world.mod_alerts_id)
            if m["author"]["id"] == bot_id
        ]


@asynccontextmanager
async def running_bot(
    sandbox: Sandbox,
    world: DemoWorld,
    config: Config,
    evidence_key: EvidenceKey | None = None,
) -> AsyncIterator[Harness]:
    """Start the real bot against ``sandbox``; stop it and release everything afterwards."""
    saved = (
        discord.http.Route.BASE,
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
        discord.asset.Asset.BASE,
    )
    point_at(config.discord)
    try:
        async with open_engine(config) as engine:
            bot = make_bot(engine, evidence_key=evidence_key, guild_ready_timeout=0.05)
            # login() runs setup_hook: the watcher exists before any message can arrive, so the
            # harness sees every one (catch-up included). start() is login() then connect().
            await bot.login(sandbox.token)
            harness = Harness(sandbox, world, engine, bot)
            harness.observe_watcher()
            runner = asyncio.create_task(bot.connect())
            try:
                await asyncio.wait_for(bot.wait_until_ready(), HANDLE_TIMEOUT)
                yield harness
            finally:
                await bot.close()
                await asyncio.wait_for(runner, HANDLE_TIMEOUT)
    finally:
        (
            discord.http.Route.BASE,
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            discord.asset.Asset.BASE,
        ) = saved

"""Fixtures: a running sandbox with the demo world, and a real discord.py client connected to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import discord.asset
import discord.gateway
import discord.http
import pytest
import yarl
from discord import app_commands

from bot.sandbox import DemoWorld, Sandbox

# Short heartbeats keep reconnect tests quick; discord.py heartbeats from a thread.
HEARTBEAT_MS = 1000
CONNECT_TIMEOUT = 5.0


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


class SandboxBot(discord.Client):
    """A plain discord.Client with an app-command tree, as the bot builds one."""

    def __init__(self, intents: discord.Intents) -> None:
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before
        # on_ready (2 s by default); the sandbox sends them all at once.
        super().__init__(intents=intents, guild_ready_timeout=0.05, heartbeat_timeout=10.0)
        self.tree = app_commands.CommandTree(self)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(heartbeat_interval_ms=HEARTBEAT_MS) as running:
        yield running


@pytest.fixture
def world(sandbox: Sandbox) -> DemoWorld:
    return sandbox.demo_world()


@pytest.fixture
def pointed(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> Sandbox:
    """Point discord.py at the sandbox exactly as the bot does."""
    monkeypatch.setattr(discord.http.Route, "BASE", sandbox.api_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(sandbox.gateway_url)
    )
    monkeypatch.setattr(discord.asset.Asset, "BASE", sandbox.cdn_base)
    return sandbox


Starter = Callable[..., Awaitable[SandboxBot]]


@pytest.fixture
async def start_bot(pointed: Sandbox) -> AsyncIterator[Starter]:
    """Start clients (``await start_bot(setup=..., intents=...)``); all are closed afterwards."""
    started: list[tuple[SandboxBot, asyncio.Task[None]]] = []

    async def start(
        *,
        intents: discord.Intents | None = None,
        setup: Callable[[SandboxBot], Any] | None = None,
        token: str | None = None,
        wait: bool = True,
    ) -> SandboxBot:
        client = SandboxBot(intents or default_intents())
        if setup is not None:
            setup(client)
        task = asyncio.create_task(client.start(token or pointed.token))
        started.append((client, task))
        if wait:
            ready = asyncio.create_task(client.wait_until_ready())
            done, _ = await asyncio.wait(
                {ready, task}, timeout=CONNECT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            if ready not in done:
                ready.cancel()
                if task in done:
                    task.result()  # re-raise why the client stopped
                raise TimeoutError("client did not become ready")
        return client

    yield start
    for client, task in started:
        await client.close()
        # A client whose start failed (bad token, 4014) already surfaced that in its test.
        with contextlib.suppress(discord.DiscordException):
            await asyncio.wait_for(task, CONNECT_TIMEOUT)


@pytest.fixture
async def bot(start_bot: Starter, world: DemoWorld) -> SandboxBot:
    """A connected client with default intents plus message content."""
    return await start_bot()


def expect(
    client: discord.Client, event: str, check: Callable[..., bool] | None = None
) -> asyncio.Task[Any]:
    """Start waiting for an event now (before triggering it), with a timeout."""
    return asyncio.ensure_future(client.wait_for(event, check=check, timeout=CONNECT_TIMEOUT))

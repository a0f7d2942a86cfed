"""Fixtures: a sandbox with the demo server, and the real bot connected to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.evidence import EvidenceKey
from bot.sandbox import DemoWorld, Sandbox, demo_world
from tests.e2e.harness import Harness, running_bot, sandbox_config


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(heartbeat_interval_ms=1000) as running:
        yield running


@pytest.fixture
def world(sandbox: Sandbox) -> DemoWorld:
    return demo_world(sandbox)


@pytest.fixture
async def consentry(sandbox: Sandbox, world: DemoWorld, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot, running, in a server whose setup is complete (alerts go to #mod-alerts)."""
    async with running_bot(sandbox, world, sandbox_config(sandbox, tmp_path)) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        yield harness


@pytest.fixture
async def fresh_consentry(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> AsyncIterator[Harness]:
    """The bot, running, in a server that has not finished setup."""
    async with running_bot(sandbox, world, sandbox_config(sandbox, tmp_path)) as harness:
        yield harness


@pytest.fixture
def evidence_key() -> EvidenceKey:
    return EvidenceKey.generate()[0]


@pytest.fixture
async def reviewing(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, evidence_key: EvidenceKey
) -> AsyncIterator[Harness]:
    """The bot, set up (alerts in #mod-alerts), keeping encrypted evidence."""
    config = sandbox_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config, evidence_key) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        yield harness


@pytest.fixture
async def two_servers(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> AsyncIterator[tuple[Harness, DemoWorld]]:
    """The bot in two servers of one instance, both set up."""
    other = demo_world(sandbox)
    async with running_bot(sandbox, world, sandbox_config(sandbox, tmp_path)) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.bot.guild_settings.set(
            other.guild_id, "alert_channel_id", other.mod_alerts_id
        )
        yield harness, other

"""End to end: a scrape of the bot's metrics finds every documented series, and the health and
readiness endpoints answer as documented."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp

from bot.metrics import SERIES, MetricsConfig
from bot.sandbox import DemoWorld, Sandbox
from tests.e2e.harness import running_bot, sandbox_config
from tests.e2e.test_watch import ASTRONAUT, COPY


def free_port() -> int:
    """A local port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_scrape_finds_every_documented_series_and_readiness_follows_catch_up(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    port = free_port()
    config = sandbox_config(sandbox, tmp_path, metrics=MetricsConfig(port=port))
    base = f"http://127.0.0.1:{port}"
    async with running_bot(sandbox, world, config) as harness, aiohttp.ClientSession() as http:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.blocklist(ASTRONAUT)
        sandbox.fail_next("DELETE", "/channels/{channel_id}/messages/{message_id}", 503)
        await harness.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
        async with http.get(f"{base}/healthz") as health:
            assert health.status == 200
        await harness.bot.caught_up.wait()
        async with http.get(f"{base}/readyz") as ready:
            assert ready.status == 200
        async with http.get(f"{base}/metrics") as scrape:
            assert scrape.status == 200
            text = await scrape.text()
    for series in SERIES:
        assert f"# HELP {series} " in text, series
    assert 'consentry_scans_total{action="quarantine",media_type="jpeg"} 1.0' in text
    assert 'consentry_stage_seconds_count{stage="download"}' in text
    assert 'consentry_stage_seconds_count{stage="decode_hashes"}' in text
    assert 'consentry_stage_seconds_count{stage="model:blocklist"}' in text
    assert 'consentry_stage_seconds_count{stage="discord:delete"}' in text
    assert 'consentry_discord_errors_total{status="503"} 1.0' in text
    assert 'consentry_cases_total{event="opened",value="quarantine"} 1.0' in text
    assert 'consentry_retries_total{effect="effects"} 1.0' in text

"""End to end: operators choose the features a process loads, add their own extension that
hears typed case events, and forward those events to an HTTPS webhook with retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.case_events import CaseOpened, EffectDone
from bot.features import BotConfig
from bot.feeds.limits import FeedLimits
from bot.sandbox import DemoWorld, Sandbox
from tests.e2e import sample_extension
from tests.e2e.harness import running_bot, sandbox_config
from tests.e2e.test_watch import ASTRONAUT, COPY
from tests.feed_server import serve_tls


async def _until(check: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("still not true")


async def test_only_the_chosen_features_are_loaded_and_an_extension_hears_case_events(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    sample_extension.HEARD.clear()
    features = BotConfig(cogs=("blocklist",), extensions=("tests.e2e.sample_extension",))
    config = sandbox_config(sandbox, tmp_path, bot=features)
    async with running_bot(sandbox, world, config) as harness:
        [sync] = sandbox.find_requests("PUT", "/applications/{application_id}/commands")
        names = {c["name"] for c in sync.json}
        assert {"blocklist", "consentry"} <= names  # chosen, and required
        assert not names & {"sweep", "feeds", "campaign", "sharing"}
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.blocklist(ASTRONAUT)
        _, incident = await harness.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
        assert incident is not None and incident.case_id is not None
        await _until(lambda: len(sample_extension.HEARD) >= 3)
        heard = sample_extension.HEARD
        assert isinstance(heard[0], CaseOpened) and heard[0].case.id == incident.case_id
        assert {e.effect for e in heard if isinstance(e, EffectDone)} == {"delete", "alert"}


async def test_an_extension_that_cannot_be_loaded_stops_the_start_and_says_which(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = sandbox_config(sandbox, tmp_path, bot=BotConfig(extensions=("no.such.module",)))
    with pytest.raises(Exception, match=r"\[bot\] extensions: no.such.module could not be loaded"):
        async with running_bot(sandbox, world, config):
            pass


def test_an_unknown_feature_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cogs: unknown sweeps"):
        BotConfig(cogs=("sweeps",))


@pytest.fixture
async def ticket_system(tmp_path: Path) -> AsyncIterator[tuple[list[dict[str, Any]], int, Path]]:
    """A moderation team's HTTPS endpoint: it refuses the first delivery with a 503."""
    received: list[dict[str, Any]] = []
    answers = [503]

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        if answers:
            return web.Response(status=answers.pop())
        received.append(body)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve_tls(app, tmp_path) as (port, ca_file):
        yield received, port, ca_file


async def test_case_events_are_forwarded_to_a_webhook_with_retries_and_no_media(
    sandbox: Sandbox,
    world: DemoWorld,
    tmp_path: Path,
    ticket_system: tuple[list[dict[str, Any]], int, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot import forwarding

    monkeypatch.setattr(forwarding, "FIRST_RETRY_SECONDS", 0.05)
    received, port, ca_file = ticket_system
    feeds = FeedLimits(allowed_hosts=(f"127.0.0.1:{port}",), ca_file=str(ca_file))
    features = BotConfig(webhook_url=f"https://127.0.0.1:{port}/hook")
    config = replace(sandbox_config(sandbox, tmp_path, bot=features), feeds=feeds)
    async with running_bot(sandbox, world, config) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.blocklist(ASTRONAUT)
        _, incident = await harness.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
        assert incident is not None
        await _until(lambda: len(received) >= 3)
    events = [(r["event"], r.get("effect")) for r in received]
    assert events[0] == ("case.opened", None)  # delivered on its second try
    assert ("effect.done", "delete") in events and ("effect.done", "alert") in events
    case = received[0]["case"]
    assert case["id"] == incident.case_id and case["author_id"] == str(world.member_ids[0])
    assert all(len(json.dumps(r)) < 2000 for r in received)  # hashes and ids, never media

"""The wire protocol without discord.py: close codes, opcodes, compression, REST conventions."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox import DemoWorld, Sandbox
from bot.sandbox.intents import GUILD_MEMBERS, GUILDS


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    decoded: dict[str, Any] = json.loads(message.data)
    return decoded


async def connect(http: aiohttp.ClientSession, sandbox: Sandbox) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{sandbox.gateway_url}?v=10&encoding=json")
    hello = await receive(ws)
    assert hello["op"] == 10
    assert hello["d"]["heartbeat_interval"] == sandbox.config.heartbeat_interval_ms
    return ws


async def identify(ws: aiohttp.ClientWebSocketResponse, token: str, intents: int) -> None:
    payload = {"token": token, "intents": intents, "properties": {}}
    await ws.send_json({"op": 2, "d": payload})


async def test_heartbeat_identify_and_ready_in_plain_text(
    http: aiohttp.ClientSession, sandbox: Sandbox, world: DemoWorld
) -> None:
    ws = await connect(http, sandbox)
    await ws.send_json({"op": 1, "d": None})
    assert (await receive(ws))["op"] == 11
    await identify(ws, sandbox.token, GUILDS | GUILD_MEMBERS)
    ready = await receive(ws)
    assert (ready["t"], ready["s"]) == ("READY", 1)
    assert ready["d"]["guilds"] == [{"id": str(world.guild_id), "unavailable": True}]
    assert ready["d"]["resume_gateway_url"].endswith("/resume")
    guild = await receive(ws)
    assert (guild["t"], guild["s"]) == ("GUILD_CREATE", 2)
    assert guild["d"]["member_count"] == len(guild["d"]["members"]) == 8
    await ws.send_json(
        {"op": 8, "d": {"guild_id": str(world.guild_id), "query": "ri", "limit": 0, "nonce": "n"}}
    )
    chunk = await receive(ws)
    assert chunk["t"] == "GUILD_MEMBERS_CHUNK" and chunk["d"]["nonce"] == "n"
    assert [m["user"]["username"] for m in chunk["d"]["members"]] == ["riley"]
    await ws.close()


async def test_zlib_stream_uses_one_context_flushed_per_message(
    http: aiohttp.ClientSession, sandbox: Sandbox, world: DemoWorld
) -> None:
    ws = await http.ws_connect(f"{sandbox.gateway_url}?v=10&encoding=json&compress=zlib-stream")
    inflate = zlib.decompressobj()
    first = await ws.receive(timeout=5)
    assert first.type is aiohttp.WSMsgType.BINARY and first.data.endswith(b"\x00\x00\xff\xff")
    assert json.loads(inflate.decompress(first.data))["op"] == 10
    await ws.send_json({"op": 1, "d": None})
    second = await ws.receive(timeout=5)
    assert json.loads(inflate.decompress(second.data))["op"] == 11  # same stream continues
    await ws.close()


@pytest.mark.parametrize(
    ("query", "code"),
    [("v=9&encoding=json", 4012), ("v=10&encoding=etf", 4002), ("v=10&compress=zstd-stream", 4012)],
)
async def test_unsupported_connection_parameters_close(
    http: aiohttp.ClientSession, sandbox: Sandbox, query: str, code: int
) -> None:
    if "zstd" in query and importlib.util.find_spec("zstandard") is not None:
        pytest.skip("zstandard is installed, so zstd-stream is supported")
    ws = await http.ws_connect(f"{sandbox.gateway_url}?{query}")
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == code


@pytest.mark.parametrize(
    ("token_ok", "intents", "code"),
    [(False, GUILDS, 4004), (True, 1 << 40, 4013)],
    ids=["bad-token", "bad-intents"],
)
async def test_identify_failures_close_with_discords_codes(
    http: aiohttp.ClientSession, sandbox: Sandbox, token_ok: bool, intents: int, code: int
) -> None:
    ws = await connect(http, sandbox)
    await identify(ws, sandbox.token if token_ok else "nope", intents)
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == code


async def test_resuming_an_unknown_session_is_an_invalid_session(
    http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    ws = await connect(http, sandbox)
    await ws.send_json({"op": 6, "d": {"token": sandbox.token, "session_id": "x", "seq": 3}})
    assert await receive(ws) == {"op": 9, "d": False, "s": None, "t": None}
    await ws.close()
    assert sandbox.gateway_stats.invalid_sessions == 1


async def test_rest_answers_like_discord(
    http: aiohttp.ClientSession, sandbox: Sandbox, world: DemoWorld
) -> None:
    bot_auth = {"Authorization": f"Bot {sandbox.token}"}
    async with http.get(f"{sandbox.api_base}/channels/{world.general_id}") as response:
        assert response.status == 401
        assert await response.json() == {"message": "401: Unauthorized", "code": 0}
    async with http.get(f"{sandbox.api_base}/nowhere", headers=bot_auth) as response:
        assert response.status == 404 and (await response.json())["code"] == 0
    async with http.get(
        f"{sandbox.api_base}/channels/{world.general_id}", headers=bot_auth
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert int(response.headers["X-RateLimit-Remaining"]) < int(
            response.headers["X-RateLimit-Limit"]
        )
        assert (await response.json())["name"] == "general"
    async with http.get(
        f"{sandbox.api_base}/channels/12345/messages/1", headers=bot_auth
    ) as response:
        assert response.status == 404 and await response.json() == {
            "message": "Unknown Channel",
            "code": 10003,
        }
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(
        "payload_json",
        json.dumps({"content": "evidence", "attachments": [{"id": 0, "description": "blurred"}]}),
    )
    form.add_field(
        "files[0]",
        b"GIF89a\x02\x00\x02\x00",
        filename="x.gif",
        content_type="application/octet-stream",
    )
    url = f"{sandbox.api_base}/channels/{world.mod_alerts_id}/messages"
    async with http.post(url, data=form, headers=bot_auth) as response:
        sent = await response.json()
    attachment = sent["attachments"][0]
    assert (attachment["content_type"], attachment["width"], attachment["description"]) == (
        "image/gif",
        2,
        "blurred",
    )
    recorded = sandbox.find_requests("POST", "/channels/{channel_id}/messages")[0]
    assert recorded.json["content"] == "evidence" and recorded.files[0].data.startswith(b"GIF89a")
    async with http.post(url, json={"content": ""}, headers=bot_auth) as response:
        assert response.status == 400 and (await response.json())["code"] == 50006


def test_the_sandbox_never_imports_discord() -> None:
    """It speaks the protocol; importing discord.py would let shortcuts creep in."""
    code = (
        "import importlib, pkgutil, sys, bot.sandbox\n"
        "for m in pkgutil.walk_packages(bot.sandbox.__path__, 'bot.sandbox.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert not [n for n in sys.modules if n.split('.')[0] == 'discord'], 'discord imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

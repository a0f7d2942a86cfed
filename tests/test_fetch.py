"""Downloading media: allowed hosts only, size-capped, with a timeout, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.runtime.fetch import FetchError, MediaFetcher

BODY = b"x" * 5000


@pytest.fixture
async def cdn() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="image/png")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: the cap must hold while streaming
        await response.prepare(request)
        for _ in range(10):
            await response.write(BODY)
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(body=BODY)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://elsewhere.example/x.png")

    app = web.Application()
    routes = {"/ok.png": ok, "/big.png": chunked, "/slow.png": slow, "/moved.png": moved}
    app.add_routes([web.get(path, handler) for path, handler in routes.items()])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _fetcher(session: aiohttp.ClientSession, host: str, **kw: float) -> MediaFetcher:
    options = {"max_bytes": 20_000, "timeout_seconds": 2.0, **kw}
    return MediaFetcher(session, allowed_hosts=[host], **options)  # type: ignore[arg-type]


async def test_media_on_an_allowed_host_is_downloaded(cdn: str, session) -> None:
    assert await _fetcher(session, cdn).fetch(f"http://{cdn}/ok.png") == BODY


@pytest.mark.parametrize(
    "url",
    ["http://evil.example/ok.png", "file:///etc/passwd", "ftp://127.0.0.1/x", "not a url"],
)
async def test_other_hosts_and_schemes_are_refused_without_a_request(
    cdn: str, session, url: str
) -> None:
    with pytest.raises(FetchError) as caught:
        await _fetcher(session, cdn).fetch(url)
    assert caught.value.code == "host_not_allowed"


async def test_a_body_over_the_limit_is_abandoned(cdn: str, session) -> None:
    with pytest.raises(FetchError, match="over the") as caught:
        await _fetcher(session, cdn, max_bytes=4000).fetch(f"http://{cdn}/ok.png")
    assert caught.value.code == "too_large"
    with pytest.raises(FetchError) as streamed:
        await _fetcher(session, cdn).fetch(f"http://{cdn}/big.png")
    assert streamed.value.code == "too_large"


async def test_a_slow_server_times_out(cdn: str, session) -> None:
    with pytest.raises(FetchError) as caught:
        await _fetcher(session, cdn, timeout_seconds=0.2).fetch(f"http://{cdn}/slow.png")
    assert caught.value.code == "timeout"


async def test_redirects_and_errors_are_not_followed(cdn: str, session) -> None:
    for path, status in (("moved.png", "302"), ("missing.png", "404")):
        with pytest.raises(FetchError, match=status):
            await _fetcher(session, cdn).fetch(f"http://{cdn}/{path}")


@pytest.fixture
async def drip() -> AsyncIterator[str]:
    """A host that sends a few bytes, then a byte a second: a slow-drip download."""

    async def dripping(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"x" * 100)
        for _ in range(60):
            await asyncio.sleep(1)
            await response.write(b"x")
        return response

    app = web.Application()
    app.add_routes([web.get("/drip.png", dripping)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_a_slow_drip_is_cut_off_at_the_minimum_rate_long_before_the_deadline(
    drip: str, session: aiohttp.ClientSession
) -> None:
    fetcher = _fetcher(session, drip, timeout_seconds=30.0, min_bytes_per_second=1024)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(f"http://{drip}/drip.png")
    assert caught.value.code == "too_slow" and "slower than 1 KiB/s" in caught.value.message
    # 2 s of grace, then 100 bytes at 1 KiB/s last another 0.1 s: far from the 30 s deadline.
    assert loop.time() - started < 5


async def test_without_a_minimum_rate_only_the_deadline_applies(
    drip: str, session: aiohttp.ClientSession
) -> None:
    fetcher = _fetcher(session, drip, timeout_seconds=1.0)
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(f"http://{drip}/drip.png")
    assert caught.value.code == "timeout"

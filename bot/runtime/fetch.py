"""Downloading media from Discord's CDN: allow-listed hosts only, streamed under a size cap."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import aiohttp
import yarl

_CHUNK = 64 * 1024
RATE_GRACE_SECONDS = 2.0
"""How long a download may take to get going before the minimum rate applies."""


class FetchError(Exception):
    """Media could not be downloaded; ``message`` is fit to show a moderator."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MediaFetcher:
    """Fetches media bytes from allowed hosts only.

    Redirects are not followed: a redirect could lead off the allow-list (and media URLs in
    Discord payloads never redirect). A body larger than ``max_bytes`` is abandoned as soon as it
    is known, from Content-Length or while streaming. Each download has a total deadline
    (``timeout_seconds``) and, after :data:`RATE_GRACE_SECONDS`, a minimum average rate
    (``min_bytes_per_second``): a host that drips bytes is cut off in seconds, so a handful of
    slow downloads cannot hold every download slot and queue worker for the whole deadline.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        allowed_hosts: Iterable[str],
        max_bytes: int,
        timeout_seconds: float,
        min_bytes_per_second: float = 0.0,
    ) -> None:
        self._session = session
        self._allowed = frozenset(h.lower() for h in allowed_hosts)
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._min_rate = min_bytes_per_second

    def allowed(self, url: str) -> bool:
        """Whether ``url`` is an http(s) URL on an allowed host (``host`` or ``host:port``)."""
        try:
            parsed = yarl.URL(url)
        except (ValueError, TypeError):
            return False
        if parsed.scheme not in ("http", "https") or not parsed.host:
            return False
        host = parsed.host.lower()
        return host in self._allowed or f"{host}:{parsed.port}" in self._allowed

    async def fetch(self, url: str) -> bytes:
        """The bytes at ``url``, or FetchError saying why not."""
        if not self.allowed(url):
            raise FetchError("host_not_allowed", "media is not on an allowed host")
        try:
            async with self._session.get(url, allow_redirects=False, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise FetchError("http_error", f"download failed: HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > self._max_bytes:
                    raise FetchError("too_large", self._too_large(resp.content_length))
                return await self._read(resp)
        except TimeoutError:
            raise FetchError("timeout", "download timed out") from None
        except aiohttp.ClientError as exc:
            raise FetchError("network", f"download failed: {type(exc).__name__}") from exc

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        loop = asyncio.get_running_loop()
        start = loop.time()
        body = bytearray()
        while True:
            # The moment the average rate would fall below the minimum with the bytes so far.
            short_at = (
                start + RATE_GRACE_SECONDS + len(body) / self._min_rate if self._min_rate else None
            )
            try:
                async with asyncio.timeout_at(short_at):
                    chunk = await resp.content.read(_CHUNK)
            except TimeoutError:
                if short_at is not None and loop.time() >= short_at:
                    rate = self._min_rate / 1024
                    raise FetchError(
                        "too_slow", f"download slower than {rate:.0f} KiB/s: abandoned"
                    ) from None
                raise
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > self._max_bytes:
                raise FetchError("too_large", self._too_large(None))

    def _too_large(self, size: int | None) -> str:
        limit = f"{self._max_bytes / (1024 * 1024):.0f} MiB"
        return f"file is over the {limit} limit" + (f" ({size:,} bytes)" if size else "")

"""Fetching a hash list over HTTPS: conditional, bounded in size and time, never redirected."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import aiohttp

from bot.feeds.limits import FeedLimits


class FetchFailed(Exception):
    """The feed could not be fetched; the message says why, for the subscriber."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A new copy of a feed (None from :meth:`FeedFetcher.get` means: not modified)."""

    text: str
    etag: str
    last_modified: str


class FeedFetcher:
    """GETs feeds with ``If-None-Match`` / ``If-Modified-Since`` within :class:`FeedLimits`."""

    def __init__(self, session: aiohttp.ClientSession, limits: FeedLimits) -> None:
        self.session = session
        self.limits = limits
        self.ssl_context = ssl.create_default_context()
        if limits.ca_file:
            self.ssl_context.load_verify_locations(cafile=limits.ca_file)

    async def get(self, url: str, *, etag: str = "", last_modified: str = "") -> Fetched | None:
        """The feed's text, or None if it has not changed since ``etag`` / ``last_modified``."""
        refused = self.limits.refuses(url)
        if refused is not None:
            raise FetchFailed(refused)
        headers = {"Accept": "application/json, text/csv, text/plain;q=0.9"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                return await self._get(url, headers)
        except TimeoutError:
            raise FetchFailed(
                f"no complete answer within {self.limits.timeout_seconds:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise FetchFailed(
                f"the host could not be reached ({exc or type(exc).__name__})"
            ) from None

    async def _get(self, url: str, headers: dict[str, str]) -> Fetched | None:
        async with self.session.get(
            url, headers=headers, ssl=self.ssl_context, allow_redirects=False
        ) as response:
            if response.status == 304:
                return None
            if 300 <= response.status < 400:
                where = response.headers.get("Location", "?")
                raise FetchFailed(f"redirected to {where}: redirects are not followed")
            if response.status != 200:
                raise FetchFailed(f"the host answered HTTP {response.status}")
            cap = self.limits.max_bytes
            if (response.content_length or 0) > cap:
                size = response.content_length or 0
                raise FetchFailed(f"the feed is over the {cap:,}-byte limit ({size:,} bytes)")
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > cap:
                    raise FetchFailed(f"the feed is over the {cap:,}-byte limit")
            try:
                text = body.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise FetchFailed("the feed is not UTF-8 text") from None
            return Fetched(
                text, response.headers.get("ETag", ""), response.headers.get("Last-Modified", "")
            )

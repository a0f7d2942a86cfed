"""Downloading media from Discord's CDN: allow-listed hosts only, streamed under a size cap."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
import yarl

_CHUNK = 64 * 1024


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
    is known, from Content-Length or while streaming.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        allowed_hosts: Iterable[str],
        max_bytes: int,
        timeout_seconds: float,
    ) -> None:
        self._session = session
        self._allowed = frozenset(h.lower() for h in allowed_hosts)
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

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
                body = bytearray()
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise FetchError("too_large", self._too_large(None))
                return bytes(body)
        except TimeoutError:
            raise FetchError("timeout", "download timed out") from None
        except aiohttp.ClientError as exc:
            raise FetchError("network", f"download failed: {type(exc).__name__}") from exc

    def _too_large(self, size: int | None) -> str:
        limit = f"{self._max_bytes / (1024 * 1024):.0f} MiB"
        return f"file is over the {limit} limit" + (f" ({size:,} bytes)" if size else "")

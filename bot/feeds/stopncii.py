"""A client for a StopNCII-style hash API: paged delta fetches from a checkpoint.

``GET {base}/FetchHashes?startTimestamp=T&pageSize=N[&nextPageToken=X]`` with the headers
``x-functions-key`` and ``Ocp-Apim-Subscription-Key`` answers ``{"count", "hashRecords",
"nextPageToken", "nextSetTimestamp", "hasMoreRecords"}``. Every record is the hash's current
state, so applying one again changes nothing: a fetch cut short is simply fetched again.

Each page's ``nextSetTimestamp`` becomes the checkpoint once the page is applied. Bad records
on a page are skipped and reported, and the fetching goes on. A page that cannot be read at all
(not JSON, no records) is tried again at the next refresh; after :data:`SKIP_AFTER` failures in
a row at the same checkpoint, the checkpoint moves one second on, past the records last
modified at that instant, so one unreadable page cannot stall the fetching for good.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.core.exchange_formats import stopncii_records
from bot.core.hash_lists import Collector, ParsedFile
from bot.feeds.fetch import FeedFetcher, FetchFailed

KEYS_ENV = "CONSENTRY_STOPNCII_KEYS"
"""Where the API keys are: ``function_key,subscription_key`` (never in the config file)."""
API_FORMAT = "stopncii-api"
"""The format of a subscription to such an API (its URL is the API's base, e.g. ``.../v1``)."""
DEFAULT_START = 10
"""The first fetch's start timestamp (the API's own default)."""
PAGE_SIZE = 800
MAX_PAGES = 100
"""Pages fetched per refresh at most; the rest follow at the next one (the feed stays due)."""
SKIP_AFTER = 3


class PageUnreadable(Exception):
    """The API answered, but not with a page of records."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page, read into a subscription's entries and removals."""

    parsed: ParsedFile
    next_token: str
    next_checkpoint: int
    has_more: bool


def api_keys() -> tuple[str, str] | None:
    """The function key and subscription key from :data:`KEYS_ENV`, if set."""
    function_key, _, subscription_key = os.environ.get(KEYS_ENV, "").strip().partition(",")
    if not function_key or not subscription_key:
        return None
    return function_key.strip(), subscription_key.strip()


class StopNCIIClient:
    """Fetches pages within the fetcher's limits (allowed hosts, size, time) and TLS trust."""

    def __init__(self, fetcher: FeedFetcher, keys: tuple[str, str]) -> None:
        self._fetcher = fetcher
        self.limits = fetcher.limits
        self._headers = {"x-functions-key": keys[0], "Ocp-Apim-Subscription-Key": keys[1]}

    async def page(self, base: str, start: int, token: str, out: Collector) -> Page:
        """The page after ``start`` (``token`` continues a fetch), read into ``out``."""
        url = f"{base.rstrip('/')}/FetchHashes"
        refused = self.limits.refuses(url)
        if refused is not None:
            raise FetchFailed(refused)
        params: dict[str, str | int] = {"startTimestamp": start, "pageSize": PAGE_SIZE}
        if token:
            params["nextPageToken"] = token
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                body = await self._get(url, params)
        except TimeoutError:
            raise FetchFailed(f"no answer within {self.limits.timeout_seconds:g} s") from None
        except (aiohttp.ClientError, ssl.SSLError) as exc:
            raise FetchFailed(
                f"the API could not be reached ({exc or type(exc).__name__})"
            ) from None
        return _read(body, out)

    async def _get(self, url: str, params: dict[str, str | int]) -> bytes:
        async with self._fetcher.session.get(
            url,
            params=params,
            headers=self._headers,
            ssl=self._fetcher.ssl_context,
            allow_redirects=False,
        ) as response:
            if response.status in (401, 403):
                raise FetchFailed(f"the API refused the keys (HTTP {response.status})")
            if response.status != 200:
                raise FetchFailed(f"the API answered HTTP {response.status}")
            body = await response.content.read(self.limits.max_bytes + 1)
            if len(body) > self.limits.max_bytes:
                raise FetchFailed(f"a page is over the {self.limits.max_bytes:,}-byte limit")
            return body


def _read(body: bytes, out: Collector) -> Page:
    try:
        document: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PageUnreadable(f"the page is not JSON ({exc})") from None
    records = document.get("hashRecords") if isinstance(document, dict) else None
    checkpoint = document.get("nextSetTimestamp") if isinstance(document, dict) else None
    if not isinstance(records, list) or not isinstance(checkpoint, int):
        raise PageUnreadable("the page has no hashRecords list or nextSetTimestamp")
    stopncii_records([(f"record {i}", r) for i, r in enumerate(records, start=1)], out)
    token = document.get("nextPageToken")
    more = bool(document.get("hasMoreRecords")) and isinstance(token, str) and bool(token)
    return Page(out.result(), token if isinstance(token, str) else "", checkpoint, more)

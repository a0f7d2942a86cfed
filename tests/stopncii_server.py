"""A local imitation of a StopNCII-style hash API over real HTTPS: FetchHashes pages records
modified since a start timestamp, with opaque page tokens, and checks both API keys. It can be
told to put a malformed record on a page, or to answer with something that is not a page."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.feeds.limits import FeedLimits
from tests.feed_server import serve_tls

FUNCTION_KEY, SUBSCRIPTION_KEY = "fn-key", "sub-key"


@dataclass
class HashApi:
    """The API's records and knobs, and the requests it saw."""

    records: list[dict[str, Any]] = field(default_factory=list)
    malformed_offsets: set[int] = field(default_factory=set)
    """Pages starting at these offsets carry one broken record besides the good ones."""
    garbage_from: set[int] = field(default_factory=set)
    """A fetch starting at these timestamps (its first page) gets a body that is not JSON."""
    port: int = 0
    ca_file: Path = Path()
    requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}/v1"

    def limits(self) -> FeedLimits:
        return FeedLimits(allowed_hosts=(f"127.0.0.1:{self.port}",), ca_file=str(self.ca_file))

    def record(self, pdq: str, status: str, at: int, cases: dict[str, str] | None = None) -> None:
        """Set the current state of one hash (replacing an earlier state of it)."""
        self.records = [r for r in self.records if r["hashValue"] != pdq]
        self.records.append(
            {
                "lastModtimestamp": at,
                "signalType": "ImagePDQ",
                "hashValue": pdq,
                "hashStatus": status,
                "caseNumbers": cases or {},
                "CSPFeedbacks": [],
            }
        )

    async def fetch(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        if (
            request.headers.get("x-functions-key") != FUNCTION_KEY
            or request.headers.get("Ocp-Apim-Subscription-Key") != SUBSCRIPTION_KEY
        ):
            return web.Response(status=401, text="Access denied due to invalid key")
        start = int(request.query.get("startTimestamp", "10"))
        size = int(request.query.get("pageSize", "800"))
        token = request.query.get("nextPageToken", "")
        offset = 0
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token))
                offset, start = int(state["o"]), int(state["s"])
            except (ValueError, KeyError):
                return web.Response(status=400, text="bad nextPageToken")
        elif start in self.garbage_from:
            return web.Response(text="<html>upstream timeout</html>", content_type="text/html")
        chosen = sorted(
            (r for r in self.records if r["lastModtimestamp"] >= start),
            key=lambda r: (r["lastModtimestamp"], r["hashValue"]),
        )
        page = chosen[offset : offset + size]
        more = offset + size < len(chosen)
        body: dict[str, Any] = {
            "count": len(page),
            "hashRecords": list(page),
            "hasMoreRecords": more,
            "nextPageToken": _token(offset + size, start) if more else "",
            "nextSetTimestamp": page[-1]["lastModtimestamp"] if page else start,
        }
        if offset in self.malformed_offsets:
            body["hashRecords"].append({"signalType": "ImagePDQ", "hashStatus": "Active"})
        return web.json_response(body)


def _token(offset: int, start: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "s": start}).encode()).decode()


@asynccontextmanager
async def hash_api(folder: Path) -> AsyncIterator[HashApi]:
    """A running :class:`HashApi` on a free local port."""
    api = HashApi()
    app = web.Application()
    app.router.add_get("/v1/FetchHashes", api.fetch)
    async with serve_tls(app, folder) as (api.port, api.ca_file):
        yield api

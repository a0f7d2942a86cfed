"""The REST API: parsing, authentication, recording, rate-limit headers and failure injection.

Route handlers live in the ``routes_*`` modules; this module wraps each of them so that every
request, known route or not, is recorded with what the sandbox answered.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from bot.sandbox import errors
from bot.sandbox.context import Context
from bot.sandbox.recorder import Failure, RecordedRequest, UploadedFile
from bot.sandbox.routing import Call, RouteSpec

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
_SPEC_KEY = web.AppKey("sandbox_route_specs", dict)


class Buckets:
    """Fixed-window rate-limit buckets per route template and major parameter.

    The headers are real: discord.py reads them and slows down before a bucket runs dry, and a
    client that ignores them gets a genuine 429.
    """

    def __init__(self, limit: int = 50, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._state: dict[str, tuple[float, int]] = {}

    def take(self, template: str, major: str) -> tuple[dict[str, str], float | None]:
        """Headers for one more request, and the wait if the bucket is exhausted."""
        key = f"{template}:{major}"
        now = time.time()
        if len(self._state) > 10_000:  # forget finished windows so the table stays small
            self._state = {k: v for k, v in self._state.items() if now - v[0] < self.window}
        started, used = self._state.get(key, (now, 0))
        if now - started >= self.window:
            started, used = now, 0
        reset_after = max(0.0, started + self.window - now)
        bucket = hashlib.sha1(template.encode()).hexdigest()[:32]
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Reset": f"{started + self.window:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
        if used >= self.limit:
            headers["X-RateLimit-Remaining"] = "0"
            return headers, reset_after
        self._state[key] = (started, used + 1)
        headers["X-RateLimit-Remaining"] = str(self.limit - used - 1)
        return headers, None


def build_app(ctx: Context, specs: Iterable[RouteSpec], buckets: Buckets) -> web.Application:
    """An aiohttp application serving ``specs`` under ``/api/v10``."""

    @web.middleware
    async def discordify(request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)  # type: ignore[no-any-return]
        return await _serve(ctx, request, buckets)

    app = web.Application(middlewares=[discordify], client_max_size=256 * 1024 * 1024)
    table: dict[tuple[str, str], RouteSpec] = {}
    for spec in specs:
        table[(spec.method, spec.template)] = spec
        app.router.add_route(spec.method, API_PREFIX + spec.template, _unreachable)
    app[_SPEC_KEY] = table
    return app


async def _unreachable(request: web.Request) -> web.StreamResponse:
    raise AssertionError("the middleware answers every API route")


async def _serve(ctx: Context, request: web.Request, buckets: Buckets) -> web.StreamResponse:
    path = (
        request.path.removeprefix(API_PREFIX)
        if request.path.startswith(API_PREFIX)
        else (request.path)
    )
    match = request.match_info
    resource = match.route.resource if match.http_exception is None else None
    template = resource.canonical.removeprefix(API_PREFIX) if resource is not None else path
    spec = request.app[_SPEC_KEY].get((request.method, template)) if resource else None
    headers = dict(request.headers)
    reason = headers.get("X-Audit-Log-Reason")
    record = RecordedRequest(
        method=request.method,
        path=path,
        route=template,
        params=dict(match),
        query=dict(request.query),
        headers=headers,
        reason=unquote(reason) if reason is not None else None,
        json=None,
        files=[],
        time=time.time(),
    )
    extra: dict[str, str] = {}
    try:
        record.json, record.files = await _parse_body(request)
        if sum(len(f.data) for f in record.files) > ctx.config.upload_limit:
            raise errors.too_large()
        if spec is None:
            raise (
                errors.method_not_allowed()
                if match.http_exception is not None and (match.http_exception.status == 405)
                else errors.not_found_route()
            )
        # Webhook-token routes need no bot token, but a wrong one given is still refused.
        checked = spec.auth == "bot" or (spec.auth == "optional" and "Authorization" in headers)
        if checked and headers.get("Authorization") != f"Bot {ctx.world.application.token}":
            raise errors.unauthorized()
        major = "+".join(
            record.params[k]
            for k in ("channel_id", "guild_id", "webhook_id", "webhook_token")
            if k in record.params
        )
        extra, wait = buckets.take(template, major)
        failure = ctx.failures.take(request.method, template, path)
        record.injected = failure is not None
        if failure is None and wait is not None:
            failure = Failure(None, template, 429, 1, retry_after=wait)  # a real rate limit
        if failure is not None:
            status, body, more = _failure_response(failure)
            extra.update(more)
        else:
            call = Call(
                ctx=ctx,
                method=request.method,
                route=template,
                params=record.params,
                query=record.query,
                headers=headers,
                json=record.json,
                files=record.files,
                reason=record.reason,
            )
            status, body = await spec.handler(call)
    except errors.DiscordError as exc:
        status, body = exc.status, exc.body()
    except Exception as exc:  # a sandbox bug: answer like Discord's own 500s, but say so
        log.exception("sandbox handler failed for %s %s", request.method, path)
        status, body = (
            500,
            {"message": f"500: Internal Server Error (sandbox bug: {exc!r})", "code": 0},
        )
    # A copy: handlers return live objects (a stored message) that later edits change.
    record.status, record.response = status, copy.deepcopy(body)
    ctx.log.add(record)
    extra["Via"] = "1.1 google"  # discord.py treats a 429 without Via as a Cloudflare ban
    if body is None:
        return web.Response(status=status, headers=extra)
    # Exactly "application/json", no charset: discord.py compares the header verbatim and
    # treats anything else as text.
    extra["Content-Type"] = "application/json"
    return web.Response(status=status, body=_dumps(body).encode(), headers=extra)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def _parse_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    if not request.can_read_body:
        return None, []
    kind = request.content_type
    if kind.startswith("multipart/"):
        return await _parse_multipart(request)
    raw = await request.read()
    if not raw:
        return None, []
    if kind == "application/json":
        try:
            return json.loads(raw), []
        except ValueError:
            raise errors.bad_request(50109, "The request body contains invalid JSON.") from None
    if kind == "application/x-www-form-urlencoded":
        form = await request.post()
        return {k: str(v) for k, v in form.items()}, []
    return None, []


async def _parse_multipart(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    reader = await request.multipart()
    payload: Any = None
    fields: dict[str, str] = {}
    files: list[UploadedFile] = []
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        data = await part.read(decode=False)
        if part.filename is not None:
            kind = part.headers.get("Content-Type", "application/octet-stream")
            files.append(UploadedFile(name, part.filename, kind, bytes(data)))
        elif name == "payload_json":
            try:
                payload = json.loads(bytes(data))
            except ValueError:
                raise errors.bad_request(50109, "The request body contains invalid JSON.") from None
        else:
            fields[name] = bytes(data).decode(errors="replace")
    if payload is None and fields:
        payload = fields
    return payload, files


def _failure_response(failure: Failure) -> tuple[int, Any, dict[str, str]]:
    if failure.status == 429:
        body: dict[str, Any] = {
            "message": failure.message or "You are being rate limited.",
            "retry_after": failure.retry_after,
            "global": failure.global_,
        }
        if failure.code is not None:
            body["code"] = failure.code
        headers = {
            "Retry-After": str(max(1, math.ceil(failure.retry_after))),
            "X-RateLimit-Scope": "global" if failure.global_ else "user",
        }
        if failure.global_:
            headers["X-RateLimit-Global"] = "true"
        return 429, body, headers
    code = failure.code if failure.code is not None else 0
    names = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    message = failure.message or f"{failure.status}: {names.get(failure.status, 'Error')}"
    return failure.status, {"message": message, "code": code}, {}

"""Prometheus metrics, and the health and readiness endpoints, of one bot process.

Served on ``[metrics] port`` (0, the default: off) at ``[metrics] host`` (127.0.0.1): ``/metrics``
in Prometheus' text format, ``/healthz`` (200 while the event loop answers) and ``/readyz`` (200
once the process is connected and caught up, 503 before). Every series is listed in
:data:`SERIES` and in the README.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

SERIES = {
    "consentry_scans_total": "media scanned, by media type and verdict action",
    "consentry_stage_seconds": "time per stage: download, decode_hashes, each model "
    "(model:<name>), faces, policy, and each Discord action (discord:delete, discord:alert...)",
    "consentry_queue_depth": "messages waiting in the scan queue",
    "consentry_queue_drops_total": "messages the full scan queue turned away (each is scanned "
    "later from its work record)",
    "consentry_work_records": "unfinished and given-up work records by state (scan, act, failed)",
    "consentry_work_held": "unfinished work records held under a lease (by the process that "
    "took them) or waiting to be retried, in the whole database",
    "consentry_processes": "processes beating on this database, by role (gateway, worker)",
    "consentry_retries_total": "effects tried again after a passing fault, by effect",
    "consentry_discord_errors_total": "Discord API errors met by actions, by HTTP status",
    "consentry_cases_total": "cases opened (by action) and decided (by new status)",
    "consentry_index_entries": "entries in the live blocklist index",
    "consentry_index_generation": "the live blocklist index's generation",
}
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """The ``[metrics]`` section."""

    port: int = 0
    """Where /metrics, /healthz and /readyz are served; 0: not served."""
    host: str = "127.0.0.1"
    """The address to listen on (keep it local, or behind a firewall: it is not authenticated)."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0 to 65535, got {self.port}")
        if not self.host:
            raise ValueError("host must not be empty")


class Metrics:
    """The process's series, on a registry of its own (tests run several bots at once)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.scans = Counter(
            "consentry_scans",
            SERIES["consentry_scans_total"],
            ["media_type", "action"],
            registry=reg,
        )
        self.stage = Histogram(
            "consentry_stage_seconds",
            SERIES["consentry_stage_seconds"],
            ["stage"],
            buckets=_BUCKETS,
            registry=reg,
        )
        self.queue_depth = Gauge(
            "consentry_queue_depth", SERIES["consentry_queue_depth"], registry=reg
        )
        self.queue_drops = Counter(
            "consentry_queue_drops", SERIES["consentry_queue_drops_total"], registry=reg
        )
        self._drops_seen = 0
        self.work = Gauge(
            "consentry_work_records", SERIES["consentry_work_records"], ["state"], registry=reg
        )
        self.work_held = Gauge("consentry_work_held", SERIES["consentry_work_held"], registry=reg)
        self.processes = Gauge(
            "consentry_processes", SERIES["consentry_processes"], ["role"], registry=reg
        )
        self.retries = Counter(
            "consentry_retries", SERIES["consentry_retries_total"], ["effect"], registry=reg
        )
        self.discord_errors = Counter(
            "consentry_discord_errors",
            SERIES["consentry_discord_errors_total"],
            ["status"],
            registry=reg,
        )
        self.cases = Counter(
            "consentry_cases", SERIES["consentry_cases_total"], ["event", "value"], registry=reg
        )
        self.index_entries = Gauge(
            "consentry_index_entries", SERIES["consentry_index_entries"], registry=reg
        )
        self.index_generation = Gauge(
            "consentry_index_generation", SERIES["consentry_index_generation"], registry=reg
        )

    def scanned(self, media_type: str | None, action: str) -> None:
        """One piece of media got a verdict."""
        self.scans.labels(media_type or "none", action).inc()

    def timed(self, stage: str, seconds: float) -> None:
        """One stage took ``seconds``."""
        self.stage.labels(stage).observe(seconds)

    def queue(self, depth: int, drops: int) -> None:
        """The scan queue holds ``depth`` messages and has turned ``drops`` away so far."""
        self.queue_depth.set(depth)
        # The queue keeps the running count; the counter takes what is new since last time.
        self.queue_drops.inc(max(0, drops - self._drops_seen))
        self._drops_seen = max(drops, self._drops_seen)

    def text(self) -> bytes:
        """Every series in Prometheus' text format."""
        return generate_latest(self.registry)


class MetricsServer:
    """The local HTTP endpoints: /metrics, /healthz, /readyz."""

    def __init__(
        self,
        metrics: Metrics,
        config: MetricsConfig,
        ready: Callable[[], bool],
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.metrics = metrics
        self.config = config
        self._ready = ready
        self._refresh = refresh
        self._runner: web.AppRunner | None = None
        self.port = config.port

    async def start(self) -> None:
        """Listen (an address already in use is logged, and the bot runs on without them)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/readyz", self._readiness)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            log.error("metrics not served on %s:%s: %s", self.config.host, self.config.port, exc)
            await self._runner.cleanup()
            self._runner = None
            return
        server = site._server
        if server is not None and server.sockets:  # type: ignore[attr-defined]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        log.info("metrics, /healthz and /readyz on %s:%s", self.config.host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        if self._refresh is not None:
            await self._refresh()
        return web.Response(body=self.metrics.text(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readiness(self, request: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready: connecting or catching up\n")

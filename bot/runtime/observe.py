"""Wiring a process (a gateway or a scan worker) to its metrics (:mod:`bot.metrics`): who
reports what, and what is read fresh at each scrape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from bot.case_events import CaseDecided, CaseEvent, CaseOpened
from bot.cases import CaseService
from bot.engine import Engine
from bot.metrics import Metrics, MetricsConfig, MetricsServer
from bot.runtime.actions import Actioner
from bot.runtime.intake import MessageQueue
from bot.runtime.watcher import Watcher
from bot.storage import WorkState


class Observed(Protocol):
    """What a process has that reports to its metrics."""

    @property
    def engine(self) -> Engine: ...
    @property
    def actioner(self) -> Actioner: ...
    @property
    def watcher(self) -> Watcher | None: ...
    @property
    def cases(self) -> CaseService: ...
    @property
    def intake(self) -> MessageQueue | None: ...


def instrument(process: Observed) -> Metrics:
    """Give the scanner, the watcher, the actioner and the case events the process's series."""
    metrics = Metrics()
    process.engine.scanner.timer = metrics.timed
    process.actioner.metrics = metrics
    if process.watcher is not None:
        process.watcher.metrics = metrics

    async def cases(event: CaseEvent) -> None:
        if isinstance(event, CaseOpened):
            metrics.cases.labels("opened", event.case.action).inc()
        elif isinstance(event, CaseDecided):
            metrics.cases.labels("decided", event.case.status.value).inc()

    process.cases.events.subscribe(cases)
    return metrics


def server(
    process: Observed,
    metrics: Metrics,
    ready: Callable[[], bool],
    config: MetricsConfig | None = None,
) -> MetricsServer:
    """The endpoints (on ``config``, else ``[metrics]``), ready when ``ready()`` says so."""
    engine = process.engine

    async def refresh() -> None:
        if process.intake is not None:
            metrics.queue(process.intake.depth, process.intake.drops)
        counts = await engine.storage.work.counts()
        for state in (WorkState.SCAN, WorkState.ACT, WorkState.FAILED):
            metrics.work.labels(state.value).set(counts.get(state, 0))
        now = datetime.now(UTC)
        metrics.work_held.set(await engine.storage.work.held(now))
        processes = await engine.storage.jobs.processes(now)
        for role in ("gateway", "worker"):
            metrics.processes.labels(role).set(sum(1 for p in processes if p.role == role))
        metrics.index_entries.set(len(engine.matcher.snapshot))
        metrics.index_generation.set(engine.matcher.generation)

    return MetricsServer(metrics, config or engine.config.metrics, ready, refresh)

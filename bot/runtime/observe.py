"""Wiring a bot process to its metrics (:mod:`bot.metrics`): who reports what, and what is read
fresh at each scrape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.case_events import CaseDecided, CaseEvent, CaseOpened
from bot.metrics import Metrics, MetricsServer
from bot.storage import WorkState

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot


def instrument(bot: ConsentryBot) -> Metrics:
    """Give the scanner, the watcher, the actioner and the case events the process's series."""
    metrics = Metrics()
    bot.engine.scanner.timer = metrics.timed
    bot.actioner.metrics = metrics
    if bot.watcher is not None:
        bot.watcher.metrics = metrics

    async def cases(event: CaseEvent) -> None:
        if isinstance(event, CaseOpened):
            metrics.cases.labels("opened", event.case.action).inc()
        elif isinstance(event, CaseDecided):
            metrics.cases.labels("decided", event.case.status.value).inc()

    bot.cases.events.subscribe(cases)
    return metrics


def server(bot: ConsentryBot, metrics: Metrics) -> MetricsServer:
    """The endpoints, ready when the process is connected and caught up."""

    def ready() -> bool:
        return bot.is_ready() and not bot.is_closed() and bot.caught_up.is_set()

    async def refresh() -> None:
        if bot.intake is not None:
            metrics.queue_depth.set(bot.intake.depth)
        counts = await bot.engine.storage.work.counts()
        for state in (WorkState.SCAN, WorkState.ACT, WorkState.FAILED):
            metrics.work.labels(state.value).set(counts.get(state, 0))
        now = datetime.now(UTC)
        metrics.work_held.set(await bot.engine.storage.work.held(now))
        processes = await bot.engine.storage.jobs.processes(now)
        for role in ("gateway", "worker"):
            metrics.processes.labels(role).set(sum(1 for p in processes if p.role == role))
        metrics.index_entries.set(len(bot.engine.matcher.snapshot))
        metrics.index_generation.set(bot.engine.matcher.generation)

    return MetricsServer(metrics, bot.engine.config.metrics, ready, refresh)

"""The scan queue's series: its depth now, and every message it has turned away, counted once."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics


def _value(metrics: Metrics, name: str) -> float:
    for family in text_string_to_metric_families(metrics.text().decode()):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} not exposed")


def test_drops_are_counted_once_however_often_the_series_are_refreshed() -> None:
    metrics = Metrics()
    assert _value(metrics, "consentry_queue_drops_total") == 0
    metrics.queue(depth=5000, drops=3)
    metrics.queue(depth=5000, drops=3)  # a refresh with nothing new adds nothing
    metrics.queue(depth=12, drops=7)
    assert _value(metrics, "consentry_queue_drops_total") == 7
    assert _value(metrics, "consentry_queue_depth") == 12

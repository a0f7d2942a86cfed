"""The findings cache: bounded, least-recently-used, expiring."""

from __future__ import annotations

from bot.core.cache import ExpiringLRU


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_values_expire_after_their_time_to_live() -> None:
    clock = Clock()
    cache: ExpiringLRU[str] = ExpiringLRU(10, ttl_seconds=5, clock=clock)
    cache.put("k", "v")
    clock.now = 4.9
    assert cache.get("k") == "v"
    clock.now = 5.0
    assert cache.get("k") is None
    assert len(cache) == 0


def test_the_least_recently_used_value_is_evicted_past_the_bound() -> None:
    cache: ExpiringLRU[int] = ExpiringLRU(2, ttl_seconds=60)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert len(cache) == 2

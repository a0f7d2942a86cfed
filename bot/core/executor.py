"""A bounded executor: CPU work off the event loop, with a cap on work waiting to run."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class BoundedExecutor:
    """Runs blocking callables in a thread pool; at most ``max_pending`` may be queued or running.

    Decoding, hashing and ONNX inference release the GIL for most of their time, so threads give
    real parallelism here without the pickling cost of processes. Callers beyond the bound wait
    (backpressure) instead of growing an unbounded queue.
    """

    def __init__(self, workers: int = 2, max_pending: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.max_pending = max_pending if max_pending is not None else workers * 8
        if self.max_pending < workers:
            raise ValueError("max_pending must be at least the number of workers")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="consentry-cpu")
        self._slots = asyncio.Semaphore(self.max_pending)
        self._pending = 0

    @property
    def pending(self) -> int:
        """Calls queued or running right now."""
        return self._pending

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` in the pool and return its result (or raise its error)."""
        async with self._slots:
            self._pending += 1
            try:
                loop = asyncio.get_running_loop()
                ctx = contextvars.copy_context()
                call = functools.partial(ctx.run, fn, *args, **kwargs)
                return await loop.run_in_executor(self._pool, call)
            finally:
                self._pending -= 1

    def shutdown(self) -> None:
        """Stop accepting work and wait for running calls to finish."""
        self._pool.shutdown(wait=True, cancel_futures=True)

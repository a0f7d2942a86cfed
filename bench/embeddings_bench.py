"""Benchmark of look-alike matching: CLIP embedding entries (``clip``) queried by cosine distance.

Each confirmed case adds one entry per distinct-looking frame, so a large instance holds tens of
thousands. Measured: build time, memory, and ``query_embeddings`` for one image (1 frame) and one
video (16 frames). Run alone with ``python -m bench.embeddings_bench [sizes...]``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.index import _latencies
from bot.core import embeddings
from bot.core.blocklist import Algorithm, BlocklistEntry
from bot.core.index import BlocklistIndex

SEED = 20261125


def _one_size(n: int, queries: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED + n)
    vectors = rng.normal(size=(n, embeddings.EMBED_DIM)).astype(np.float32)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [
        BlocklistEntry(i, Algorithm.CLIP, embeddings.encode(v), 1, "case", "", "", when)
        for i, v in enumerate(vectors)
    ]
    started = time.perf_counter()
    index = BlocklistIndex.build(entries)
    build_s = time.perf_counter() - started
    del entries
    # Queries sit 0.03 from a stored entry, so each one is a real match.
    targets = vectors[rng.integers(0, n, 16 * queries)]
    noise = rng.normal(size=targets.shape).astype(np.float32)
    noise *= 0.25 * np.linalg.norm(targets, axis=1, keepdims=True) / np.sqrt(targets.shape[1])
    near = targets + noise
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    frames = list(range(16))
    assert index.query_embeddings(near[:1], frames[:1], 0.06), "a query must find its entry"
    return {
        "entries": n,
        "build_s": round(build_s, 3),
        "index_bytes": index.memory_bytes(),
        "query_image_ms": _latencies(
            lambda i: index.query_embeddings(near[i : i + 1], frames[:1], 0.06), queries
        ),
        "query_video_ms": _latencies(
            lambda i: index.query_embeddings(near[16 * i : 16 * i + 16], frames, 0.06), queries
        ),
    }


def run(sizes: Sequence[int] = (10_000, 100_000), queries: int = 50) -> dict[str, Any]:
    """One entry per size (as a string): ``build_s``, ``index_bytes``, and p50 / p95 of a
    1-frame (``query_image_ms``) and a 16-frame (``query_video_ms``) look-alike query."""
    return {str(n): _one_size(n, queries) for n in sizes}


if __name__ == "__main__":
    chosen = tuple(int(arg) for arg in sys.argv[1:]) or (10_000, 100_000)
    print(json.dumps(run(chosen), indent=2))

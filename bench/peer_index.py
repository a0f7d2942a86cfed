"""python-threatexchange's PDQ index, measured on the codes ``bench.index`` measures ours on.

Run by ``bench.index`` in a subprocess (its memory is then its own to measure, and it may use
another interpreter: ``CONSENTRY_BENCH_PEER_PYTHON``), with three ``.npy`` files: the (n, 32)
codes, the (q, 32) single queries and the (q, 8, 32) frames. It needs only numpy and the
``threatexchange`` package (``pip install -e '.[bench]'``) and prints one JSON object; when
the package cannot be imported it says so (``available: false``) instead of a number.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

BUDGET_S = 20.0


def _rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _latencies(call: Callable[[int], object], queries: int) -> dict[str, float]:
    """p50 / p95 in milliseconds, as ``bench.index`` measures them (same warm-up and budget)."""
    call(0)
    times: list[float] = []
    started = time.perf_counter()
    for i in range(queries):
        begin = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - begin) * 1000)
        if len(times) >= 30 and time.perf_counter() - started > BUDGET_S:
            break
    ms = np.array(times)
    p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "queries": len(times)}


def measure(codes_path: str, singles_path: str, frames_path: str) -> dict[str, Any]:
    """Build ``PDQIndex`` from the codes, query it, report as ``bench.index`` does."""
    try:
        from threatexchange.signal_type.pdq.pdq_index import PDQIndex
    except ImportError as exc:
        return {"available": False, "reason": f"threatexchange is not importable: {exc}"}
    codes = np.load(codes_path)
    singles = [code.tobytes().hex() for code in np.load(singles_path)]
    frames = [[code.tobytes().hex() for code in frame] for frame in np.load(frames_path)]
    # Its input is (hex string, entry) pairs: made before the clock and the memory count start.
    entries = [(code.hex(), i) for i, code in enumerate(map(bytes, codes))]
    del codes
    gc.collect()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    index = PDQIndex(entries)
    build_s = time.perf_counter() - started
    rss_after = _rss_bytes()
    del entries  # the index keeps its own list of them
    assert all(index.query(single) for single in singles[:5]), "queries are near-duplicates"
    # The index's public query takes one hash; its multi-hash index underneath takes a batch
    # (one faiss call for all 8 variants), the faster way to ask about a frame: measured so.
    multi = index.index
    return {
        "available": True,
        "package": f"threatexchange {metadata.version('threatexchange')}",
        "index": "PDQIndex (faiss IndexBinaryMultiHash, 16 hash maps, nflip 1 at radius 31)",
        "entries": len(index),
        "build_s": round(build_s, 3),
        "rss_delta_bytes": None
        if rss_before is None or rss_after is None
        else rss_after - rss_before,
        "query_single_ms": _latencies(lambda i: index.query(singles[i]), len(singles)),
        "query_frame_ms": _latencies(
            lambda i: multi.search_with_distance_in_result(frames[i], 31), len(frames)
        ),
    }


if __name__ == "__main__":
    print(json.dumps(measure(*sys.argv[1:4])))

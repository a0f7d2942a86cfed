"""Benchmark of the blocklist index: build time, memory and query latency at 1M and 10M PDQ hashes.

Each size is measured for both kinds of table (``mih``, the default, and ``scan``) and, side by
side in the same run on the same codes and queries, for python-threatexchange's ``PDQIndex``
(``bench.peer_index``, in a subprocess; ``pip install -e '.[bench]'`` provides it). When the
peer cannot run, the results say so and give no ratio.

Run alone with ``python -m bench.index [sizes...]``; ``python -m bench`` includes it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from bot.core.blocklist import Algorithm, MatchRow
from bot.core.executor import BoundedExecutor
from bot.core.hashes import FrameHashes, MediaHashes
from bot.core.index import BlocklistIndex, IndexKind, MatchThresholds
from bot.core.matcher import BlocklistMatcher

SEED = 20240601
BUDGET_S = 20.0
"""Stop a latency series early (after at least 30 queries) once it has run this long."""
PEER_PYTHON_ENV = "CONSENTRY_BENCH_PEER_PYTHON"
"""An interpreter with ``threatexchange`` installed, if not this one."""
PEER_TIMEOUT_S = 600


def _rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _latencies(call: Callable[[int], object], queries: int) -> dict[str, float]:
    """p50 / p95 in milliseconds of ``call(i)`` for i in range(queries), within the budget."""
    call(0)  # warm up: first-touch page faults and faiss's thread pool
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


def _near(
    rng: np.random.Generator, code: npt.NDArray[np.uint8], bits: int
) -> npt.NDArray[np.uint8]:
    unpacked = np.unpackbits(code)
    unpacked[rng.choice(unpacked.size, bits, replace=False)] ^= 1
    return np.packbits(unpacked)


def _frame(single: npt.NDArray[np.uint8], rng: np.random.Generator) -> MediaHashes:
    """One frame whose first PDQ variant is ``single``; the other 7 are random, as in a scan."""
    variants = (single.tobytes(), *(rng.bytes(32) for _ in range(7)))
    frame = FrameHashes(0, variants[0], 100, variants, rng.bytes(8))
    return MediaHashes(sha256="0" * 64, md5="0" * 32, frames=(frame,))


def _measure_index(
    codes: npt.NDArray[np.uint8],
    singles: npt.NDArray[np.uint8],
    frames: list[MediaHashes],
    kind: IndexKind,
    live: bool = True,
) -> dict[str, Any]:
    """Build the index, measure it and let it go (it is local: freed when this returns)."""
    n, queries, thresholds = len(codes), len(singles), MatchThresholds()
    gc.collect()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    built = BlocklistIndex.from_arrays(
        pdq_codes=codes, pdq_ids=np.arange(n, dtype=np.int64), kind=kind
    )
    build_s = time.perf_counter() - started
    rss_after = _rss_bytes()
    assert all(built.search_pdq(singles[:5], 31)), "every query is a near-duplicate of an entry"
    result: dict[str, Any] = {
        "kind": kind,
        "entries": n,
        "build_s": round(build_s, 3),
        "index_bytes": built.memory_bytes(),
        "bytes_per_entry": round(built.memory_bytes() / n, 2),
        "rss_delta_bytes": None
        if rss_before is None or rss_after is None
        else rss_after - rss_before,
        "query_single_ms": _latencies(lambda i: built.search_pdq(singles[i : i + 1], 31), queries),
        "query_frame_ms": _latencies(lambda i: built.query(frames[i], thresholds), queries),
    }
    if live:
        result["time_to_live_ms"] = asyncio.run(_time_to_live(built, n))
    return result


def _rebuild_s(codes: npt.NDArray[np.uint8], kind: IndexKind) -> float:
    """A second build in the same process. The first one's pages are new to the process (and
    on a VM to the host), which costs it up to ~2 s at 10M; a rebuild in a running bot reuses
    freed memory."""
    gc.collect()
    started = time.perf_counter()
    ids = np.arange(len(codes), dtype=np.int64)
    BlocklistIndex.from_arrays(pdq_codes=codes, pdq_ids=ids, kind=kind)
    return round(time.perf_counter() - started, 3)


def _measure_peer(
    codes: npt.NDArray[np.uint8], singles: npt.NDArray[np.uint8], frames: list[MediaHashes]
) -> dict[str, Any]:
    """python-threatexchange's PDQIndex on the same data, in its own process."""
    python = os.environ.get(PEER_PYTHON_ENV) or sys.executable
    variants = np.stack(
        [np.frombuffer(b"".join(f.frames[0].pdq_variants), np.uint8).reshape(8, 32) for f in frames]
    )
    with tempfile.TemporaryDirectory(prefix="consentry-bench-") as folder:
        paths = [str(Path(folder) / f"{name}.npy") for name in ("codes", "singles", "frames")]
        for path, array in zip(paths, (codes, singles, variants), strict=True):
            np.save(path, array)
        script = str(Path(__file__).with_name("peer_index.py"))
        try:
            done = subprocess.run(
                [python, script, *paths],
                capture_output=True,
                text=True,
                timeout=PEER_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"available": False, "reason": f"the peer did not run: {exc}"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"available": False, "reason": f"the peer failed ({done.returncode}): {tail[0]}"}
    peer: dict[str, Any] = json.loads(done.stdout)
    return peer


def _ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float] | None:
    """Our figure over the peer's (below 1: ours is faster or smaller)."""
    if not peer.get("available"):
        return None
    ratios = {
        f"{series}_{stat}": round(ours[series][stat] / peer[series][stat], 3)
        for series in ("query_single_ms", "query_frame_ms")
        for stat in ("p50", "p95")
    }
    ratios["build_s"] = round(ours["build_s"] / peer["build_s"], 3)
    if ours.get("rss_delta_bytes") and peer.get("rss_delta_bytes"):
        ratios["rss_delta_bytes"] = round(ours["rss_delta_bytes"] / peer["rss_delta_bytes"], 3)
    return ratios


async def _time_to_live(base: BlocklistIndex, n: int, samples: int = 20) -> dict[str, float]:
    """One new entry, from its row in the change feed to the first scan that matches it: the
    owner applies it on top of the ``n``-entry base (no rebuild), then a frame is queried."""
    rng = np.random.default_rng(SEED)
    matcher = BlocklistMatcher(base)
    executor = BoundedExecutor(workers=1)
    times = []
    try:
        for k in range(samples):
            code = rng.integers(0, 256, 32, dtype=np.uint8)
            row = MatchRow(n + k, Algorithm.PDQ.value, code.tobytes().hex(), None, False)
            started = time.perf_counter()
            await matcher.apply([row], (), executor)
            matches = matcher.snapshot.query(_frame(code, rng), MatchThresholds())
            times.append((time.perf_counter() - started) * 1000)
            assert any(m.entry_id == row.id for m in matches), "the new entry is live"
    finally:
        executor.shutdown()
    ordered = sorted(times)
    return {"p50": round(statistics.median(ordered), 2), "max": round(ordered[-1], 2)}


def _measure_baseline(
    codes: npt.NDArray[np.uint8], singles: npt.NDArray[np.uint8], frames: list[MediaHashes]
) -> dict[str, Any]:
    """A plain 256-bit IndexBinaryFlat for comparison: its range search and k-NN scan all bits."""
    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)
    variants = [np.frombuffer(b"".join(f.frames[0].pdq_variants), np.uint8) for f in frames]
    fewer = min(len(singles), 30)
    return {
        "range_single_ms": _latencies(lambda i: flat.range_search(singles[i : i + 1], 32), fewer),
        "knn1_single_ms": _latencies(lambda i: flat.search(singles[i : i + 1], 1), fewer),
        "range_frame_ms": _latencies(
            lambda i: flat.range_search(variants[i].reshape(8, 32), 32), fewer
        ),
    }


def _one_size(n: int, queries: int, baseline: bool, peer: bool) -> dict[str, Any]:
    rng = np.random.default_rng(SEED + n)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    # Queries are near-duplicates (10 bits off) of stored hashes, so every one is a real match.
    singles = np.stack([_near(rng, codes[t], 10) for t in rng.integers(0, n, queries)])
    frames = [_frame(single, rng) for single in singles]
    result = _measure_index(codes, singles, frames, "mih")
    result["rebuild_s"] = _rebuild_s(codes, "mih")
    result["scan"] = _measure_index(codes, singles, frames, "scan", live=False)
    gc.collect()
    if peer:
        result["peer"] = _measure_peer(codes, singles, frames)
        if not result["peer"].get("available"):
            print(f"index: python-threatexchange unavailable: {result['peer']['reason']}")
        result["ratio_to_peer"] = _ratios(result, result["peer"])
    if baseline:
        result["baseline_flat256"] = _measure_baseline(codes, singles, frames)
        gc.collect()
    return result


def run(
    sizes: Sequence[int] = (1_000_000, 10_000_000),
    queries: int = 200,
    baseline: bool = True,
    peer: bool = True,
) -> dict[str, Any]:
    """Measure each size in turn (each index is freed before the next); a JSON-ready dict.

    Keys: ``faiss_threads``, then one entry per size (as a string) for the default ``mih``
    index: ``build_s`` (and ``rebuild_s``, a second build in the same process),
    ``index_bytes`` (codes, posting lists, ids, scopes), ``rss_delta_bytes`` (process growth
    over the build), ``query_single_ms`` (one PDQ hash at distance 31) and ``query_frame_ms``
    (``query()`` on one frame's 8 PDQ variants and its pHash), each with p50 / p95, and
    ``time_to_live_ms``; the same under ``scan`` for the scan index; ``peer``
    (python-threatexchange's PDQIndex on the same codes and queries, or why it is unavailable)
    and ``ratio_to_peer`` (ours / theirs); and ``baseline_flat256``.
    """
    results: dict[str, Any] = {"faiss_threads": faiss.omp_get_max_threads(), "queries": queries}
    for n in sizes:
        results[str(n)] = _one_size(n, queries, baseline, peer)
    # faiss's OpenMP team waits for every thread at each call's barrier, so any other busy
    # process on a 2-core machine shows up as whole scheduler slices; keep the load on record.
    results["load_average"] = [round(load, 2) for load in os.getloadavg()]
    return results


if __name__ == "__main__":
    chosen = tuple(int(arg) for arg in sys.argv[1:]) or (1_000_000, 10_000_000)
    print(json.dumps(run(chosen), indent=2))

"""Per-model latency and throughput (1 and 2 onnxruntime threads), and memory with all loaded.

Models are the shipped manifests whose weights are fetched; the others are reported as skipped.
Input: a 1024x768 JPEG decoded as the scanner decodes it (one frame).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.pipeline import make_jpeg
from bot.config import default_models_dir
from bot.core.executor import BoundedExecutor
from bot.core.limits import MediaLimits
from bot.core.media import load_media
from bot.engine import LOADERS
from bot.model_store import shipped_manifests, status


def _rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _runner(detector: Any) -> Any:
    for name in ("score_frames", "boxes", "embed_frames"):
        if hasattr(detector, name):
            return getattr(detector, name)
    raise TypeError(f"no blocking entry point on {detector!r}")


def run(runs: int = 20) -> dict[str, Any]:
    """Measure every fetched model; returns a JSON-serialisable dict."""
    frame = load_media(make_jpeg((1024, 768)), MediaLimits()).frames[0].pixels
    pool = BoundedExecutor(2)
    results: dict[str, Any] = {"rss_before_mb": _rss_mb()}
    loaded = []
    try:
        for manifest in shipped_manifests(default_models_dir()):
            loader = LOADERS.get(manifest.kind)
            if loader is None or not status(manifest).verified:
                results[manifest.name] = {"skipped": "not fetched or no detector for its kind"}
                continue
            entry: dict[str, Any] = {}
            for threads in (1, 2):
                run_frames = _runner(loader(manifest, pool, threads=threads))
                run_frames([frame])  # warm-up: first run allocates
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    run_frames([frame])
                    times.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                run_frames([frame] * 8)
                batch = time.perf_counter() - started
                entry[f"threads_{threads}"] = {
                    "latency_ms_p50": round(statistics.median(times), 2),
                    "images_per_second_batch8": round(8 / batch, 1),
                }
            loaded.append(loader(manifest, pool, threads=1))
            results[manifest.name] = entry
        results["rss_all_loaded_mb"] = _rss_mb()
    finally:
        pool.shutdown()
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))

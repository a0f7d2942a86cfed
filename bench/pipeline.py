"""Benchmark of the intake pipeline: sniff, decode, exact hashes, PDQ and pHash of real JPEGs.

Run alone with ``python -m bench.pipeline``; ``python -m bench`` includes it. The JPEGs are built
from scikit-image's bundled photographs (resized or tiled, plus a little noise so they compress
like camera output, not like flat synthetic images) and encoded at quality 90.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
from skimage import data as skdata

from bot.core.hashing import exact_hashes, hash_media, pdq_hashes, phash_bytes
from bot.core.limits import MediaLimits
from bot.core.media import load_media, sniff

SEED = 20240601
CASES = {
    # name: (size, runs)
    "jpeg_1024x768": ((1024, 768), 30),
    "jpeg_4000x3000": ((4000, 3000), 30),
}
_TILES = ("astronaut", "coffee", "chelsea", "rocket")


def make_jpeg(size: tuple[int, int], seed: int = SEED) -> bytes:
    """A realistic JPEG (quality 90) of ``size``: a 2x2 mosaic of photos with sensor-like noise."""
    width, height = size
    half = (width // 2, height // 2)
    canvas = Image.new("RGB", size)
    for i, name in enumerate(_TILES):
        tile = Image.fromarray(getattr(skdata, name)()).convert("RGB")
        canvas.paste(
            tile.resize(half, Image.Resampling.BICUBIC), ((i % 2) * half[0], (i // 2) * half[1])
        )
    rng = np.random.default_rng(seed)
    noisy = np.asarray(canvas, dtype=np.int16) + rng.normal(0, 3, (height, width, 3)).astype(
        np.int16
    )
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _timed(function: Callable[[], object], runs: int) -> dict[str, float]:
    function()  # warm up: first calls import lazily and fill caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {"p50": round(statistics.median(samples), 3), "p95": round(p95, 3), "runs": runs}


def measure(data: bytes, runs: int, limits: MediaLimits | None = None) -> dict[str, Any]:
    """Median and p95 (ms) of each stage, and of the whole pipeline, on one file."""
    limits = limits or MediaLimits()
    media = load_media(data, limits)
    frame = Image.fromarray(media.frames[0].pixels)
    return {
        "bytes": len(data),
        "frame_size": [media.frames[0].width, media.frames[0].height],
        "sniff_ms": _timed(lambda: sniff(data), runs),
        "decode_ms": _timed(lambda: load_media(data, limits), runs),
        "exact_ms": _timed(lambda: exact_hashes(data), runs),
        "pdq_ms": _timed(lambda: pdq_hashes(frame), runs),
        "phash_ms": _timed(lambda: phash_bytes(frame), runs),
        # What the scanner runs in its executor: everything above, end to end.
        "total_ms": _timed(lambda: (sniff(data), hash_media(load_media(data, limits))), runs),
    }


def run() -> dict[str, Any]:
    """Measure every case; returns a JSON-serialisable dict keyed by case name."""
    results: dict[str, Any] = {}
    for name, (size, runs) in CASES.items():
        results[name] = measure(make_jpeg(size), runs)
    return results


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=2)
    sys.stdout.write("\n")

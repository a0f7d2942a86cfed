"""Benchmark of edited copies of known media: recall per edit kind, false matches, margins, cost.

Run alone with ``python -m bench.edit_recall``; ``python -m bench --only edit_recall`` includes it.
The evaluation set is ``tests.edit_set`` (scikit-image photographs and Pillow drawings, edited
in memory). Two configurations are measured on it:

- ``baseline``: today's hashes before edited copies were handled (each frame's PDQ in 8
  variants and its pHash; entries hold the file's own PDQ and pHash only);
- ``current``: the shipped code (views of the picture inside borders, bars and screenshots,
  mirrored pHash, derived entries for crops and views).

``margin`` is the closest any distractor came to any entry, per algorithm, next to the
threshold it must stay above. ``cost_ms`` is the hashing time of a 1024x768 JPEG frame with and
without views (a plain photo, and a screenshot of one, which gets two views).
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image

from bench.pipeline import make_jpeg
from bot.core.blocklist import Algorithm, BlocklistEntry
from bot.core.fingerprint import fingerprint
from bot.core.hashes import FrameHashes, MediaHashes
from bot.core.hashing import hamming, hash_frame, hash_media
from bot.core.index import BlocklistIndex, MatchThresholds
from bot.core.limits import MediaLimits
from bot.core.media import load_media
from tests import edit_set

LIMITS = MediaLimits()
THRESHOLDS = MatchThresholds()


def _baseline(hashes: MediaHashes) -> MediaHashes:
    """``hashes`` as the code before this change computed them: no views, pHash as is only."""
    return replace(
        hashes, frames=tuple(replace(f, phash_variants=(), views=()) for f in hashes.frames)
    )


def _codes(frame: FrameHashes, algorithm: Algorithm) -> Iterable[bytes]:
    """The codes ``BlocklistIndex.query`` matches for one frame (quality floor applied)."""
    floor = THRESHOLDS.pdq_min_quality
    pdq = algorithm is Algorithm.PDQ
    if frame.pdq_quality >= floor:
        yield from frame.pdq_variants if pdq else (frame.phash_variants or (frame.phash,))
    for view in frame.views:
        if view.pdq_quality >= floor:
            yield from view.pdq_variants if pdq else view.phash_variants


def evaluate(baseline: bool, built: edit_set.EditSet) -> dict[str, Any]:
    """Recall per kind, false matches and closest distractors for one configuration."""
    entries: list[BlocklistEntry] = []
    owner: dict[int, str] = {}
    now = datetime.now(UTC)
    for original in built.originals:
        found = fingerprint(original.data, LIMITS, THRESHOLDS.pdq_min_quality)
        for algorithm, value in found.hashes if baseline else found.entries:
            entry_id = len(entries) + 1
            entries.append(BlocklistEntry(entry_id, algorithm, value, None, "bench", "", "", now))
            owner[entry_id] = original.source
    index = BlocklistIndex.build(entries)

    def hashes_of(data: bytes) -> MediaHashes:
        hashes = hash_media(load_media(data, LIMITS))
        return _baseline(hashes) if baseline else hashes

    kinds: dict[str, list[int]] = {kind: [0, 0] for kind in edit_set.KINDS}
    false_matches: list[dict[str, Any]] = []
    for sample in built.edited:
        matches = index.query(hashes_of(sample.data), THRESHOLDS)
        kinds[sample.kind][0] += any(owner[m.entry_id] == sample.source for m in matches)
        kinds[sample.kind][1] += 1
        for m in matches:
            if owner[m.entry_id] != sample.source:
                false_matches.append({"sample": f"{sample.source}/{sample.kind}", **_match(m)})
    stored = {
        a: [(owner[e.id], bytes.fromhex(e.value)) for e in entries if e.algorithm is a]
        for a in (Algorithm.PDQ, Algorithm.PHASH)
    }
    closest: dict[str, tuple[int, str]] = {}
    for sample in built.distractors:
        hashes = hashes_of(sample.data)
        for m in index.query(hashes, THRESHOLDS):
            false_matches.append({"sample": f"{sample.source}/{sample.kind}", **_match(m)})
        for algorithm, codes in stored.items():
            queries = [c for f in hashes.frames for c in _codes(f, algorithm)]
            if not queries or not codes:
                continue
            nearest = min(hamming(q, c) for q in queries for _, c in codes)
            if algorithm.value not in closest or nearest < closest[algorithm.value][0]:
                closest[algorithm.value] = (nearest, f"{sample.source}/{sample.kind}")
    hits, total = sum(k[0] for k in kinds.values()), sum(k[1] for k in kinds.values())
    limits = {"pdq": THRESHOLDS.pdq, "phash": THRESHOLDS.phash}
    return {
        "recall": round(hits / total, 4),
        "recall_per_kind": {k: round(h / n, 4) for k, (h, n) in kinds.items()},
        "edited": total,
        "distractors": len(built.distractors),
        "false_matches": len(false_matches),
        "false_match_details": false_matches[:10],
        "entries": len(entries),
        "entries_per_original": round(len(entries) / len(built.originals), 1),
        "margin": {
            name: {"closest_distractor": d, "threshold": limits[name], "sample": where}
            for name, (d, where) in closest.items()
        },
    }


def _match(m: Any) -> dict[str, Any]:
    return {"entry_id": m.entry_id, "algorithm": m.algorithm, "distance": m.distance}


def _timed(function: Callable[[], object], runs: int) -> float:
    function()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 3)


def cost(runs: int = 30) -> dict[str, Any]:
    """Milliseconds to hash one 1024x768 frame with and without views."""
    plain = make_jpeg((1024, 768))
    shown = Image.open(io.BytesIO(plain)).convert("RGB")
    shot = edit_set._window(shown, np.random.default_rng(3)).resize((1024, 768))
    out: dict[str, Any] = {}
    for name, data in (("photo_1024x768", plain), ("screenshot_1024x768", edit_set.png(shot))):
        frame = load_media(data, LIMITS).frames[0]
        without = _timed(lambda f=frame: hash_frame(f, views=False), runs)
        with_views = _timed(lambda f=frame: hash_frame(f), runs)
        out[name] = {
            "views": len(hash_frame(frame).views),
            "hash_ms_without_views": without,
            "hash_ms": with_views,
            "added_ms": round(with_views - without, 3),
        }
    return out


def run(runs: int = 30) -> dict[str, Any]:
    """Both configurations on the evaluation set, and the hashing cost."""
    started = time.perf_counter()
    built = edit_set.build()
    build_s = time.perf_counter() - started
    return {
        "set_build_s": round(build_s, 2),
        "baseline": evaluate(True, built),
        "current": evaluate(False, built),
        "cost_ms": cost(runs),
    }


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=2)
    print()

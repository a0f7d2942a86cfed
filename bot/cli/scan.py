"""``consentry scan``: scan files and folders offline."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections import Counter, deque
from pathlib import Path
from typing import Any

from bot.cli._paths import existing_paths, iter_files
from bot.cli.progress import Progress
from bot.config import Config
from bot.core.verdict import Action, Reason, Verdict
from bot.engine import Engine, open_engine


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "scan",
        parents=[common],
        help="scan image and video files or folders and print a verdict for each",
        description="Scan files (folders recursively) against the blocklist and configured models. "
        "Exit status is 0 whatever the verdicts.",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per file per line"
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to scan")
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, config: Config) -> int:
    paths = existing_paths(args.paths)
    if paths is None:
        return 2
    files = list(iter_files(paths))
    counts: Counter[str] = Counter()
    # Rows printed to a terminal are progress enough; a counter helps when stdout is redirected.
    progress = Progress(
        "scanning", len(files), enabled=sys.stderr.isatty() and not sys.stdout.isatty()
    )
    # No server, so no protected members: offline scans skip the face model.
    async with open_engine(config, likeness=False) as engine:
        # A sliding window keeps both cores busy while printing results in input order.
        window: deque[tuple[Path, asyncio.Task[Verdict]]] = deque()
        limit = engine.executor.workers * 2
        for path in files:
            window.append((path, asyncio.create_task(scan_file(engine, path))))
            if len(window) >= limit:
                _emit(*await _next(window), args.json, counts, progress)
        while window:
            _emit(*await _next(window), args.json, counts, progress)
    progress.close()
    if not args.json:
        summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        print(f"{len(files)} file{'s' if len(files) != 1 else ''} scanned: {summary or 'none'}")
    return 0


async def _next(window: deque[tuple[Path, asyncio.Task[Verdict]]]) -> tuple[Path, Verdict]:
    path, task = window.popleft()
    return path, await task


async def scan_file(engine: Engine, path: Path) -> Verdict:
    """Scan one file; unreadable or oversized files become ``unscannable`` verdicts."""
    limit = engine.config.limits.max_bytes
    if not path.is_file():
        # A FIFO or device would block the read forever.
        return _unscannable("", "", "not a regular file")
    try:
        size = path.stat().st_size
        if size > limit:
            sha256, md5 = await engine.executor.run(_stream_hashes, path)
            message = f"file is {size:,} bytes, over the {limit:,}-byte limit"
            return _unscannable(sha256, md5, message)
        data = await engine.executor.run(path.read_bytes)
    except OSError as exc:
        return _unscannable("", "", f"cannot read file: {exc.strerror or exc}")
    return await engine.scan(data)


def _stream_hashes(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def _unscannable(sha256: str, md5: str, message: str) -> Verdict:
    reason = Reason("intake", Action.UNSCANNABLE, message)
    return Verdict(action=Action.UNSCANNABLE, reasons=(reason,), sha256=sha256, md5=md5)


def _emit(
    path: Path, verdict: Verdict, as_json: bool, counts: Counter[str], progress: Progress
) -> None:
    counts[verdict.action.value] += 1
    progress.advance()
    if as_json:
        print(json.dumps({"path": str(path), **verdict.to_dict()}), flush=True)
        return
    detail = "; ".join(r.message for r in verdict.reasons) or "-"
    print(f"{verdict.action.value:<12} {path}  {detail}", flush=True)

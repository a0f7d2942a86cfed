"""``consentry hash``: a member hashes their own media on their own machine (``/protect media``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from bot.cli._paths import existing_paths, iter_files
from bot.config import Config
from bot.core.media import UnscannableMedia
from bot.core.own_hashes import MAX_HASHES, MAX_ITEMS, OwnItem, dumps, hash_file

DEFAULT_OUTPUT = "consentry-hashes.json"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "hash",
        parents=[common],
        help="hash your own images and videos for /protect media (nothing leaves this machine)",
        description="Hashes images and videos here, offline, and writes a small file of hashes "
        "(MD5 and SHA-256 of each file, and the PDQ hash of each distinct sampled frame: one "
        "for a picture, several for a GIF or video). Upload that file with `/protect media` in "
        "a server that runs Consentry: copies of the media are then removed there. The file "
        "holds only hashes: no names, sizes or dates, and no image can be rebuilt from it. "
        f"At most {MAX_ITEMS} files and {MAX_HASHES} hashes a file.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to hash")
    parser.add_argument(
        "--output", "-o", default=DEFAULT_OUTPUT, metavar="FILE", help=f"default {DEFAULT_OUTPUT}"
    )
    parser.set_defaults(handler=cmd_hash)


async def cmd_hash(args: argparse.Namespace, config: Config) -> int:
    paths = existing_paths(args.paths)
    if paths is None:
        return 2

    items: list[OwnItem] = []
    failed = 0
    for path in iter_files(paths):
        try:
            items.append(
                hash_file(path.read_bytes(), config.limits, config.matching.pdq_min_quality)
            )
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            failed += 1
        except UnscannableMedia as exc:
            print(f"{path}: not hashed: {exc.message}", file=sys.stderr)
            failed += 1
    if not items:
        print("consentry: error: no file could be hashed", file=sys.stderr)
        return 2
    if len(items) > MAX_ITEMS or sum(len(i.hashes) for i in items) > MAX_HASHES:
        print(
            f"consentry: error: {len(items)} files: split them into files of at most "
            f"{MAX_ITEMS} files and {MAX_HASHES} hashes",
            file=sys.stderr,
        )
        return 2
    try:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(dumps(items))
    except OSError as exc:
        why = exc.strerror or exc
        print(f"consentry: error: cannot write {args.output}: {why}", file=sys.stderr)
        return 2
    videos = sum(1 for i in items if i.kind == "video")
    hashes = sum(len(i.hashes) for i in items)
    print(
        f"hashed {len(items)} files ({len(items) - videos} pictures, {videos} videos): {hashes} "
        f"hashes written to {Path(args.output)}. Upload it with /protect media; the media "
        "itself never left this machine."
    )
    return 1 if failed else 0

"""``consentry blocklist``: add, list, remove, export and import instance-wide entries."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from bot.cli._paths import existing_paths, iter_files
from bot.cli.progress import Progress
from bot.config import Config
from bot.core import blocklist_io
from bot.core.blocklist import NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.media import UnscannableMedia
from bot.storage import open_storage


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "blocklist",
        help="manage the instance-wide hash blocklist",
        description="Add, list, remove, export and import instance-wide blocklist entries.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        parents=[common],
        help="hash image or video files and add them as instance-wide entries",
        description="Adds a SHA-256 entry for each file, plus PDQ and pHash entries for each "
        "distinct sampled frame whose PDQ quality is high enough to match reliably.",
    )
    add.add_argument(
        "--reason", default="", help="why these files are blocked (kept with each entry)"
    )
    add.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to add")
    add.set_defaults(handler=cmd_add)

    listing = actions.add_parser("list", parents=[common], help="list entries, oldest first")
    listing.set_defaults(handler=cmd_list)

    remove = actions.add_parser("remove", parents=[common], help="remove entries by id")
    remove.add_argument("ids", nargs="+", type=int, metavar="ID")
    remove.set_defaults(handler=cmd_remove)

    export = actions.add_parser("export", parents=[common], help="write every entry as CSV or JSON")
    export.add_argument("--format", choices=blocklist_io.FORMATS, default="csv")
    export.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(handler=cmd_export)

    imp = actions.add_parser(
        "import",
        parents=[common],
        help="add entries from a CSV or JSON file (the export formats)",
        description="Bad rows are reported with their line number (CSV) or entry number (JSON) "
        "and skipped; the good rows are added in one transaction. Exit status 1 if any row was "
        "skipped.",
    )
    imp.add_argument("file", metavar="FILE", help="file to import ('-' for stdin)")
    imp.add_argument("--format", choices=("auto", *blocklist_io.FORMATS), default="auto")
    imp.set_defaults(handler=cmd_import)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def cmd_add(args: argparse.Namespace, config: Config) -> int:
    paths = existing_paths(args.paths)
    if paths is None:
        return 2
    failed = 0
    added_by = _who()
    async with await open_storage(config.storage_url) as storage:
        for path in iter_files(paths):
            if not path.is_file():
                print(f"{path}: not added: not a regular file", file=sys.stderr)
                failed += 1
                continue
            try:
                data = path.read_bytes()
                print_ = fingerprint(data, config.limits, config.matching.pdq_min_quality)
            except OSError as exc:
                print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
                failed += 1
                continue
            except UnscannableMedia as exc:
                print(f"{path}: not added: {exc.message}", file=sys.stderr)
                failed += 1
                continue
            entries = [
                NewEntry(algorithm, value, None, "cli", args.reason, added_by)
                for algorithm, value in print_.hashes
            ]
            result = await storage.blocklist.add(entries)
            for note in print_.notes:
                print(f"{path}: note: {note}", file=sys.stderr)
            ids = ", ".join(f"#{e.id} {e.algorithm.value}" for e in result.added) or "none"
            dupes = f"; {len(result.duplicates)} already present" if result.duplicates else ""
            print(f"{path}: added {ids}{dupes}")
    return 1 if failed else 0


async def cmd_list(args: argparse.Namespace, config: Config) -> int:
    async with await open_storage(config.storage_url) as storage:
        counts = await storage.blocklist.count()
        print(
            f"{'ID':>8}  {'ALGORITHM':<9}  {'SCOPE':<20}  {'KIND':<5}  {'ADDED':<20}  HASH  REASON"
        )
        async for e in storage.blocklist.iter_all():
            scope = "instance" if e.guild_id is None else str(e.guild_id)
            kind = "allow" if e.allow else "block"
            added = e.added_at.strftime("%Y-%m-%d %H:%M:%S")
            row = f"{e.id:>8}  {e.algorithm.value:<9}  {scope:<20}  {kind:<5}  {added:<20}"
            print(f"{row}  {e.value}  {e.reason}")
        total = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if n) or "no entries"
        print(f"total: {total}")
    return 0


async def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    failed = 0
    async with await open_storage(config.storage_url) as storage:
        for entry_id in args.ids:
            removed = await storage.blocklist.remove(entry_id)
            if removed is None:
                print(f"#{entry_id}: no such entry", file=sys.stderr)
                failed += 1
            else:
                print(f"#{entry_id}: removed ({removed.algorithm.value} {removed.value})")
    return 1 if failed else 0


async def cmd_export(args: argparse.Namespace, config: Config) -> int:
    try:
        stream = (
            Path(args.output).open("w", encoding="utf-8", newline="") if args.output else sys.stdout
        )
    except OSError as exc:
        print(
            f"consentry: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    count = 0
    try:
        writer = blocklist_io.WRITERS[args.format](stream)
        async with await open_storage(config.storage_url) as storage:
            async for entry in storage.blocklist.iter_all():
                writer.write(entry)
                count += 1
        writer.close()
    finally:
        if stream is not sys.stdout:
            stream.close()
    if args.output:
        print(f"exported {count} entries to {args.output}", file=sys.stderr)
    return 0


async def cmd_import(args: argparse.Namespace, config: Config) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"consentry: error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    fmt = blocklist_io.detect_format(text) if args.format == "auto" else args.format
    source = "import" if args.file == "-" else f"import:{Path(args.file).name}"
    progress = Progress("reading rows")
    parsed = blocklist_io.parse(
        text, fmt, default_source=source, added_by=_who(), on_row=progress.advance
    )
    progress.close()
    for error in parsed.errors:
        print(f"{args.file}: {error} (skipped)", file=sys.stderr)
    async with await open_storage(config.storage_url) as storage:
        # One transaction: the good rows land together or, on any failure, not at all.
        result = await storage.blocklist.add(parsed.entries)
    added, duplicates = len(result.added), len(result.duplicates)
    print(
        f"imported {added} entries from {args.file}"
        f" ({duplicates} already present, {len(parsed.errors)} rows skipped)"
    )
    return 1 if parsed.errors else 0

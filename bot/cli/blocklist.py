"""``consentry blocklist``: add, list, remove, export and import entries (vPDQ lists too)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from bot.cli._paths import existing_paths, iter_files
from bot.cli.progress import Progress
from bot.config import Config
from bot.core import blocklist_io, vpdq
from bot.core.blocklist import NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.media import UnscannableMedia
from bot.storage import open_storage


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "blocklist",
        help="manage the instance-wide hash blocklist",
        description="Add, list, remove, export and import blocklist entries. Entries added "
        "here are instance-wide; imported ones take the scope their file (or --guild) names.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        parents=[common],
        help="hash image or video files and add them as instance-wide entries",
        description="Adds a SHA-256 entry for each file, plus PDQ and pHash entries for each "
        "distinct sampled frame whose PDQ quality is high enough to match reliably, and derived "
        "entries that catch edited copies: the picture inside its borders or screenshot chrome, "
        "and (still images) pHashes of 80-90%% crops.",
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
        help="add entries from a CSV or JSON export, or from a vPDQ video hash list",
        description="CSV and JSON (the export formats) carry each entry's scope, reason and "
        "allow flag. A vPDQ list (Meta's per-frame video hashes: the "
        "frame_number,quality,pdq_hex,timestamp lines vpdq-hash-video writes, or "
        'python-threatexchange\'s JSON list of "pdq_hex,quality,timestamp" strings) becomes '
        "one PDQ entry per kept frame, instance-wide unless --guild is given; a re-upload then "
        "matches when any of its sampled frames lies within the PDQ match distance of one. "
        "Dropped from a vPDQ list: frames below the PDQ quality floor ([matching] "
        "pdq_min_quality), frames within --prune-distance bits of the previous kept frame, and "
        "repeats of an earlier frame's hash; the counts are printed. The whole file is read into "
        "memory; there is no limit on its length. Bad rows or lines are reported with their "
        "line number (entry number in JSON) and skipped; the good ones are added in one "
        "transaction. Exit status 1 if any row was skipped.",
    )
    imp.add_argument("file", metavar="FILE", help="file to import ('-' for stdin)")
    imp.add_argument(
        "--format",
        choices=("auto", *blocklist_io.IMPORT_FORMATS),
        default="auto",
        help="the file's format (default: auto, which recognises a vPDQ list by its first line)",
    )
    vpdq_options = imp.add_argument_group("vPDQ lists only")
    vpdq_options.add_argument(
        "--guild",
        type=int,
        metavar="ID",
        help="add the entries for this server only (default: instance-wide)",
    )
    vpdq_options.add_argument(
        "--reason",
        help="why the video is blocked; each entry's reason adds the file name, frame number "
        "and timestamp",
    )
    vpdq_options.add_argument(
        "--prune-distance",
        type=int,
        metavar="BITS",
        help="drop a frame within this PDQ distance of the previous kept frame, as vPDQ's "
        f"frame pruning does (default: {vpdq.DEFAULT_PRUNE_DISTANCE}; 0 keeps every frame "
        "that differs from the one before)",
    )
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
                for algorithm, value in print_.entries
            ]
            result = await storage.blocklist.add(entries)
            for note in print_.notes:
                print(f"{path}: note: {note}", file=sys.stderr)
            # The file's own hashes by id; the derived ones (edited copies) only counted.
            derived = set(print_.derived) - set(print_.hashes)
            own = [e for e in result.added if (e.algorithm, e.value) not in derived]
            extra = len(result.added) - len(own)
            ids = ", ".join(f"#{e.id} {e.algorithm.value}" for e in own) or "none"
            ids += f" (+{extra} for edited copies)" if extra else ""
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
            print(f"{row}  {_shown(e.value)}  {e.reason}")
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
                print(f"#{entry_id}: removed ({removed.algorithm.value} {_shown(removed.value)})")
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
    name = None if args.file == "-" else Path(args.file).name
    source = "import" if name is None else f"import:{name}"
    vpdq_only = {
        "--guild": args.guild,
        "--reason": args.reason,
        "--prune-distance": args.prune_distance,
    }
    given = [option for option, value in vpdq_only.items() if value is not None]
    if fmt != "vpdq" and given:
        # CSV and JSON rows name their own scope and reason: silently ignoring these would mislead.
        print(
            f"consentry: error: {', '.join(given)} apply to vPDQ lists only, and {args.file} was "
            f"read as {fmt.upper()} (its rows carry their own scope and reason)",
            file=sys.stderr,
        )
        return 2
    try:
        options = blocklist_io.VpdqImport(
            video=name or "",
            guild_id=args.guild,
            reason=args.reason or "",
            min_quality=config.matching.pdq_min_quality,
            prune_distance=(
                vpdq.DEFAULT_PRUNE_DISTANCE if args.prune_distance is None else args.prune_distance
            ),
        )
    except ValueError as exc:
        print(f"consentry: error: {exc}", file=sys.stderr)
        return 2
    progress = Progress("reading rows")
    parsed = blocklist_io.parse(
        text,
        fmt,
        default_source=source,
        added_by=_who(),
        on_row=progress.advance,
        vpdq_import=options,
    )
    progress.close()
    for error in parsed.errors:
        print(f"{args.file}: {error} (skipped)", file=sys.stderr)
    for note in parsed.notes:
        print(f"{args.file}: note: {note}", file=sys.stderr)
    async with await open_storage(config.storage_url) as storage:
        # One transaction: the good rows land together or, on any failure, not at all.
        result = await storage.blocklist.add(parsed.entries)
    added, duplicates = len(result.added), len(result.duplicates)
    print(
        f"imported {added} entries from {args.file}"
        f" ({duplicates} already present, {len(parsed.errors)} rows skipped)"
    )
    return 1 if parsed.errors else 0


def _shown(value: str) -> str:
    """A hash as listed: whole, except a 2048-digit CLIP embedding (``export`` gives it whole)."""
    return value if len(value) <= 64 else f"{value[:16]}…({len(value)} hex digits)"

"""``consentry blocklist``: add, list, remove, export and import entries, in every list format."""

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
from bot.core.hash_lists import ParsedFile, line_ranges, split_places
from bot.core.media import UnscannableMedia
from bot.storage import ApplyResult, open_storage


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

    export = actions.add_parser(
        "export",
        parents=[common],
        help="write every entry in one of the list formats",
        description="csv and json carry every column of every entry. The hash-sharing formats "
        "hold what they can say: stopncii (ImagePDQ and VideoMD5 records, Active), te "
        "(ThreatExchange-style signal rows: pdq, video_md5, sha256, phash), hma (one bank "
        "content per entry) and pdq-list, md5-list, sha256-list (bare hashes of that kind). "
        "Allow-list entries and kinds a format has no name for are left out, and counted.",
    )
    export.add_argument("--format", choices=blocklist_io.FORMATS, default="csv")
    export.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(handler=cmd_export)

    imp = actions.add_parser(
        "import",
        parents=[common],
        help="add (and withdraw) entries from a hash list in any supported format",
        description="Reads Consentry's CSV and JSON exports, StopNCII-style hash records, "
        "ThreatExchange-style signal rows, Meta HMA bank exports, plain lists of PDQ, MD5 or "
        "SHA-256 hashes, and vPDQ video hash lists (see the README for each). A StopNCII "
        "record whose hashStatus is Withdrawn or Deleted, or a disabled HMA bank content, "
        "removes the entry of that hash that the same source added. The import is "
        "all-or-nothing: if any row is invalid, nothing is imported, and every invalid row is "
        "listed with its line (entry or record number in JSON). Otherwise every row lands in "
        "one transaction, and the report lists the lines added, already present (duplicates), "
        "withdrawn and skipped on purpose (hash kinds Consentry does not match, such as URLs). "
        "Exit status: 0 imported, 1 refused for invalid rows, 2 unusable file or options. The "
        "whole file is read into memory. vPDQ lists: one PDQ entry per kept frame; frames below "
        "the PDQ quality floor ([matching] pdq_min_quality), within --prune-distance bits of "
        "the previous kept frame, or repeating an earlier frame are dropped and counted.",
    )
    imp.add_argument("file", metavar="FILE", help="file to import ('-' for stdin)")
    imp.add_argument(
        "--format",
        choices=("auto", *blocklist_io.IMPORT_FORMATS),
        default="auto",
        help="the file's format (default: auto, which recognises every format by its content "
        "except a plain list of 64-digit hashes, which may be PDQ or SHA-256: name it)",
    )
    imp.add_argument(
        "--source",
        metavar="NAME",
        help="the list the entries belong to (default: import:<file name>; hma:<bank> for an "
        "HMA bank); a later file of the same list withdraws entries by this name",
    )
    imp.add_argument(
        "--guild",
        type=int,
        metavar="ID",
        help="add the entries for this server only (default: instance-wide); for every format "
        "but csv and json, whose rows name their own scope",
    )
    vpdq_options = imp.add_argument_group("vPDQ lists only")
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
    count = left_out = 0
    try:
        writer = blocklist_io.writer(args.format, stream)
        async with await open_storage(config.storage_url) as storage:
            async for entry in storage.blocklist.iter_all():
                if writer.write(entry):
                    count += 1
                else:
                    left_out += 1
        writer.close()
    finally:
        if stream is not sys.stdout:
            stream.close()
    if left_out:
        print(
            f"{left_out} entries left out: allow-list entries, or kinds {args.format} has no "
            "name for (export as csv or json to keep them)",
            file=sys.stderr,
        )
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
    source = args.source or ("import" if name is None else f"import:{name}")
    refused = _refused_options(args, fmt)
    if refused:
        print(f"consentry: error: {refused}", file=sys.stderr)
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
        guild_id=args.guild,
    )
    progress.close()
    for note in parsed.notes:
        print(f"{args.file}: note: {note}", file=sys.stderr)
    for skipped in parsed.skipped:
        print(f"{args.file}: {skipped} (skipped)", file=sys.stderr)
    if parsed.errors:
        for error in parsed.errors:
            print(f"{args.file}: {error}", file=sys.stderr)
        print(
            f"nothing imported from {args.file}: {len(parsed.errors)} invalid rows (listed "
            "above); fix them and import the file again"
        )
        return 1
    async with await open_storage(config.storage_url) as storage:
        # One transaction: every row lands together or, on any failure, none does.
        result = await storage.blocklist.apply(parsed.entries, parsed.removals)
    print(import_report(args.file, fmt, parsed, result))
    return 0


def _refused_options(args: argparse.Namespace, fmt: str) -> str | None:
    """Why options given make no sense for ``fmt`` (silently ignoring them would mislead)."""
    if fmt in blocklist_io.OWN_FORMATS and args.guild is not None:
        return (
            f"--guild applies to lists that name no scope, and {args.file} was read as "
            f"{fmt.upper()} (its rows carry their own scope)"
        )
    given = [
        option
        for option, value in (("--reason", args.reason), ("--prune-distance", args.prune_distance))
        if value is not None
    ]
    if fmt != "vpdq" and given:
        return f"{', '.join(given)} apply to vPDQ lists only, and {args.file} was read as {fmt}"
    return None


def import_report(file: str, fmt: str, parsed: ParsedFile, result: ApplyResult) -> str:
    """What an import did, with the lines of each kind of row."""
    duplicates, added = split_places(parsed.entries, parsed.entry_lines, result.duplicates)
    missing, _ = split_places(parsed.removals, parsed.removal_lines, result.missing)
    lines = [
        f"imported {file} ({fmt}): {result.added} entries added, {len(duplicates)} already "
        f"present, {len(result.removed)} withdrawn, {len(parsed.skipped)} rows skipped"
    ]
    for label, places in (
        ("added", added),
        ("already present", duplicates),
        ("withdrawn but not present", missing),
    ):
        if places:
            lines.append(f"  {label}: {line_ranges(places)}")
    return "\n".join(lines)


def _shown(value: str) -> str:
    """A hash as listed: whole, except a 2048-digit CLIP embedding (``export`` gives it whole)."""
    return value if len(value) <= 64 else f"{value[:16]}…({len(value)} hex digits)"

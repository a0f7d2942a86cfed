"""`/blocklist` helpers: reading a server's entries, the export file, the text of replies."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence, Set
from typing import Literal

import discord

from bot.core import blocklist_io
from bot.core.blocklist import Algorithm, BlocklistEntry
from bot.core.hash_lists import ParsedFile, line_ranges
from bot.storage import AddResult, ApplyResult, Storage
from cogs._common import clip, name_of

ExportFormat = Literal[
    "csv", "json", "stopncii", "te", "hma", "pdq-list", "md5-list", "sha256-list"
]
"""Discord's choices for an export: :data:`bot.core.blocklist_io.FORMATS`."""
ImportFormat = Literal[
    "auto", "csv", "json", "stopncii", "te", "hma", "pdq-list", "md5-list", "sha256-list", "vpdq"
]
"""Discord's choices for an import: auto, then :data:`bot.core.blocklist_io.IMPORT_FORMATS`."""
ReviewOpinion = Literal["confirm", "dispute"]
"""A moderator's opinion of an entry from a list (``/blocklist review``)."""

PAGE_SIZE = 15
ERRORS_SHOWN = 10
"""Bad import rows listed by line; the rest are only counted (a reply holds 2,000 characters)."""
_BATCH = 1000
_REASON_SHOWN = 40
_ERROR_SHOWN = 150


async def server_entries(storage: Storage, guild_id: int) -> list[BlocklistEntry]:
    """Every entry scoped to server ``guild_id``, oldest first."""
    # A server's own entries are few (the bulk lists are instance-wide): read them all.
    entries: list[BlocklistEntry] = []
    while True:
        after = entries[-1].id if entries else 0
        batch = await storage.blocklist.list(guild_id=guild_id, limit=_BATCH, after_id=after)
        entries.extend(batch)
        if len(batch) < _BATCH:
            return entries


def export_bytes(entries: Iterable[BlocklistEntry], fmt: str) -> bytes:
    """``entries`` in the CLI's export format ``fmt``, UTF-8 (entries the format cannot hold are
    left out)."""
    stream = io.StringIO()
    writer = blocklist_io.writer(fmt, stream)
    for entry in entries:
        writer.write(entry)
    writer.close()
    return stream.getvalue().encode("utf-8")


def added_text(
    file: discord.Attachment,
    result: AddResult,
    notes: Sequence[str],
    derived: Set[tuple[Algorithm, str]] = frozenset(),
) -> str:
    """The reply to ``/blocklist add``: the new entry ids (the file's own hashes; those derived
    for edited copies are counted), duplicates and hashing notes."""
    if result.added:
        own = [e for e in result.added if (e.algorithm, e.value) not in derived]
        extra = len(result.added) - len(own)
        ids = ", ".join(f"#{e.id} {e.algorithm.value}" for e in own) or "none new"
        more = f" (+{extra} for edited copies: borders, screenshots, captions, crops)"
        lines = [f"Added {name_of(file)} to this server's blocklist: {ids}{more if extra else ''}."]
        if result.duplicates:
            lines.append(f"{len(result.duplicates)} of its hashes were blocked here already.")
        lines.append("Copies posted from now on match it, re-encoded and resized ones too.")
    else:
        lines = [f"{name_of(file)} is blocked in this server already: nothing added."]
    lines.extend(f"Note: {note}." for note in notes)
    return "\n".join(lines)


def list_text(entries: Sequence[BlocklistEntry], page: int) -> str:
    """One page of a server's entries, oldest first, with the way to the next page."""
    if not entries:
        return (
            "This server's blocklist is empty. Add a file with `/blocklist add`, or import a "
            "list with `/blocklist import`."
        )
    pages = -(-len(entries) // PAGE_SIZE)
    if page > pages:
        return f"There are only {pages} page(s) of entries ({len(entries)} entries)."
    shown = entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    lines = [f"**This server's blocklist**: page {page} of {pages} ({len(entries)} entries)"]
    for e in shown:
        kind = "allow" if e.allow else "block"
        reason = e.reason if len(e.reason) <= _REASON_SHOWN else e.reason[: _REASON_SHOWN - 1] + "…"
        when = e.added_at.strftime("%Y-%m-%d")
        row = f"`#{e.id}` {kind} {e.algorithm.value} `{e.value[:16]}…` {when}"
        lines.append(f"{row} {discord.utils.escape_markdown(reason)}".rstrip())
    if page < pages:
        lines.append(f"Next: `/blocklist list page:{page + 1}`")
    return "\n".join(lines)


def import_text(
    file: discord.Attachment, parsed: ParsedFile, result: ApplyResult | None, rescoped: int
) -> str:
    """The reply to ``/blocklist import``: every row's fate by line, or, when a row is invalid
    (``result`` None: nothing was imported), the invalid rows."""
    if result is None:
        lines = [
            f"Nothing imported from {name_of(file)}: {len(parsed.errors)} invalid rows. Fix them "
            "and import the file again (an import is all or nothing)."
        ]
        for error in parsed.errors[:ERRORS_SHOWN]:
            lines.append(f"- {clip(str(error), _ERROR_SHOWN)}")
        if len(parsed.errors) > ERRORS_SHOWN:
            lines.append(f"- … and {len(parsed.errors) - ERRORS_SHOWN} more")
        return "\n".join(lines)
    repeated = {id(e) for e in result.duplicates}
    present = [
        w for e, w in zip(parsed.entries, parsed.entry_lines, strict=True) if id(e) in repeated
    ]
    lines = [
        f"Imported {name_of(file)} into this server's blocklist: {result.added} entries "
        f"added, {len(result.duplicates)} already present, {len(result.removed)} withdrawn, "
        f"{len(parsed.skipped)} rows skipped."
    ]
    if present:
        lines.append(f"Already present: {clip(line_ranges(present), _ERROR_SHOWN)}.")
    if parsed.skipped:
        skipped = line_ranges([row.where for row in parsed.skipped])
        lines.append(f"Skipped (not a hash Consentry matches): {clip(skipped, _ERROR_SHOWN)}.")
    # Said every time: a file exported from another server or the CLI names other scopes.
    elsewhere = f" ({rescoped} rows named instance-wide or another server)" if rescoped else ""
    lines.append(
        f"Every entry imported here applies to this server only, whatever scope the file names"
        f"{elsewhere}; instance-wide lists are imported by the operator with the CLI."
    )
    # A vPDQ list's notes say how many frames were dropped, and why.
    lines.extend(f"{note}." for note in parsed.notes)
    return "\n".join(lines)


def counts_text(entries: Sequence[BlocklistEntry], totals: dict[str, int], indexed: int) -> str:
    """Server entries by algorithm and allow-list, the instance's totals, the live index size."""
    mine = {a.value: 0 for a in Algorithm}
    allowed = 0
    for e in entries:
        if e.allow:
            allowed += 1
        else:
            mine[e.algorithm.value] += 1
    instance = ", ".join(f"{k} {n}" for k, n in totals.items() if k != "allow")
    return "\n".join(
        [
            f"**This server**: {sum(mine.values())} blocking ("
            + ", ".join(f"{k} {n}" for k, n in mine.items())
            + f"), {allowed} allow-list",
            f"**Whole instance** (instance-wide and every server's): {instance}, "
            f"{totals.get('allow', 0)} allow-list",
            f"**Live match index**: {indexed} entries loaded",
        ]
    )

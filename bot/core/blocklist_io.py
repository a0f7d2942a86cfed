"""Blocklist files: export to and import from CSV and JSON; import vPDQ video hash lists.

CSV columns: ``algorithm,hash,scope,allow,source,reason,added_by,added_at,id``; only ``algorithm``
and ``hash`` are required on import. ``scope`` is ``instance`` or a server id; ``allow`` is
``true``/``false``. JSON is ``{"format": "consentry-blocklist", "version": 1, "entries": [...]}``
with the same keys per entry (a bare list of entries is accepted on import). On import, ``id`` and
``added_at`` are ignored: entries get new ids and the time of import.

A vPDQ list (``bot.core.vpdq``: Meta's per-frame video hashes) is import-only: its frames, less
those ``vpdq.select`` drops, become PDQ entries. The list names no scope, reason or video, so
those come from ``VpdqImport``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TextIO

from bot.core import exchange_formats, vpdq
from bot.core.blocklist import Algorithm, BlocklistEntry, NewEntry
from bot.core.exchange_formats import ExchangeWriter
from bot.core.hash_lists import Collector, ParsedFile, RowError

OWN_FORMATS = ("csv", "json")
"""Consentry's own formats, which carry every column of an entry."""
FORMATS = (*OWN_FORMATS, *exchange_formats.FORMATS)
"""The formats entries are exported in (and read back from)."""
IMPORT_FORMATS = (*FORMATS, "vpdq")
"""Everything ``parse`` reads."""
CSV_COLUMNS = (
    "algorithm",
    "hash",
    "scope",
    "allow",
    "source",
    "reason",
    "added_by",
    "added_at",
    "id",
)
JSON_FORMAT = "consentry-blocklist"
JSON_VERSION = 1
_TEXT_LIMIT = 500
# Room left in a vPDQ entry's reason for the user's words, after the video's name and frame.
_VPDQ_REASON_LIMIT = 300
_VPDQ_NAME_LIMIT = 120


@dataclass(frozen=True, slots=True)
class VpdqImport:
    """How a vPDQ list's frames become entries (the list itself names none of this)."""

    video: str = ""
    """The video the list was made from, as each entry's reason names it (e.g. the file name)."""
    guild_id: int | None = None
    """The one server the entries apply to; None: instance-wide."""
    reason: str = ""
    """Why the video is blocked; each entry's reason adds the video and frame."""
    min_quality: int = vpdq.DEFAULT_MIN_QUALITY
    prune_distance: int = vpdq.DEFAULT_PRUNE_DISTANCE

    def __post_init__(self) -> None:
        if len(self.reason) > _VPDQ_REASON_LIMIT:
            raise ValueError(f"the reason is longer than {_VPDQ_REASON_LIMIT} characters")
        if self.guild_id is not None and self.guild_id <= 0:
            raise ValueError(f"a server id must be positive, got {self.guild_id}")
        vpdq.check_selection(self.min_quality, self.prune_distance)


def entry_to_dict(entry: BlocklistEntry) -> dict[str, Any]:
    """The export form of one entry."""
    return {
        "algorithm": entry.algorithm.value,
        "hash": entry.value,
        "scope": "instance" if entry.guild_id is None else str(entry.guild_id),
        "allow": entry.allow,
        "source": entry.source,
        "reason": entry.reason,
        "added_by": entry.added_by,
        "added_at": entry.added_at.isoformat(),
        "id": entry.id,
    }


class CsvWriter:
    """Writes entries as CSV rows to a text stream, one at a time, so large lists stream."""

    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, lineterminator="\n")
        self._writer.writeheader()

    def write(self, entry: BlocklistEntry) -> bool:
        """Write one entry (CSV holds every entry: always True)."""
        row = entry_to_dict(entry)
        row["allow"] = "true" if entry.allow else "false"
        self._writer.writerow(row)
        return True

    def close(self) -> None:
        """Nothing to finish for CSV (present so both writers share one shape)."""


class JsonWriter:
    """Writes the JSON document incrementally: header, one entry per line, closing brackets."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._count = 0
        stream.write(f'{{"format": "{JSON_FORMAT}", "version": {JSON_VERSION}, "entries": [')

    def write(self, entry: BlocklistEntry) -> bool:
        """Write one entry (JSON holds every entry: always True)."""
        self._stream.write("\n  " if self._count == 0 else ",\n  ")
        self._stream.write(json.dumps(entry_to_dict(entry), ensure_ascii=False))
        self._count += 1
        return True

    def close(self) -> None:
        self._stream.write("\n]}\n")


Writer = CsvWriter | JsonWriter | ExchangeWriter


def writer(fmt: str, stream: TextIO) -> Writer:
    """A writer of ``fmt`` (one of :data:`FORMATS`) to ``stream``."""
    if fmt == "csv":
        return CsvWriter(stream)
    if fmt == "json":
        return JsonWriter(stream)
    return ExchangeWriter(stream, fmt)


def detect_format(text: str) -> str:
    """The format ``text`` reads as: ``vpdq`` when it starts like a vPDQ list, a format of the
    hash-sharing ecosystem when it says so (:func:`bot.core.exchange_formats.detect`), ``json``
    when it starts with ``{`` or ``[``, else ``csv``."""
    if vpdq.looks_like_vpdq(text):
        return "vpdq"
    found = exchange_formats.detect(text)
    if found is not None:
        return found
    return "json" if text.lstrip()[:1] in ("{", "[") else "csv"


def parse(
    text: str,
    fmt: str,
    *,
    default_source: str,
    added_by: str,
    on_row: Callable[[], None] | None = None,
    vpdq_import: VpdqImport | None = None,
    guild_id: int | None = None,
) -> ParsedFile:
    """Parse a hash list; good rows become NewEntry values (or Removals), bad rows RowErrors.

    ``on_row`` is called after each row, for progress reporting. ``vpdq_import`` applies to
    the ``vpdq`` format only (default: instance-wide, the scanner's default quality floor).
    ``guild_id`` is the scope of the entries of formats that name none (all but CSV and JSON).
    """
    tick = on_row or _nothing
    out = Collector(source=default_source, added_by=added_by, guild_id=guild_id)
    if fmt == "csv":
        return _parse_csv(text, out, tick)
    if fmt == "json":
        return _parse_json(text, out, tick)
    if fmt == "vpdq":
        options = vpdq_import or VpdqImport(guild_id=guild_id)
        return _parse_vpdq(text, default_source, added_by, tick, options)
    if fmt in exchange_formats.FORMATS:
        return exchange_formats.parse(text, fmt, out, tick)
    raise ValueError(f"unknown format {fmt!r} (expected one of: {', '.join(IMPORT_FORMATS)})")


def _nothing() -> None:
    pass


def _parse_csv(text: str, out: Collector, tick: Callable[[], None]) -> ParsedFile:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or ()]
    missing = {"algorithm", "hash"} - set(fields)
    if missing:
        out.error("line 1", f"header must name the columns algorithm and hash (got {fields})")
        return out.result()
    reader.fieldnames = fields
    for row in reader:
        tick()
        where = f"line {reader.line_num}"
        if None in row:
            out.error(where, "more values than header columns")
            continue
        out.add(where, partial(_entry, row, out.source, out.added_by))
    return out.result()


def _parse_json(text: str, out: Collector, tick: Callable[[], None]) -> ParsedFile:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        out.error(f"line {exc.lineno}", f"not valid JSON: {exc.msg}")
        return out.result()
    if isinstance(document, dict):
        if document.get("format") != JSON_FORMAT:
            out.error("document", f'not a Consentry blocklist (expected "format": "{JSON_FORMAT}")')
            return out.result()
        if document.get("version") != JSON_VERSION:
            version = document.get("version")
            out.error("document", f"unsupported version {version!r} (expected {JSON_VERSION})")
            return out.result()
        document = document.get("entries")
    if not isinstance(document, list):
        out.error("document", "expected a list of entries")
        return out.result()
    for i, item in enumerate(document, start=1):
        tick()
        if not isinstance(item, dict):
            out.error(f"entry {i}", "must be an object")
            continue
        out.add(f"entry {i}", partial(_entry, item, out.source, out.added_by))
    return out.result()


def _parse_vpdq(
    text: str, source: str, added_by: str, tick: Callable[[], None], options: VpdqImport
) -> ParsedFile:
    parsed = vpdq.parse(text, tick)
    errors = list(parsed.errors)
    if not parsed.features and not parsed.errors:
        return ParsedFile([], [RowError("document", "no frame hashes: the vPDQ list is empty")])
    chosen = vpdq.select(
        parsed.features, min_quality=options.min_quality, prune_distance=options.prune_distance
    )
    entries = [
        NewEntry(Algorithm.PDQ, f.pdq, options.guild_id, source, _vpdq_reason(f, options), added_by)
        for f in chosen.kept
    ]
    notes = [
        f"{len(parsed.features)} vPDQ frames read, {len(chosen.kept)} kept as PDQ entries",
    ]
    if chosen.low_quality:
        notes.append(
            f"{_frames(chosen.low_quality)} below PDQ quality {options.min_quality} dropped "
            "(too featureless to match reliably)"
        )
    if chosen.pruned:
        notes.append(
            f"{_frames(chosen.pruned)} within {options.prune_distance} bits of the previous kept "
            "frame dropped"
        )
    if chosen.repeated:
        notes.append(f"{_frames(chosen.repeated)} repeating an earlier frame's hash dropped")
    lines = [
        f"frame {f.frame_number}" if f.frame_number is not None else "frame" for f in chosen.kept
    ]
    return ParsedFile(entries, errors, notes, entry_lines=lines)


def _vpdq_reason(feature: vpdq.Feature, options: VpdqImport) -> str:
    video = options.video
    if len(video) > _VPDQ_NAME_LIMIT:
        video = f"{video[: _VPDQ_NAME_LIMIT - 1]}…"
    frame = "frame" if feature.frame_number is None else f"frame {feature.frame_number}"
    where = f"vPDQ {video} {frame}" if video else f"vPDQ {frame}"
    where = f"{where} at {feature.timestamp:.3f} s"
    return f"{options.reason} ({where})" if options.reason else where


def _entry(row: Mapping[str, Any], default_source: str, added_by: str) -> NewEntry:
    algorithm = Algorithm.parse(_text(row, "algorithm"))
    return NewEntry(
        algorithm=algorithm,
        value=_text(row, "hash", limit=max(_TEXT_LIMIT, algorithm.hex_length)),
        guild_id=_scope(row.get("scope")),
        source=_text(row, "source", default_source),
        reason=_text(row, "reason", ""),
        added_by=_text(row, "added_by", added_by),
        allow=_flag(row.get("allow")),
    )


def _text(
    row: Mapping[str, Any], key: str, default: str | None = None, *, limit: int = _TEXT_LIMIT
) -> str:
    value = row.get(key)
    if value is None or value == "":
        if default is None:
            raise ValueError(f"missing {key}")
        return default
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text")
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit} characters")
    return value.strip()


def _scope(value: Any) -> int | None:
    if value in (None, "", "instance"):
        return None
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"scope must be 'instance' or a server id, got {value!r}")
    return int(text)


def _flag(value: Any) -> bool:
    if value in (None, "", False, "false", "False", "0", 0, "no"):
        return False
    if value in (True, "true", "True", "1", 1, "yes"):
        return True
    raise ValueError(f"allow must be true or false, got {value!r}")


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"

"""The hash-sharing ecosystem's list formats, read and written.

- ``stopncii``: StopNCII-style hash records, as its FetchHashes API pages them
  (``{"count", "hashRecords": [...], "nextPageToken", "hasMoreRecords"}``), a bare list of records,
  or one record per line. Each record: ``signalType`` (``ImagePDQ``, ``VideoMD5``; ``VideoTMK``,
  ``Text``, ``URL`` are skipped: Consentry does not match them), ``hashValue``, ``hashStatus``
  (``Received`` and ``Active`` add the entry; ``Withdrawn`` and ``Deleted`` remove it),
  ``caseNumbers`` (kept in the entry's reason) and ``lastModtimestamp``. The status decides, not
  the hash value: python-threatexchange's StopNCII client compares ``hashValue`` with the
  withdrawn statuses, so it never removes a withdrawn hash; a victim's withdrawal here takes
  effect.
- ``te``: ThreatExchange-style signal rows, one per line: signal type, hash, then optional tags,
  separated by spaces, tabs or commas (python-threatexchange's local file exchange reads and
  writes ``pdq <hash>`` lines). Types: ``pdq``; ``video_md5``, ``photo_md5`` and ``md5``;
  ``sha256``; ``phash``. Others (``url``, ``raw_text``, ``video_tmk``...) are skipped.
- ``hma``: Meta HMA bank contents. HMA has no bank export file, so this is a JSON list of the
  content objects its curation API returns (``GET /c/bank/<bank>/content/<id>?include_signals=
  true``): ``id``, ``disable_until_ts``, ``collab_metadata``, ``original_media_uri``, ``bank``
  (``name``, ``matching_enabled_ratio``) and ``signals`` (HMA's signal type names to hashes),
  plus an optional ``note``. ``{"bank": {...}, "contents": [...]}`` is read as well. As in HMA,
  ``disable_until_ts`` 1 is enabled, 0 disabled, and any other value disabled until that Unix
  time; a bank whose ``matching_enabled_ratio`` is 0 is disabled. A disabled content's hashes
  are removed (a later refresh adds back one whose time has come). The bank's name names the
  source (``hma:<name>``).
- ``pdq-list``, ``md5-list``, ``sha256-list``: one hash per line, ``#`` comments and blank lines
  ignored.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from bot.core.blocklist import Algorithm, BlocklistEntry
from bot.core.hash_lists import Collector, ParsedFile

STOPNCII_TYPES = {"ImagePDQ": Algorithm.PDQ, "VideoMD5": Algorithm.MD5}
_STOPNCII_OTHER = {"VideoTMK", "Text", "URL", "Unknown"}
_STOPNCII_ACTIVE = {"Received", "Active"}
_STOPNCII_GONE = {"Withdrawn", "Deleted"}
TE_TYPES = {
    "pdq": Algorithm.PDQ,
    "video_md5": Algorithm.MD5,
    "photo_md5": Algorithm.MD5,
    "md5": Algorithm.MD5,
    "sha256": Algorithm.SHA256,
    "phash": Algorithm.PHASH,
}
_TE_NAMES = {Algorithm.PDQ: "pdq", Algorithm.MD5: "video_md5", Algorithm.SHA256: "sha256"}
_TE_NAMES[Algorithm.PHASH] = "phash"
_TE_OTHER = {"url", "raw_text", "trend_query", "video_tmk", "tmk", "vpdq", "text"}
PLAIN = {"pdq-list": Algorithm.PDQ, "md5-list": Algorithm.MD5, "sha256-list": Algorithm.SHA256}
FORMATS = ("stopncii", "te", "hma", *PLAIN)
_HMA_BANK = {"name": "CONSENTRY", "matching_enabled_ratio": 1.0}
_SPLIT = re.compile(r"[\s,]+")


def parse(text: str, fmt: str, out: Collector, tick: Callable[[], None]) -> ParsedFile:
    """Read ``text`` in ``fmt`` (one of :data:`FORMATS`) into ``out``."""
    if fmt == "stopncii":
        _stopncii(text, out, tick)
    elif fmt == "te":
        _te(text, out, tick)
    elif fmt == "hma":
        _hma(text, out, tick)
    elif fmt in PLAIN:
        _plain(text, PLAIN[fmt], out, tick)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return out.result()


def detect(text: str) -> str | None:
    """The format of ``text`` if it is one of these and says so; None otherwise. A plain list
    of 64-digit hashes cannot say whether it holds PDQ or SHA-256: it is not detected."""
    head = text.lstrip()[:4096]
    if head.startswith(("{", "[")):
        if '"hashRecords"' in head or '"signalType"' in head:
            return "stopncii"
        if '"signals"' in head and ('"contents"' in head or '"bank' in head):
            return "hma"
        return None
    first = next((line for line in _lines(text) if line[1]), None)
    if first is None:
        return None
    tokens = _SPLIT.split(first[1], maxsplit=1)
    if tokens[0].lower() in TE_TYPES | dict.fromkeys(_TE_OTHER) and len(tokens) > 1:
        return "te"
    if re.fullmatch(r"[0-9a-fA-F]{32}", first[1]):
        return "md5-list"
    return None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        yield number, raw.split("#", 1)[0].strip()


def _stopncii(text: str, out: Collector, tick: Callable[[], None]) -> None:
    records, kind = _records(text, out, "hashRecords")
    stopncii_records(records, out, tick)
    if kind == "page":
        out.note("one FetchHashes page read; fetch the others to have the whole list")


def stopncii_records(
    records: list[tuple[str, Any]], out: Collector, tick: Callable[[], None] = lambda: None
) -> None:
    """StopNCII-style hash records (each with where it is) into ``out``: Received and Active
    add, Withdrawn and Deleted remove, by ``hashStatus``."""
    for where, record in records:
        tick()
        if not isinstance(record, dict):
            out.error(where, "a hash record must be an object")
            continue
        signal, value, status = (record.get(k) for k in ("signalType", "hashValue", "hashStatus"))
        if signal in _STOPNCII_OTHER:
            out.skip(where, f"{signal} is not a hash Consentry matches")
            continue
        algorithm = STOPNCII_TYPES.get(str(signal))
        if algorithm is None:
            out.error(where, f"unknown signalType {signal!r} (expected ImagePDQ or VideoMD5)")
        elif not isinstance(value, str):
            out.error(where, "hashValue must be text")
        elif status in _STOPNCII_GONE:
            out.remove(where, algorithm, value)
        elif status in _STOPNCII_ACTIVE:
            cases = record.get("caseNumbers") or {}
            named = ", ".join(sorted(str(c) for c in cases)) if isinstance(cases, dict) else ""
            out.entry(where, algorithm, value, f"StopNCII cases {named}" if named else "StopNCII")
        else:
            out.error(where, f"unknown hashStatus {status!r} (expected {_statuses()})")


def _statuses() -> str:
    return ", ".join(sorted(_STOPNCII_ACTIVE | _STOPNCII_GONE))


def _records(text: str, out: Collector, key: str) -> tuple[list[tuple[str, Any]], str]:
    """A JSON document's records (under ``key``, or a bare list), or JSON Lines."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and exc.lineno > 1:  # JSON Lines: one object a line
            return _json_lines(text, out), "lines"
        out.error(f"line {exc.lineno}", f"not valid JSON: {exc.msg}")
        return [], "none"
    if isinstance(document, dict) and isinstance(document.get(key), list):
        kind = "page" if document.get("hasMoreRecords") else "document"
        return [(f"record {i}", r) for i, r in enumerate(document[key], start=1)], kind
    if isinstance(document, dict) and key == "hashRecords" and "signalType" in document:
        return [("record 1", document)], "document"
    if isinstance(document, list):
        return [(f"record {i}", r) for i, r in enumerate(document, start=1)], "document"
    out.error("document", f'expected a list of records, or an object with "{key}"')
    return [], "none"


def _json_lines(text: str, out: Collector) -> list[tuple[str, Any]]:
    records: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            out.error(f"line {number}", f"not valid JSON: {exc.msg}")
    return records


def _te(text: str, out: Collector, tick: Callable[[], None]) -> None:
    for number, line in _lines(text):
        if not line:
            continue
        tick()
        where = f"line {number}"
        kind, *rest = _SPLIT.split(line)
        kind = kind.lower()
        if kind in ("signal_type", "type") and number == 1:
            continue  # a header row
        if kind in _TE_OTHER:
            out.skip(where, f"{kind} is not a hash Consentry matches")
        elif kind not in TE_TYPES:
            out.error(
                where, f"unknown signal type {kind!r} (expected one of {', '.join(TE_TYPES)})"
            )
        elif not rest:
            out.error(where, "missing the hash after the signal type")
        else:
            tags = " ".join(rest[1:])
            out.entry(where, TE_TYPES[kind], rest[0], f"tags: {tags}" if tags else "")


def _hma(text: str, out: Collector, tick: Callable[[], None]) -> None:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        out.error(f"line {exc.lineno}", f"not valid JSON: {exc.msg}")
        return
    contents: Any = document
    bank: Any = None
    if isinstance(document, dict):
        bank = document.get("bank")
        contents = document.get("contents", document.get("content"))
    if not isinstance(contents, list):
        out.error("document", 'expected a list of bank contents, or an object with "contents"')
        return
    if bank is None and contents and isinstance(contents[0], dict):
        bank = contents[0].get("bank")  # as HMA's API shows it: each content names its bank
    name = bank.get("name") if isinstance(bank, dict) else None
    if isinstance(name, str) and name and out.source.startswith("import"):
        out.source = f"hma:{name}"
    now = time.time()
    for i, content in enumerate(contents, start=1):
        tick()
        where = f"content {i}"
        signals = content.get("signals") if isinstance(content, dict) else None
        if not isinstance(signals, dict) or not signals:
            out.error(where, 'a bank content must be an object with "signals"')
            continue
        enabled = _hma_enabled(content, now)
        if enabled is None:
            out.error(where, "disable_until_ts must be a whole number (0, 1 or a Unix time)")
            continue
        for kind, value in signals.items():
            algorithm = TE_TYPES.get(str(kind).lower())
            if algorithm is None:
                out.skip(where, f"{kind} is not a hash Consentry matches")
            elif not isinstance(value, str):
                out.error(where, f"the {kind} signal must be text")
            elif enabled:
                note = content.get("note")
                out.entry(where, algorithm, value, note if isinstance(note, str) else "")
            else:
                out.remove(where, algorithm, value)


def _hma_enabled(content: dict[str, Any], now: float) -> bool | None:
    """Whether HMA would match this content now (None: its ``disable_until_ts`` is unreadable)."""
    bank = content.get("bank")
    if isinstance(bank, dict) and bank.get("matching_enabled_ratio", 1) == 0:
        return False
    flag = content.get("enabled")
    if isinstance(flag, bool):
        return flag
    until = content.get("disable_until_ts", 1)
    if isinstance(until, bool) or not isinstance(until, int):
        return None
    return until == 1 or (until != 0 and until <= now)


def _plain(text: str, algorithm: Algorithm, out: Collector, tick: Callable[[], None]) -> None:
    for number, line in _lines(text):
        if line:
            tick()
            out.entry(f"line {number}", algorithm, line)


class ExchangeWriter:
    """Writes entries in one of :data:`FORMATS`; ``write`` says whether the format could hold
    the entry (allow entries and hashes the format has no name for are left out)."""

    def __init__(self, stream: TextIO, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self._stream, self._fmt, self._count = stream, fmt, 0
        self._stamp = int(time.time())
        if fmt == "stopncii":
            stream.write('{"hasMoreRecords": false, "hashRecords": [')
        elif fmt == "hma":
            stream.write("[")

    def write(self, entry: BlocklistEntry) -> bool:
        """Write one entry, if this format can say what it is."""
        if entry.allow:
            return False
        algorithm, fmt = entry.algorithm, self._fmt
        if fmt in PLAIN:
            line = entry.value if PLAIN[fmt] is algorithm else None
        elif fmt == "te":
            name = _TE_NAMES.get(algorithm)
            line = f"{name} {entry.value}" if name else None
        else:
            line = self._json(entry)
        if line is None:
            return False
        if fmt in ("stopncii", "hma"):
            line = ("\n  " if self._count == 0 else ",\n  ") + line
        else:
            line += "\n"
        self._stream.write(line)
        self._count += 1
        return True

    def _json(self, entry: BlocklistEntry) -> str | None:
        if self._fmt == "stopncii":
            signal = {a: s for s, a in STOPNCII_TYPES.items()}.get(entry.algorithm)
            if signal is None:
                return None
            record = {
                "signalType": signal,
                "hashValue": entry.value,
                "hashStatus": "Active",
                "caseNumbers": {},
                "lastModtimestamp": int(entry.added_at.timestamp()),
            }
            return json.dumps(record)
        name = _TE_NAMES.get(entry.algorithm)
        if name is None:
            return None
        content = {
            "id": entry.id,
            "disable_until_ts": 1,  # HMA's "enabled"
            "collab_metadata": {},
            "original_media_uri": None,
            "bank": _HMA_BANK,
            "signals": {name: entry.value},
        }
        if entry.reason:
            content["note"] = entry.reason
        return json.dumps(content, ensure_ascii=False)

    def close(self) -> None:
        """Finish the document (the JSON formats' closing brackets)."""
        if self._fmt == "stopncii":
            self._stream.write(
                f'\n], "count": {self._count}, "nextSetTimestamp": {self._stamp}}}\n'
            )
        elif self._fmt == "hma":
            self._stream.write("\n]\n")

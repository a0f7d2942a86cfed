"""Meta's vPDQ video hash lists: read them, reduce them to the PDQ hashes worth storing, write them.

vPDQ (facebook/ThreatExchange, ``vpdq/``) hashes a video as one PDQ hash per sampled frame, one
frame a second by default. Two serialisations circulate, and ``parse`` reads both:

- The hash file of the reference tools (``vpdq-hash-video``; ``vpdq/cpp/io/vpdqio.cpp`` and the
  ``vpdq/sample-hashes/*.txt`` files): one line per frame,
  ``frame_number,quality,pdq_hex,timestamp_seconds``, e.g.
  ``30,100,c0f11178...8d055c,1.000``. The timestamp is written with three decimals; older
  sample files carry fewer (``0``, ``0.0319``). Lines of the compact form below are read too.
- python-threatexchange's ``VPDQSignal`` (the form HMA banks store): a JSON list of
  ``"pdq_hex,quality,timestamp"`` strings (``VpdqCompactFeature``), whose timestamp is written
  with three significant digits, so ``1.23e+03`` occurs.

Neither format has comments or blank lines; both are skipped here (a line starting with ``#`` is a
comment), since a hand-kept list gains them and no data line can start with ``#``. PDQ hex is
``np.packbits`` of pdqhash's bit vector, the layout ``bot.core.hashing`` already uses, so a vPDQ
frame hash compares directly with the scanner's frame hashes.

The scanner matches single frames (any sampled frame within the PDQ distance of an entry), so a
list is stored as plain PDQ entries after ``select`` drops what would only cost index space:
frames below the PDQ quality floor, frames within a small distance of the previous kept frame
(vPDQ's "pruning frames") and exact repeats.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from bot.core.index import MatchThresholds

DEFAULT_MIN_QUALITY: Final = MatchThresholds().pdq_min_quality
"""Frames below this PDQ quality are dropped: the floor the scanner matches at (50), which is
also python-threatexchange's ``VPDQ_QUALITY_THRESHOLD``."""

DEFAULT_PRUNE_DISTANCE: Final = 8
"""A frame within this many bits of the previous kept frame is dropped (see ``select``)."""

_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")
_INTEGER: Final = re.compile(r"[0-9]+")
# What each line form starts with, for format detection: never a CSV header or a JSON document.
_HASH_FILE_LINE: Final = re.compile(r"\s*[0-9]+\s*,\s*[0-9]+\s*,\s*[0-9a-fA-F]{64}\s*,")
_COMPACT_LINE: Final = re.compile(r"\s*[0-9a-fA-F]{64}\s*,\s*[0-9]+\s*,")
_JSON_LIST_OF_TEXT: Final = re.compile(r"\s*\[\s*\"")


@dataclass(frozen=True, slots=True)
class Feature:
    """One hashed frame of a vPDQ list."""

    pdq: str
    """64 lowercase hex digits."""
    quality: int
    """PDQ quality, 0 (flat, featureless) to 100."""
    timestamp: float
    """Seconds from the start of the video."""
    frame_number: int | None = None
    """The frame's number in the video; the compact (python-threatexchange) form has none."""


@dataclass(frozen=True, slots=True)
class LineError:
    """A line (``line 7``) or JSON item (``entry 3``) that could not be read, and why."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParsedList:
    """The frames of a vPDQ list in file order, and the lines that could not be read."""

    features: list[Feature]
    errors: list[LineError]


@dataclass(frozen=True, slots=True)
class Selection:
    """The frames ``select`` keeps, and how many it dropped for each reason."""

    kept: list[Feature]
    low_quality: int
    pruned: int
    repeated: int


def looks_like_vpdq(text: str) -> bool:
    """Whether ``text`` starts like a vPDQ list (hash file, compact lines or a JSON list of text).

    No other import format can start this way: a CSV blocklist starts with a header naming its
    columns, a Consentry JSON document with ``{`` or a list of objects.
    """
    if _JSON_LIST_OF_TEXT.match(text):
        return True
    for line in text.lstrip("\ufeff").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        return bool(_HASH_FILE_LINE.match(line) or _COMPACT_LINE.match(line))
    return False


def parse(text: str, on_line: Callable[[], None] | None = None) -> ParsedList:
    """Read a vPDQ hash file, or python-threatexchange's JSON list of compact features.

    Every bad line becomes a ``LineError`` naming its line number (its item number in JSON);
    the good lines are still returned. ``on_line`` is called after each line, for progress.
    """
    tick = on_line or _nothing
    text = text.lstrip("\ufeff")  # the byte-order mark Windows editors write
    if text.lstrip()[:1] == "[":
        return _parse_json(text, tick)
    features: list[Feature] = []
    errors: list[LineError] = []
    # splitlines: \r\n and a missing final newline read like \n.
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            _collect(line, f"line {number}", features, errors)
        tick()
    return ParsedList(features, errors)


def _parse_json(text: str, tick: Callable[[], None]) -> ParsedList:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParsedList([], [LineError(f"line {exc.lineno}", f"not valid JSON: {exc.msg}")])
    if not isinstance(document, list):
        return ParsedList([], [LineError("document", "expected a JSON list of frame hashes")])
    features: list[Feature] = []
    errors: list[LineError] = []
    for number, item in enumerate(document, start=1):
        where = f"entry {number}"
        if isinstance(item, str):
            _collect(item, where, features, errors, compact_only=True)
        else:
            errors.append(LineError(where, 'must be text like "pdq_hex,quality,timestamp"'))
        tick()
    return ParsedList(features, errors)


def _collect(
    line: str,
    where: str,
    features: list[Feature],
    errors: list[LineError],
    *,
    compact_only: bool = False,
) -> None:
    try:
        features.append(parse_line(line, compact_only=compact_only))
    except ValueError as exc:
        errors.append(LineError(where, str(exc)))


def parse_line(line: str, *, compact_only: bool = False) -> Feature:
    """One frame: ``frame_number,quality,pdq_hex,timestamp`` or ``pdq_hex,quality,timestamp``.

    Raises ``ValueError`` saying which field is wrong.
    """
    fields = [field.strip() for field in line.split(",")]
    if len(fields) == 4 and not compact_only:
        number_text, quality_text, pdq, timestamp_text = fields
        if not _INTEGER.fullmatch(number_text):
            raise ValueError(f"frame number must be a whole number >= 0, got {number_text!r}")
        frame_number: int | None = int(number_text)
    elif len(fields) == 3:
        pdq, quality_text, timestamp_text = fields
        frame_number = None
    else:
        expected = (
            '"pdq_hex,quality,timestamp"'
            if compact_only
            else "frame_number,quality,pdq_hex,timestamp (or pdq_hex,quality,timestamp)"
        )
        raise ValueError(f"expected {expected}, got {len(fields)} fields")
    if not _HEX.fullmatch(pdq):
        raise ValueError(f"PDQ hash must be 64 hex digits, got {_clip(pdq)!r}")
    if not _INTEGER.fullmatch(quality_text) or int(quality_text) > 100:
        raise ValueError(f"quality must be a whole number from 0 to 100, got {quality_text!r}")
    try:
        timestamp = float(timestamp_text)
    except ValueError:
        timestamp = math.nan
    if not (math.isfinite(timestamp) and timestamp >= 0):
        raise ValueError(f"timestamp must be a number of seconds >= 0, got {timestamp_text!r}")
    return Feature(pdq.lower(), int(quality_text), timestamp, frame_number)


def select(
    features: Iterable[Feature],
    *,
    min_quality: int = DEFAULT_MIN_QUALITY,
    prune_distance: int = DEFAULT_PRUNE_DISTANCE,
) -> Selection:
    """The frames worth storing as PDQ entries, in file order.

    1. Frames of quality below ``min_quality`` are dropped: upstream's matcher ignores them too
       (``quality_filter`` in python-threatexchange's ``vpdq_util``), and the scanner never
       matches its own frames below that floor, so such an entry could never match.
    2. A frame within ``prune_distance`` bits of the last frame kept is dropped. This is
       "Pruning Frames" from facebook/ThreatExchange ``vpdq/README.md``: omit subsequent frames
       within D_prune of the last retained frame (the reference hasher leaves it to the user
       and the README's example uses 2). A still or slow shot then costs one entry rather than
       one a second. The price is bounded: a frame within ``31 - prune_distance`` bits of a
       dropped frame is still within 31 (the match distance) of the kept one. 0 keeps every
       frame that differs at all from the one before.
    3. Exact repeats of a kept hash anywhere earlier in the list are dropped (python-threatexchange
       ``vpdq_util.dedupe``), e.g. a title card shown twice.
    """
    check_selection(min_quality, prune_distance)
    kept: list[Feature] = []
    seen: set[str] = set()
    low_quality = pruned = repeated = 0
    last: int | None = None
    for feature in features:
        if feature.quality < min_quality:
            low_quality += 1
            continue
        code = int(feature.pdq, 16)
        if last is not None and (code ^ last).bit_count() <= prune_distance:
            pruned += 1
            continue
        last = code
        if feature.pdq in seen:
            repeated += 1
            continue
        seen.add(feature.pdq)
        kept.append(feature)
    return Selection(kept, low_quality, pruned, repeated)


def check_selection(min_quality: int, prune_distance: int) -> None:
    """Raise ``ValueError`` unless both are in range (quality 0-100, distance 0-256 bits)."""
    if not 0 <= min_quality <= 100:
        raise ValueError(f"the quality floor must be between 0 and 100, got {min_quality}")
    if not 0 <= prune_distance <= 256:
        raise ValueError(f"the prune distance must be between 0 and 256 bits, got {prune_distance}")


def format_line(feature: Feature, frame_number: int) -> str:
    """One line of the reference hash file, exactly as ``vpdq-hash-video`` writes it."""
    return f"{frame_number},{feature.quality},{feature.pdq},{feature.timestamp:.3f}"


def dumps(features: Iterable[Feature]) -> str:
    """A hash file in the reference tools' format (``vpdq/cpp/io/vpdqio.cpp``).

    A feature without a frame number (read from the compact form) is written with its position.
    """
    lines = (
        format_line(f, i if f.frame_number is None else f.frame_number)
        for i, f in enumerate(features)
    )
    return "".join(f"{line}\n" for line in lines)


def _clip(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def _nothing() -> None:
    pass

"""What reading a hash list yields, whatever its format: entries to add, entries to remove (a
victim's withdrawal), rows refused as invalid and rows skipped on purpose, each with its line.

Every parser (:mod:`bot.core.blocklist_io`, :mod:`bot.core.exchange_formats`) fills a
:class:`Collector`; the importer then applies the whole :class:`ParsedFile` in one transaction,
or nothing of it when any row was invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bot.core import vpdq
from bot.core.blocklist import Algorithm, NewEntry, normalise_hash

RowError = vpdq.LineError
"""A row that could not be imported, or was skipped: where it is (``line 7`` / ``entry 3``)
and why."""


@dataclass(frozen=True, slots=True)
class Removal:
    """An entry a list takes back: the hash its source added, in one scope, is to go."""

    algorithm: Algorithm
    value: str
    guild_id: int | None
    source: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalise_hash(self.algorithm, self.value))


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """Everything a file yields, with each entry's and removal's place in it."""

    entries: list[NewEntry]
    errors: list[RowError]
    notes: list[str] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    skipped: list[RowError] = field(default_factory=list)
    """Rows of a kind Consentry does not match (a URL or text signal): left out, not invalid."""
    entry_lines: list[str] = field(default_factory=list)
    """Where each of ``entries`` came from, in order (``line 3``)."""
    removal_lines: list[str] = field(default_factory=list)
    """Where each of ``removals`` came from, in order."""


class Collector:
    """Accumulates one file's rows as they are parsed."""

    def __init__(self, *, source: str, added_by: str, guild_id: int | None = None) -> None:
        self.source = source
        self.added_by = added_by
        self.guild_id = guild_id
        self._parsed = ParsedFile([], [])

    def add(self, where: str, make: Callable[[], NewEntry]) -> None:
        """An entry to add, made by ``make`` (its ValueError is the row's error)."""
        try:
            entry = make()
        except ValueError as exc:
            self.error(where, str(exc))
            return
        self._parsed.entries.append(entry)
        self._parsed.entry_lines.append(where)

    def entry(self, where: str, algorithm: Algorithm, value: str, reason: str = "") -> None:
        """An entry of this file's source and scope."""
        # Made here rather than through ``add``: a million-row list spends its time here.
        try:
            entry = NewEntry(
                algorithm, value, self.guild_id, self.source, reason[:500], self.added_by
            )
        except ValueError as exc:
            self.error(where, str(exc))
            return
        self._parsed.entries.append(entry)
        self._parsed.entry_lines.append(where)

    def remove(self, where: str, algorithm: Algorithm, value: str) -> None:
        """This file's source takes the entry for ``value`` back."""
        try:
            removal = Removal(algorithm, value, self.guild_id, self.source)
        except ValueError as exc:
            self.error(where, str(exc))
            return
        self._parsed.removals.append(removal)
        self._parsed.removal_lines.append(where)

    def error(self, where: str, message: str) -> None:
        self._parsed.errors.append(RowError(where, message))

    def skip(self, where: str, message: str) -> None:
        self._parsed.skipped.append(RowError(where, message))

    def note(self, message: str) -> None:
        self._parsed.notes.append(message)

    def result(self) -> ParsedFile:
        """The file's rows, all of them."""
        return self._parsed


def split_places(
    items: Sequence[object], places: Sequence[str], chosen: Iterable[object]
) -> tuple[list[str], list[str]]:
    """The places of ``chosen`` (some of ``items``, by identity), then those of the others: which
    lines of a file were duplicates, say, and which were added."""
    picked = {id(item) for item in chosen}
    if not picked:
        return [], list(places)
    inside: list[str] = []
    outside: list[str] = []
    for item, place in zip(items, places, strict=True):
        (inside if id(item) in picked else outside).append(place)
    return inside, outside


def line_ranges(places: list[str]) -> str:
    """``line 3``, ``line 4``, ``line 5``, ``line 9`` as ``line 3-5, 9``: a long report kept
    short without leaving any place out. Places without a number are listed as they are."""
    spans: dict[str, list[list[int]]] = {}
    others: list[str] = []
    for place in places:
        kind, _, number = place.partition(" ")
        if not number.isdigit():
            others.append(place)
            continue
        runs = spans.setdefault(kind, [])
        n = int(number)
        if runs and runs[-1][1] in (n - 1, n):
            runs[-1][1] = n
        else:
            runs.append([n, n])
    parts = [
        f"{kind} " + ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
        for kind, runs in spans.items()
    ]
    return ", ".join([*parts, *others])

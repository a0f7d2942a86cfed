"""The live blocklist index and its one owner.

The index of millions of entries is built rarely; each change (a confirmed case, an import, a
removal) is applied on top of it as a small delta index of the entries added since and a set of
the ids removed since. A change is live as soon as that delta is rebuilt, in milliseconds at any
size of the base. The owner serialises every change and rebuild and numbers the snapshots it
serves monotonically, so concurrent callers never see a torn, stale or repeated generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import numpy.typing as npt

from bot.core.blocklist import BlocklistEntry, MatchRow
from bot.core.executor import BoundedExecutor
from bot.core.hashes import MediaHashes
from bot.core.index import (
    DEFAULT_KIND,
    BlocklistIndex,
    IndexBuilder,
    IndexKind,
    MatchThresholds,
    check_kind,
)
from bot.core.verdict import Match

COMPACT_ROWS = 50_000
"""Past this many entries in the delta, the owner's caller should rebuild the base."""


class LiveIndex:
    """What scans query: a base snapshot, the entries added since it was built, minus the ids
    removed since. Immutable and thread-safe, like its parts."""

    __slots__ = ("_base", "_delta", "_generation", "_removed")

    def __init__(
        self,
        base: BlocklistIndex,
        delta: BlocklistIndex | None = None,
        removed: frozenset[int] = frozenset(),
        generation: int | None = None,
    ) -> None:
        self._base = base
        self._delta = delta if delta is not None else BlocklistIndex.build([])
        self._removed = removed
        self._generation = base.generation if generation is None else generation

    @property
    def generation(self) -> int:
        """Rises with every change the owner applies."""
        return self._generation

    @property
    def kind(self) -> IndexKind:
        """How the base's perceptual tables are searched (``"mih"`` or ``"scan"``)."""
        return self._base.kind

    @property
    def base(self) -> BlocklistIndex:
        """The snapshot the delta is applied on."""
        return self._base

    @property
    def delta_size(self) -> int:
        """Entries added since the base was built (and tombstones of removed ones)."""
        return len(self._delta) + len(self._removed)

    def __len__(self) -> int:
        return max(len(self._base) + len(self._delta) - len(self._removed), 0)

    def counts(self) -> dict[str, int]:
        """Entries per algorithm, base and delta (removals not subtracted: their kind is not
        kept)."""
        delta = self._delta.counts()
        return {name: n + delta.get(name, 0) for name, n in self._base.counts().items()}

    def memory_bytes(self) -> int:
        """Bytes held by the perceptual and embedding tables of both layers."""
        return self._base.memory_bytes() + self._delta.memory_bytes()

    def query(self, hashes: MediaHashes, thresholds: MatchThresholds) -> tuple[Match, ...]:
        """As :meth:`BlocklistIndex.query`, over both layers without the removed entries."""
        return self._merge(
            self._base.query(hashes, thresholds), self._delta.query(hashes, thresholds)
        )

    def query_embeddings(
        self, vectors: npt.ArrayLike, frames: Sequence[int], max_distance: float
    ) -> tuple[Match, ...]:
        """As :meth:`BlocklistIndex.query_embeddings`, over both layers."""
        return self._merge(
            self._base.query_embeddings(vectors, frames, max_distance),
            self._delta.query_embeddings(vectors, frames, max_distance),
        )

    def _merge(self, base: Iterable[Match], delta: Iterable[Match]) -> tuple[Match, ...]:
        best: dict[int, Match] = {}
        for match in (*base, *delta):
            if match.entry_id in self._removed:
                continue
            known = best.get(match.entry_id)
            if known is None or match.distance < known.distance:
                best[match.entry_id] = match
        return tuple(sorted(best.values(), key=lambda m: (m.distance, m.entry_id)))


class BlocklistMatcher:
    """The one owner of the live index: applies changes incrementally, rebuilds the base on
    request, one at a time, and numbers every snapshot it swaps in.

    Readers take ``snapshot`` once per scan and keep using it, so a change never alters an
    index under a running query; assigning the new reference is atomic in CPython.
    ``generation`` rises with each swap, which lets caches keyed by it forget results computed
    against old entries. ``kind`` is how every base and delta it builds is searched (``"mih"``,
    multi-index hashing, or ``"scan"``; see :mod:`bot.core.index`); a given ``snapshot`` keeps
    its own.
    """

    def __init__(
        self, snapshot: BlocklistIndex | None = None, *, kind: IndexKind = DEFAULT_KIND
    ) -> None:
        self._kind = check_kind(kind)
        base = snapshot if snapshot is not None else BlocklistIndex.build([], kind=kind)
        self._live = LiveIndex(base)
        self._delta: dict[int, MatchRow] = {}
        self._removed: frozenset[int] = frozenset()
        self._lock = asyncio.Lock()

    @property
    def snapshot(self) -> LiveIndex:
        return self._live

    @property
    def generation(self) -> int:
        return self._live.generation

    @property
    def kind(self) -> IndexKind:
        """How the indices this owner builds are searched."""
        return self._kind

    @property
    def delta_size(self) -> int:
        """How far the live index is from its base (see :data:`COMPACT_ROWS`)."""
        return self._live.delta_size

    async def rebuild(self, entries: Iterable[BlocklistEntry], executor: BoundedExecutor) -> int:
        """Build a new base from ``entries`` off the event loop, swap it in, return its size."""
        builder = IndexBuilder()
        await executor.run(builder.add, [MatchRow.of(entry) for entry in entries])
        return await self.install(builder, executor)

    async def install(self, builder: IndexBuilder, executor: BoundedExecutor) -> int:
        """Build a new base from ``builder``'s rows off the event loop and swap it in (the
        delta starts empty); returns its size."""
        async with self._lock:
            generation = self.generation + 1
            base = await executor.run(builder.build, generation, kind=self._kind)
            self._delta, self._removed = {}, frozenset()
            self._live = LiveIndex(base, generation=generation)
            return len(base)

    async def apply(
        self, added: Sequence[MatchRow], removed: Sequence[int], executor: BoundedExecutor
    ) -> int:
        """Make ``added`` entries match and ``removed`` ids stop matching, without rebuilding
        the base: only the delta (entries added since the base) is rebuilt. Returns the new
        generation."""
        async with self._lock:
            delta = dict(self._delta)
            delta.update((row.id, row) for row in added)
            gone = frozenset(removed)
            for entry_id in gone:
                delta.pop(entry_id, None)
            # A re-added id (the same row back) must not stay hidden by an earlier removal.
            tombstones = (self._removed | gone) - {row.id for row in added if row.id not in gone}
            generation = self.generation + 1
            rows = list(delta.values())
            index = await executor.run(_build_delta, rows, generation, self._kind)
            self._delta, self._removed = delta, tombstones
            self._live = LiveIndex(self._live.base, index, tombstones, generation)
            return generation


def _build_delta(rows: list[MatchRow], generation: int, kind: IndexKind) -> BlocklistIndex:
    builder = IndexBuilder()
    builder.add(rows)
    return builder.build(generation, kind=kind)

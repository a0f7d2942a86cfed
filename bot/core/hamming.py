"""Hamming tables: one perceptual algorithm's codes with each entry's id, guild and allow flag.

``CodeTable`` holds what every table shares (ids, scopes, the shape checks); two kinds search it
exactly. ``HammingTable`` here scans faiss ``IndexBinaryFlat`` shards; ``bot.core.mih.MIHTable``
reads only the buckets that can hold a match (multi-index hashing).

The scan: a 256-bit PDQ code is stored as two 128-bit halves. Up to radius 40 a query scans only
the first half (a full distance <= r implies a prefix distance <= r); past it, one half or the
other is within r // 2 (pigeonhole). Candidates are verified on the full code, so results are
exact.

A faiss range search over a binary index runs one query on one core, and at 10M codes it is
bound by that core's memory bandwidth (160 MB scanned: 24 ms on a 2-core Xeon). Large tables are
therefore split by rows into one shard per core (at most 4), searched at once from a small
thread pool (faiss releases the GIL): 12 ms there. Small tables stay whole: a thread hop would
cost more than it saves.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import pairwise
from typing import Any, Final, NamedTuple

import faiss
import numpy as np
import numpy.typing as npt

INSTANCE_WIDE: Final = -1
"""The guild id that reads as "instance-wide" (Discord snowflakes are positive)."""

_Ints = npt.NDArray[np.int64]
_Codes = npt.NDArray[np.uint8]
_POPCOUNT: Final = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
# Up to this radius a query scans only the first 128 bits of a PDQ code: a full distance <= r
# implies a prefix distance <= r, and only ~1e-5 of unrelated (random) prefixes lie within 40
# bits, so verifying the candidates is cheap. Past it, one half or the other is within r // 2.
_PREFIX_ONLY_MAX: Final = 40
SHARD_MIN_ROWS: Final = 500_000
"""Below this many rows a table's search stays on the calling thread."""
MAX_SHARDS: Final = 4


def shard_count(rows: int) -> int:
    """How many parts of a table of ``rows`` rows to search side by side (1 when small)."""
    return 1 if rows < SHARD_MIN_ROWS else max(1, min(os.cpu_count() or 1, MAX_SHARDS))


@cache
def shard_pool() -> ThreadPoolExecutor:
    """The pool every table's search and build spreads its parts over, besides the caller."""
    # Bounded and shared by every table: shards of one query run side by side, queries from
    # several scans queue here rather than oversubscribe the cores.
    return ThreadPoolExecutor(MAX_SHARDS - 1, thread_name_prefix="hamming-shard")


class Hits(NamedTuple):
    """Flat search results, sorted by (row, distance, entry id)."""

    rows: _Ints
    positions: _Ints
    distances: _Ints


class Columns(NamedTuple):
    """One algorithm's entries as checked arrays: (n, nbytes) codes and n ids, guilds, flags."""

    codes: _Codes
    ids: _Ints
    guilds: _Ints
    allow: npt.NDArray[np.bool_]

    @classmethod
    def check(
        cls,
        name: str,
        nbytes: int,
        codes: npt.ArrayLike | None,
        ids: npt.ArrayLike | None,
        guilds: npt.ArrayLike | None,
        allow: npt.ArrayLike | None,
    ) -> Columns:
        """The columns as arrays (not copied where they already are); ValueError names the
        column of the wrong shape."""
        if (codes is None) != (ids is None):
            raise ValueError(f"{name}_codes and {name}_ids must be given together")
        code_array = np.asarray(codes if codes is not None else np.empty((0, nbytes)), np.uint8)
        if code_array.ndim != 2 or code_array.shape[1] != nbytes:
            raise ValueError(f"{name}_codes must have shape (n, {nbytes}), got {code_array.shape}")
        n = len(code_array)
        id_array: _Ints = np.asarray(ids if ids is not None else (), dtype=np.int64)
        guild_array: _Ints = (
            np.asarray(guilds, np.int64) if guilds is not None else np.full(n, INSTANCE_WIDE)
        )
        allow_array: npt.NDArray[np.bool_] = (
            np.asarray(allow, bool) if allow is not None else np.zeros(n, bool)
        )
        for column, array in (("ids", id_array), ("guilds", guild_array), ("allow", allow_array)):
            if array.shape != (n,):
                raise ValueError(f"{name}_{column} must have shape ({n},), got {array.shape}")
        return cls(code_array, id_array, guild_array, allow_array)


class CodeTable(ABC):
    """What every kind of table keeps per entry: its id and a small scope number (guild and
    allow flag), addressed by the positions its ``search`` returns."""

    __slots__ = ("_allow", "_guilds", "_scope", "ids", "nbytes")

    def __init__(self, nbytes: int, columns: Columns) -> None:
        self.nbytes = nbytes
        n, id_array = len(columns.ids), columns.ids
        int32 = np.iinfo(np.int32)
        fits = n == 0 or (id_array.min() >= int32.min and id_array.max() <= int32.max)
        self.ids = id_array.astype(np.int32 if fits else np.int64)  # a copy, narrowed if it can be
        # Each entry keeps a small scope number, 2 * (rank of its guild) + allow, not two columns.
        guilds, allow = columns.guilds, columns.allow
        if n == 0 or (not allow.any() and bool((guilds == guilds[0]).all())):
            unique, inverse = guilds[:1], np.zeros(n, dtype=np.int64)
        else:
            unique, inverse = np.unique(guilds, return_inverse=True)
        named = [None if g == INSTANCE_WIDE else g for g in unique.tolist()]
        self._guilds: tuple[int | None, ...] = tuple(g for guild in named for g in (guild, guild))
        self._allow: npt.NDArray[np.bool_] = np.tile(np.array([False, True]), len(unique))
        self._scope = (inverse * 2 + allow).astype(np.uint8 if len(unique) <= 128 else np.int32)
        frozen: tuple[npt.NDArray[Any], ...] = (self.ids, self._scope, self._allow)
        for array in frozen:
            array.flags.writeable = False

    def __len__(self) -> int:
        return len(self.ids)

    def allow_at(self, positions: _Ints) -> npt.NDArray[np.bool_]:
        """Whether the entries at ``positions`` are allow-list entries."""
        return np.asarray(self._allow[self._scope[positions]], dtype=np.bool_)

    def guild_at(self, position: int) -> int | None:
        """The guild of the entry at ``position`` (None: instance-wide)."""
        return self._guilds[int(self._scope[position])]

    def _metadata_bytes(self) -> int:
        return int(self.ids.nbytes + self._scope.nbytes)

    @abstractmethod
    def memory_bytes(self) -> int:
        """Bytes held by the table's arrays."""

    @abstractmethod
    def search(self, queries: npt.ArrayLike, max_distance: int) -> Hits:
        """Every (query row, position) pair within ``max_distance`` bits, with its distance."""

    def _queries(self, queries: npt.ArrayLike, max_distance: int) -> _Codes:
        codes = np.ascontiguousarray(queries, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] != self.nbytes:
            raise ValueError(f"query codes must have shape (n, {self.nbytes}), got {codes.shape}")
        if max_distance < 0:
            raise ValueError(f"max_distance must be >= 0, got {max_distance}")
        return codes

    def _ordered(self, row: _Ints, pos: _Ints, distance: _Ints) -> Hits:
        order = np.lexsort((self.ids[pos], distance, row))
        return Hits(row[order], pos[order], distance[order])


class HammingTable(CodeTable):
    """One perceptual algorithm's codes in faiss flat indices, scanned (``kind="scan"``)."""

    __slots__ = ("_indices", "_starts", "_views")

    def __init__(
        self,
        name: str,
        nbytes: int,
        codes: npt.ArrayLike | None,
        ids: npt.ArrayLike | None,
        guilds: npt.ArrayLike | None,
        allow: npt.ArrayLike | None,
        *,
        shards: int | None = None,
    ) -> None:
        """``shards``: how many row ranges to search side by side (default: one per core, up to
        4, for tables of 500,000 codes or more; otherwise 1)."""
        columns = Columns.check(name, nbytes, codes, ids, guilds, allow)
        super().__init__(nbytes, columns)
        code_array, n = columns.codes, len(columns.codes)
        width = 16 if nbytes == 32 else nbytes
        count = max(1, min(shards or shard_count(n), max(n, 1)))
        starts = [n * k // count for k in range(count + 1)]
        self._starts: _Ints = np.asarray(starts[:-1], dtype=np.int64)
        # Per 128-bit part (PDQ has two, pHash one), per shard: a faiss index and a view of it.
        self._indices: list[list[Any]] = []
        self._views: list[list[_Codes]] = []
        for start in range(0, nbytes, width):
            indices, views = [], []
            for low, high in pairwise(starts):
                index: Any = faiss.IndexBinaryFlat(width * 8)
                view = np.empty((0, width), dtype=np.uint8)
                if high > low:
                    index.add(np.ascontiguousarray(code_array[low:high, start : start + width]))
                    # A view of faiss's own copy, to verify candidates without holding the codes
                    # twice; it must not outlive the index, so it never leaves this object.
                    view = faiss.rev_swig_ptr(index.xb.data(), (high - low) * width)
                    view = view.reshape(high - low, width)
                view.flags.writeable = False
                indices.append(index)
                views.append(view)
            self._indices.append(indices)
            self._views.append(views)

    def memory_bytes(self) -> int:
        views = [view for part in self._views for view in part]
        return sum(a.nbytes for a in views) + self._metadata_bytes()

    def search(self, queries: npt.ArrayLike, max_distance: int) -> Hits:
        """Every (query row, position) pair within ``max_distance`` bits, with its distance."""
        codes = self._queries(queries, max_distance)
        empty = np.empty(0, dtype=np.int64)
        if not len(self) or not len(codes):  # faiss need not be asked about nothing
            return Hits(empty, empty, empty)
        if len(self._indices) == 1 or max_distance <= _PREFIX_ONLY_MAX:
            scans = [(0, max_distance)]
        else:  # pigeonhole: if two halves' distances sum to <= r, one of them is <= r // 2
            scans = [(part, max_distance // 2) for part in range(len(self._indices))]
        width = self._views[0][0].shape[1]
        rows, positions = [empty], [empty]
        for part, radius in scans:
            part_codes = np.ascontiguousarray(codes[:, part * width : (part + 1) * width])
            for start, (lims, _, labels) in zip(
                self._starts.tolist(), self._range_search(part, part_codes, radius), strict=True
            ):
                bounds: _Ints = np.asarray(lims, dtype=np.int64)
                counts = bounds[1:] - bounds[:-1]
                rows.append(np.repeat(np.arange(len(codes), dtype=np.int64), counts))
                positions.append(np.asarray(labels, dtype=np.int64) + start)
        row, pos = np.concatenate(rows), np.concatenate(positions)
        if len(scans) > 1:
            key = np.unique(row * len(self) + pos)
            row, pos = key // len(self), key % len(self)
        distance = np.zeros(len(row), dtype=np.int64)
        shard = np.searchsorted(self._starts, pos, side="right") - 1
        for part, views in enumerate(self._views):
            stored = np.empty((len(pos), width), dtype=np.uint8)
            for k, view in enumerate(views):
                here = shard == k
                stored[here] = view[pos[here] - self._starts[k]]
            xor = stored ^ codes[row, part * width : (part + 1) * width]
            distance += _POPCOUNT[xor].sum(axis=1, dtype=np.int64)
        keep = distance <= max_distance
        return self._ordered(row[keep], pos[keep], distance[keep])

    def _range_search(self, part: int, codes: _Codes, radius: int) -> list[Any]:
        """faiss's (lims, distances, labels) from each shard of ``part``, in shard order."""
        # faiss keeps binary distances strictly below the radius (tests pin this), hence + 1;
        # distances are recomputed after, so a change to <= would only add candidates.
        first, *rest = self._indices[part]
        others = [shard_pool().submit(i.range_search, codes, radius + 1) for i in rest]
        return [first.range_search(codes, radius + 1), *(f.result() for f in others)]

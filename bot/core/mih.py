"""Multi-index hashing (MIH): an exact Hamming range search that reads a small part of a table.

A code of B bits is cut into m = B / 16 chunks of 16 bits (PDQ: 16 chunks, pHash: 4). If two
codes differ in at most r bits, some chunk differs in at most t = r // m of them (pigeonhole: were
every chunk further apart, the total would exceed r). So each chunk keeps its rows bucketed by
that chunk's value, and a query reads only the buckets within t bits of its own chunks: at PDQ's
radius 31, its value and its 16 one-bit neighbours in each of 16 chunks, 272 buckets of about
n / 65,536 rows, 0.4% of the table. Every candidate is verified on its full code, so results
are exact (the same as a scan, tests pin it).

Layout for n rows: the codes, reordered by chunk 0's value, so chunk 0's buckets are row ranges
and need no posting list; for each other chunk the row positions (uint32) ordered by that chunk's
value; per chunk, 65,537 bucket starts. At 10M PDQ codes: 320 MB of codes, 600 MB of positions,
4 MB of starts, 50 MB of ids and scopes.

Reading a candidate is a random access into the codes (~15 ns here, a sequential scan costs
about a nanosecond a code), so where the buckets to read would hold more than a sixteenth of the
table (PDQ past radius 47, pHash past 15) the table scans its codes instead, with faiss's
Hamming range search over row shards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import combinations, pairwise
from math import comb
from typing import Any, Final

import faiss
import numpy as np
import numpy.typing as npt
from faiss.extra_wrappers import bucket_sort_c

from bot.core.hamming import CodeTable, Columns, Hits, shard_count, shard_pool

_Ints = npt.NDArray[np.int64]
_Codes = npt.NDArray[np.uint8]
_Words = npt.NDArray[np.uint64]

CHUNK_BITS: Final = 16
_BUCKETS: Final = 1 << CHUNK_BITS
_bucket_sort: Callable[[int, Any, int, Any, Any, int], None] = bucket_sort_c
"""faiss's C++ bucket sort: (rows, values, buckets, starts out, order out, threads)."""
_SCAN_RATIO: Final = 16
"""A bucket probe is worth it while it reads under 1 / _SCAN_RATIO of the table per query."""


@cache
def _flip_masks(tolerance: int) -> _Ints:
    """Every 16-bit value with at most ``tolerance`` bits set, fewest first (0 = the value)."""
    masks = [0]
    for bits in range(1, tolerance + 1):
        masks.extend(sum(1 << b for b in chosen) for chosen in combinations(range(16), bits))
    array = np.asarray(masks, dtype=np.int64)
    array.flags.writeable = False
    return array


@cache
def _build_pool() -> ThreadPoolExecutor:
    # Not the search pool: a rebuild's seconds of sorting must not queue ahead of the parts of
    # queries that the live snapshot answers meanwhile.
    return ThreadPoolExecutor(1, thread_name_prefix="mih-build")


def _ranges(starts: _Ints, lengths: _Ints) -> _Ints:
    """The concatenation of ``range(s, s + l)`` for each pair, without a Python loop."""
    total = int(lengths.sum())
    if not total:
        return np.empty(0, dtype=np.int64)
    out = np.arange(total, dtype=np.int64)
    # Element j of range k is start_k + (j - where range k begins in the output).
    out -= np.repeat(np.cumsum(lengths) - lengths - starts, lengths)
    return out


class MIHTable(CodeTable):
    """One perceptual algorithm's codes, searched by multi-index hashing (``kind="mih"``)."""

    __slots__ = ("_chunks", "_codes", "_offsets", "_postings", "_words")

    def __init__(
        self,
        name: str,
        nbytes: int,
        codes: npt.ArrayLike | None,
        ids: npt.ArrayLike | None,
        guilds: npt.ArrayLike | None,
        allow: npt.ArrayLike | None,
    ) -> None:
        """Index (n, ``nbytes``) codes; ``nbytes`` must be a multiple of 8 (PDQ 32, pHash 8).
        The columns are copied: later changes to them are not seen."""
        if nbytes % 8:
            raise ValueError(f"{name} codes must be a whole number of 64-bit words")
        given = Columns.check(name, nbytes, codes, ids, guilds, allow)
        n = len(given.codes)
        if n >= 1 << 32:  # positions are stored as uint32
            raise ValueError(f"{name}: at most {(1 << 32) - 1} codes, got {n}")
        self._chunks = nbytes * 8 // CHUNK_BITS
        source = np.ascontiguousarray(given.codes)
        self._offsets = np.zeros((self._chunks, _BUCKETS + 1), dtype=np.uint32)
        sorters = [_Sorter(n) for _ in range(_build_threads(n))]
        order = sorters[0].sort(source, 0, self._offsets[0])
        # Reordered copies (taken as 64-bit words: four times faster than as bytes).
        words = _gathered(source.view(np.uint64), order, len(sorters))
        # A column of one value (one scope, no allow entries: the usual case) needs no reorder.
        guilds = given.guilds if _constant(given.guilds) else np.take(given.guilds, order)
        allow = given.allow if _constant(given.allow) else np.take(given.allow, order)
        columns = Columns(words.view(np.uint8), np.take(given.ids, order), guilds, allow)
        super().__init__(nbytes, columns)
        self._codes: _Codes = columns.codes
        # 64-bit words of each code for verification: XOR and popcount a word at a time.
        self._words: _Words = self._codes.view(np.uint64)
        self._postings = np.empty((max(self._chunks - 1, 0), n), dtype=np.uint32)
        if n:
            self._bucket_all(sorters)
        for array in (self._codes, self._offsets, self._postings):
            array.flags.writeable = False

    def _bucket_all(self, sorters: Sequence[_Sorter]) -> None:
        # Chunk 0's buckets are row ranges of the reordered codes (its starts are set); each
        # other chunk is bucket-sorted by one of the sorters, side by side, each on its own
        # buffers (2 at 10M on 2 cores: 1.3 s for the 15 chunks, against 5 s for numpy's
        # argsort on 4 threads, whose fresh result pages cost more than the sort itself).
        def bucket(sorter: _Sorter, chunks: range) -> None:
            for chunk in chunks:
                order = sorter.sort(self._codes, chunk, self._offsets[chunk])
                self._postings[chunk - 1] = order  # positions fit in uint32 (checked above)

        step = len(sorters)
        futures = [
            _build_pool().submit(bucket, sorter, range(1 + k, self._chunks, step))
            for k, sorter in enumerate(sorters[1:], start=1)
        ]
        bucket(sorters[0], range(1, self._chunks, step))
        for future in futures:
            future.result()

    def memory_bytes(self) -> int:
        parts = (self._codes, self._offsets, self._postings)
        return sum(part.nbytes for part in parts) + self._metadata_bytes()

    def probes(self, max_distance: int) -> int:
        """How many buckets one query reads at ``max_distance`` (0: it scans instead)."""
        tolerance = max_distance // self._chunks
        count = self._chunks * sum(comb(CHUNK_BITS, bits) for bits in range(tolerance + 1))
        # A bucket holds len / 65,536 rows on random codes: probing reads count / 65,536 of the
        # table, while a scan reads all of it at a sixteenth of the cost per row.
        if tolerance >= CHUNK_BITS or count * _SCAN_RATIO > _BUCKETS:
            return 0
        return count

    def search(self, queries: npt.ArrayLike, max_distance: int) -> Hits:
        """Every (query row, position) pair within ``max_distance`` bits, with its distance."""
        codes = self._queries(queries, max_distance)
        empty = np.empty(0, dtype=np.int64)
        if not len(self) or not len(codes):
            return Hits(empty, empty, empty)
        if not self.probes(max_distance):
            return self._scan(codes, max_distance)
        # Queries are independent: large tables split them over the shared pool (numpy's
        # gathers and ufuncs release the GIL), as the scan splits rows.
        parts = min(shard_count(len(self)), len(codes))
        groups = np.array_split(np.arange(len(codes)), parts)
        futures = [
            shard_pool().submit(self._probe, codes, group, max_distance) for group in groups[1:]
        ]
        found = [self._probe(codes, groups[0], max_distance), *(f.result() for f in futures)]
        row, pos, distance = (np.concatenate([part[k] for part in found]) for k in range(3))
        return self._ordered(row, pos, distance)

    def _probe(self, codes: _Codes, rows: _Ints, max_distance: int) -> tuple[_Ints, _Ints, _Ints]:
        """(row, position, distance) of each match of the query rows ``rows``, each pair once."""
        masks = _flip_masks(max_distance // self._chunks)
        words = codes.view(np.uint64)
        out_rows, out_pos, out_dist = [], [], []
        base = np.arange(self._chunks, dtype=np.int64)[:, None] * (_BUCKETS + 1)
        offsets = self._offsets.reshape(-1)
        shift = (np.arange(self._chunks - 1, dtype=np.int64) * len(self))[:, None]
        for row in rows.tolist():
            values = codes[row].view(">u2").astype(np.int64)
            buckets = base + (values[:, None] ^ masks)  # (chunks, probes)
            starts = offsets[buckets].astype(np.int64)
            lengths = offsets[buckets + 1].astype(np.int64) - starts
            direct = _ranges(starts[0], lengths[0])
            listed = _ranges((starts[1:] + shift).reshape(-1), lengths[1:].reshape(-1))
            candidates = np.concatenate(
                [direct, self._postings.reshape(-1)[listed].astype(np.int64)]
            )
            distance = self._distances(candidates, words[row])
            keep = distance <= max_distance
            # A near-duplicate sits in the buckets of several chunks: keep it once.
            pos, first = np.unique(candidates[keep], return_index=True)
            out_pos.append(pos)
            out_dist.append(distance[keep][first])
            out_rows.append(np.full(len(pos), row, dtype=np.int64))
        return _joined(out_rows), _joined(out_pos), _joined(out_dist)

    def _distances(self, positions: _Ints, query: _Words) -> _Ints:
        stored = np.take(self._words, positions, axis=0)  # far faster than words[positions]
        np.bitwise_xor(stored, query, out=stored)
        counts = np.bitwise_count(stored)  # (k, words) uint8, each at most 64
        if counts.shape[1] == 4:
            # Sum four bytes at once: (b0 + b1 + b2 + b3) lands in the top byte of x * 0x01010101.
            # It cannot carry: a candidate shares a chunk within 15 bits, so its distance < 256.
            packed = counts.view(np.uint32).reshape(-1)
            return ((packed * np.uint32(0x01010101)) >> np.uint32(24)).astype(np.int64)
        return np.asarray(counts.sum(axis=1, dtype=np.int64), dtype=np.int64)

    def _scan(self, codes: _Codes, max_distance: int) -> Hits:
        """A full scan (large radii), over row shards side by side."""
        n = len(self)
        count = shard_count(n)
        bounds = [n * k // count for k in range(count + 1)]
        shards = list(pairwise(bounds))
        futures = [
            shard_pool().submit(self._scan_rows, codes, lo, hi, max_distance)
            for lo, hi in shards[1:]
        ]
        found = [self._scan_rows(codes, *shards[0], max_distance), *(f.result() for f in futures)]
        row, pos, distance = (np.concatenate([part[k] for part in found]) for k in range(3))
        return self._ordered(row, pos, distance)

    def _scan_rows(
        self, codes: _Codes, low: int, high: int, max_distance: int
    ) -> tuple[_Ints, _Ints, _Ints]:
        result = faiss.RangeSearchResult(len(codes))
        stored = self._codes[low:high]
        # faiss keeps distances strictly below its radius (tests pin this), hence + 1.
        # faiss's stubs lack this function; it scans raw codes, so no copy goes into an index.
        faiss.hamming_range_search(  # type: ignore[attr-defined]
            faiss.swig_ptr(codes),
            faiss.swig_ptr(stored),
            len(codes),
            high - low,
            max_distance + 1,
            self.nbytes,
            result,
        )
        lims = faiss.rev_swig_ptr(result.lims, len(codes) + 1).astype(np.int64)
        total = int(lims[-1])
        labels = faiss.rev_swig_ptr(result.labels, total).astype(np.int64) if total else None
        dists = faiss.rev_swig_ptr(result.distances, total).astype(np.int64) if total else None
        if labels is None or dists is None:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        rows = np.repeat(np.arange(len(codes), dtype=np.int64), np.diff(lims))
        return rows, labels + low, dists


def _gathered(rows: _Words, order: _Ints, threads: int) -> _Words:
    """``rows[order]``, gathered by ``threads`` threads side by side: on a VM most of a large
    gather's time is the first touch of its new pages, which threads take in parallel."""
    out = np.empty((len(order), rows.shape[1]), dtype=rows.dtype)
    bounds = [len(order) * k // threads for k in range(threads + 1)]

    def gather(k: int) -> None:
        low, high = bounds[k], bounds[k + 1]
        np.take(rows, order[low:high], axis=0, out=out[low:high])

    futures = [_build_pool().submit(gather, k) for k in range(1, threads)]
    gather(0)
    for future in futures:
        future.result()
    return out


def _build_threads(rows: int) -> int:
    """How many threads sort a build's chunks: two for large tables (a third only adds memory
    traffic on 2 cores), one for small ones."""
    return 1 if shard_count(rows) == 1 else 2


class _Sorter:
    """One build thread's buffers for a stable counting sort of chunk values, reused for each
    chunk it sorts: on a VM a fresh page costs more than sorting into it."""

    __slots__ = ("_order", "_starts", "_values")

    def __init__(self, rows: int) -> None:
        self._values = np.empty(rows, dtype=np.uint64)
        self._order = np.empty(rows, dtype=np.int64)
        self._starts = np.empty(_BUCKETS + 1, dtype=np.int64)

    def sort(self, codes: _Codes, chunk: int, starts: npt.NDArray[np.uint32]) -> _Ints:
        """Row numbers of ``codes`` ordered by chunk ``chunk`` (stable: rows ascend within a
        bucket), valid until the next call; each bucket's first place goes to ``starts``.

        Chunk k is bytes 2k and 2k + 1 read big-endian, so bit 0 is the code's first bit, as
        in every other view of the code."""
        np.copyto(self._values, codes.view(">u2")[:, chunk], casting="unsafe")
        # faiss's single-threaded bucket sort (nt=0) is the stable one; it releases the GIL.
        _bucket_sort(
            len(self._values),
            faiss.swig_ptr(self._values),
            _BUCKETS,
            faiss.swig_ptr(self._starts),
            faiss.swig_ptr(self._order),
            0,
        )
        starts[:] = self._starts
        return self._order


def _constant(column: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> bool:
    return not len(column) or bool((column == column[0]).all())


def _joined(parts: Sequence[_Ints]) -> _Ints:
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

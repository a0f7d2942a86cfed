"""The blocklist index: an immutable snapshot of entries, matched exactly or by Hamming distance.

Exact hashes (sha256, md5) live in dicts. Perceptual hashes (PDQ, pHash) live in one table per
algorithm, of one of two kinds, both exact (the same results, tests pin it):

- ``"mih"`` (the default): multi-index hashing (``bot.core.mih``). Each code is cut into 16-bit
  chunks with a bucketed posting list per chunk, and a query reads only the buckets that can hold
  a match (pigeonhole), about 0.4% of the table at PDQ's radius 31: sublinear, ~1 ms per PDQ hash
  at 10M entries, for about 97 bytes an entry and a build of a few seconds.
- ``"scan"``: faiss ``IndexBinaryFlat`` scans (``bot.core.hamming``), of half of each PDQ code
  when that is enough: the least memory (~37 bytes an entry) and the fastest build, at a cost per
  query that grows with the table.

A snapshot is never changed after it is built, so any number of threads may query it at once;
the caller swaps in a rebuilt snapshot by replacing its reference. It is never pickled.

CLIP embeddings (``clip`` entries, from confirmed cases) live in an ``EmbeddingTable`` and are
matched by cosine distance against the embeddings the scanner gets from the CLIP model.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt

from bot.core import embeddings
from bot.core.blocklist import Algorithm, BlocklistEntry, MatchRow
from bot.core.embeddings import EmbeddingTable
from bot.core.hamming import INSTANCE_WIDE, CodeTable, HammingTable
from bot.core.mih import MIHTable
from bot.core.verdict import Match

if TYPE_CHECKING:
    from bot.core.hashes import MediaHashes

IndexKind = Literal["mih", "scan"]
"""How perceptual tables are searched: multi-index hashing or a flat scan (both exact)."""
INDEX_KINDS: Final[tuple[str, ...]] = get_args(IndexKind)
DEFAULT_KIND: Final[IndexKind] = "mih"

_ALGORITHMS = {algorithm.value: algorithm for algorithm in Algorithm}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # exact and clip rows: matching never reads the date


@dataclass(frozen=True, slots=True)
class MatchThresholds:
    """Largest Hamming distances that count as a match, and the least PDQ quality matched."""

    pdq: int = 31
    """PDQ distance (of 256 bits) for blocking entries; 31 is HMA's default."""
    phash: int = 10
    """pHash distance (of 64 bits) for blocking entries."""
    allow_pdq: int = 31
    """PDQ distance for allow-list entries (known false positives)."""
    allow_phash: int = 10
    """pHash distance for allow-list entries."""
    pdq_min_quality: int = 50
    """Frames of lower PDQ quality (flat, featureless) are matched exactly only."""
    clip: float = embeddings.DEFAULT_MAX_DISTANCE
    """Cosine distance for CLIP embedding entries (semantic near-duplicates); 0 turns them off."""

    def __post_init__(self) -> None:
        limits = {"pdq": 256, "allow_pdq": 256, "phash": 64, "allow_phash": 64}
        for name, top in (*limits.items(), ("pdq_min_quality", 100), ("clip", 2)):
            value = getattr(self, name)
            if not 0 <= value <= top:
                raise ValueError(f"{name} must be between 0 and {top}, got {value}")


def check_kind(kind: str) -> IndexKind:
    """``kind`` as an :data:`IndexKind`; ValueError names the choices (it may come from config)."""
    if kind == "mih":
        return "mih"
    if kind == "scan":
        return "scan"
    raise ValueError(f"index kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}")


def code_table(
    kind: IndexKind,
    name: str,
    nbytes: int,
    codes: npt.ArrayLike | None,
    ids: npt.ArrayLike | None,
    guilds: npt.ArrayLike | None,
    allow: npt.ArrayLike | None,
) -> CodeTable:
    """One algorithm's table of the chosen kind (see the module's docstring)."""
    table = MIHTable if check_kind(kind) == "mih" else HammingTable
    return table(name, nbytes, codes, ids, guilds, allow)


class _ExactRow(NamedTuple):
    entry_id: int
    guild_id: int | None
    allow: bool


def _offer(best: dict[int, Match], match: Match) -> None:
    current = best.get(match.entry_id)
    if current is None or (match.distance, match.frame) < (current.distance, current.frame):
        best[match.entry_id] = match


class BlocklistIndex:
    """An immutable, thread-safe snapshot of blocklist entries; build with ``build``."""

    __slots__ = ("_clip", "_exact", "_exact_counts", "_generation", "_pdq", "_phash")

    def __init__(
        self,
        pdq: CodeTable,
        phash: CodeTable,
        exact: Iterable[BlocklistEntry],
        generation: int,
        clip: EmbeddingTable | None = None,
    ) -> None:
        rows: dict[Algorithm, dict[str, list[_ExactRow]]] = {
            Algorithm.SHA256: {},
            Algorithm.MD5: {},
        }
        for entry in exact:
            if entry.algorithm not in rows:
                raise ValueError(f"entry {entry.id}: {entry.algorithm.value} is not an exact hash")
            row = _ExactRow(entry.id, entry.guild_id, entry.allow)
            rows[entry.algorithm].setdefault(entry.value.lower(), []).append(row)
        self._exact = {a: {v: tuple(r) for v, r in by.items()} for a, by in rows.items()}
        self._exact_counts = {a: sum(map(len, by.values())) for a, by in rows.items()}
        self._pdq, self._phash, self._generation = pdq, phash, generation
        self._clip = clip if clip is not None else _clip_table([])

    @classmethod
    def build(
        cls,
        entries: Iterable[BlocklistEntry],
        generation: int = 0,
        *,
        kind: IndexKind = DEFAULT_KIND,
    ) -> BlocklistIndex:
        """Index ``entries`` (CPU work: run it in an executor); later changes are not seen.
        ``kind`` chooses how the perceptual tables are searched (see the module)."""
        builder = IndexBuilder()
        builder.add(
            MatchRow(e.id, e.algorithm.value, e.value, e.guild_id, e.allow) for e in entries
        )
        return builder.build(generation, kind=kind)

    @classmethod
    def from_arrays(
        cls,
        *,
        pdq_codes: npt.ArrayLike | None = None,
        pdq_ids: npt.ArrayLike | None = None,
        pdq_guilds: npt.ArrayLike | None = None,
        pdq_allow: npt.ArrayLike | None = None,
        phash_codes: npt.ArrayLike | None = None,
        phash_ids: npt.ArrayLike | None = None,
        phash_guilds: npt.ArrayLike | None = None,
        phash_allow: npt.ArrayLike | None = None,
        exact: Iterable[BlocklistEntry] = (),
        clip: EmbeddingTable | None = None,
        generation: int = 0,
        kind: IndexKind = DEFAULT_KIND,
    ) -> BlocklistIndex:
        """Index perceptual hashes given as arrays, without a Python object per entry.

        Codes are (n, 32) uint8 for PDQ and (n, 8) for pHash, in the big-endian layout of
        ``bytes.fromhex(entry.value)``; ids are int64; guilds are int64 with ``INSTANCE_WIDE``
        for instance-wide entries (default: all); allow flags default to False. ``exact`` holds
        the sha256 and md5 entries, ``clip`` the embedding entries. The arrays are copied:
        later changes to them are not seen. ``kind`` chooses how the perceptual tables are
        searched: ``"mih"`` (multi-index hashing) or ``"scan"``.
        """
        pdq = code_table(kind, "pdq", 32, pdq_codes, pdq_ids, pdq_guilds, pdq_allow)
        phash = code_table(kind, "phash", 8, phash_codes, phash_ids, phash_guilds, phash_allow)
        return cls(pdq, phash, exact, generation, clip)

    @property
    def kind(self) -> IndexKind:
        """How this snapshot's perceptual tables are searched."""
        return "mih" if isinstance(self._pdq, MIHTable) else "scan"

    @property
    def generation(self) -> int:
        """The number the caller gave this snapshot; it rises with each rebuild."""
        return self._generation

    def __len__(self) -> int:
        return sum(self.counts().values())

    def counts(self) -> dict[str, int]:
        """The number of entries of each algorithm, keyed by its name."""
        counts = {
            Algorithm.PDQ: len(self._pdq),
            Algorithm.PHASH: len(self._phash),
            Algorithm.CLIP: len(self._clip),
        }
        return {a.value: n for a, n in (counts | self._exact_counts).items()}

    def memory_bytes(self) -> int:
        """Bytes held by the perceptual and embedding tables, the bulk of the index."""
        return self._pdq.memory_bytes() + self._phash.memory_bytes() + self._clip.memory_bytes()

    def search_pdq(self, codes: npt.ArrayLike, max_distance: int) -> list[list[tuple[int, int]]]:
        """For each row of ``codes`` ((n, 32) uint8), its (entry id, distance) pairs within
        ``max_distance`` bits, nearest first. Allow-list entries are included."""
        return self._search(self._pdq, codes, max_distance)

    def search_phash(self, codes: npt.ArrayLike, max_distance: int) -> list[list[tuple[int, int]]]:
        """As ``search_pdq``, for (n, 8) pHash codes."""
        return self._search(self._phash, codes, max_distance)

    @staticmethod
    def _search(
        table: CodeTable, codes: npt.ArrayLike, max_distance: int
    ) -> list[list[tuple[int, int]]]:
        hits = table.search(codes, max_distance)
        out: list[list[tuple[int, int]]] = [[] for _ in range(np.shape(codes)[0])]
        ids = table.ids[hits.positions].tolist()
        for row, entry_id, distance in zip(
            hits.rows.tolist(), ids, hits.distances.tolist(), strict=True
        ):
            out[row].append((entry_id, distance))
        return out

    def query(self, hashes: MediaHashes, thresholds: MatchThresholds) -> tuple[Match, ...]:
        """Every entry, of every scope, that matches ``hashes``, sorted by (distance, entry id).

        Exact hashes match at distance 0. Frames of at least ``pdq_min_quality`` are matched by
        all their PDQ and pHash variants (rotations, flips); a flat image's hashes would match
        any other flat image. So is each view of a frame (the picture inside borders, bars or a
        screenshot) of at least that quality, reported as its frame. Each entry appears once,
        at its smallest distance.
        """
        best: dict[int, Match] = {}
        for algorithm, value in ((Algorithm.SHA256, hashes.sha256), (Algorithm.MD5, hashes.md5)):
            for row in self._exact[algorithm].get(value.lower(), ()):
                _offer(best, Match(row.entry_id, algorithm.value, 0, row.guild_id, row.allow, 0))
        pdq: list[tuple[int, bytes]] = []
        phash: list[tuple[int, bytes]] = []
        floor = thresholds.pdq_min_quality
        for f in hashes.frames:
            if f.pdq_quality >= floor:
                pdq.extend((f.frame, code) for code in (f.pdq_variants or (f.pdq,)))
                phash.extend((f.frame, code) for code in (f.phash_variants or (f.phash,)))
            # A view is judged by its own quality: a flat canvas may hold a detailed picture.
            for view in f.views:
                if view.pdq_quality >= floor:
                    pdq.extend((f.frame, code) for code in view.pdq_variants)
                    phash.extend((f.frame, code) for code in view.phash_variants)
        self._match(self._pdq, Algorithm.PDQ, pdq, thresholds.pdq, thresholds.allow_pdq, best)
        self._match(
            self._phash, Algorithm.PHASH, phash, thresholds.phash, thresholds.allow_phash, best
        )
        return tuple(sorted(best.values(), key=lambda m: (m.distance, m.entry_id)))

    def query_embeddings(
        self, vectors: npt.ArrayLike, frames: Sequence[int], max_distance: float
    ) -> tuple[Match, ...]:
        """Every ``clip`` entry, of every scope, within ``max_distance`` cosine distance of one
        of ``vectors`` (unit rows, one per sampled frame, whose indices are ``frames``); each
        entry once, at its smallest distance, nearest first. A distance of 0 matches nothing."""
        if max_distance <= 0 or not len(self._clip):
            return ()
        hits = self._clip.search(np.asarray(vectors, dtype=np.float32), max_distance)
        best: dict[int, Match] = {}
        for row, position, distance in zip(
            hits.rows.tolist(), hits.positions.tolist(), hits.distances.tolist(), strict=True
        ):
            entry_id, guild = int(self._clip.ids[position]), self._clip.guilds[position]
            _offer(best, Match(entry_id, Algorithm.CLIP.value, distance, guild, False, frames[row]))
        return tuple(sorted(best.values(), key=lambda m: (m.distance, m.entry_id)))

    @staticmethod
    def _match(
        table: CodeTable,
        algorithm: Algorithm,
        codes: Sequence[tuple[int, bytes]],
        block: int,
        allow: int,
        best: dict[int, Match],
    ) -> None:
        if not len(table) or not codes:
            return
        if any(len(code) != table.nbytes for _, code in codes):
            raise ValueError(f"{algorithm.value} hashes must be {table.nbytes} bytes")
        # All variants of all frames in one call: the table spreads the rows over its threads.
        queries = np.frombuffer(b"".join(code for _, code in codes), dtype=np.uint8)
        hits = table.search(queries.reshape(len(codes), table.nbytes), max(block, allow))
        allowed = table.allow_at(hits.positions)
        keep = hits.distances <= np.where(allowed, allow, block)
        found = zip(
            hits.rows[keep].tolist(),
            hits.positions[keep].tolist(),
            hits.distances[keep].tolist(),
            allowed[keep].tolist(),
            strict=True,
        )
        for row, position, distance, is_allow in found:
            entry_id, guild = int(table.ids[position]), table.guild_at(position)
            match = Match(entry_id, algorithm.value, distance, guild, is_allow, codes[row][0])
            _offer(best, match)


def _clip_table(entries: Sequence[BlocklistEntry]) -> EmbeddingTable:
    try:
        vectors = embeddings.decode([e.value for e in entries])
    except ValueError as exc:  # stored entries were checked on the way in: this is corruption
        raise ValueError(f"a clip entry is malformed: {exc}") from None
    ids = np.asarray([e.id for e in entries], dtype=np.int64)
    return EmbeddingTable(vectors, ids, [e.guild_id for e in entries])


class _Column:
    """One perceptual algorithm's codes, ids, scopes and allow flags, packed as they come."""

    def __init__(self, algorithm: Algorithm) -> None:
        self.algorithm = algorithm
        self.codes = bytearray()
        self.ids = array("q")
        self.guilds = array("q")
        self.allow = bytearray()

    def add(self, rows: Sequence[MatchRow]) -> None:
        width = self.algorithm.hex_length
        for row in rows:
            if len(row.value) != width:
                raise ValueError(f"entry {row.id}: bad {self.algorithm.value} hash {row.value!r}")
        # One join and one fromhex per batch: no bytes object per entry.
        self.codes += bytes.fromhex("".join(row.value for row in rows))
        self.ids.extend(row.id for row in rows)
        self.guilds.extend(INSTANCE_WIDE if r.guild_id is None else r.guild_id for r in rows)
        self.allow.extend(1 if row.allow else 0 for row in rows)

    def arrays(self) -> dict[str, Any]:
        name = self.algorithm.value
        return {
            f"{name}_codes": np.frombuffer(self.codes, np.uint8).reshape(
                -1, self.algorithm.hex_length // 2
            ),
            f"{name}_ids": np.frombuffer(self.ids, np.int64),
            f"{name}_guilds": np.frombuffer(self.guilds, np.int64),
            f"{name}_allow": np.frombuffer(self.allow, np.uint8).astype(bool),
        }


class IndexBuilder:
    """Builds an index from batches of stored rows without keeping an object per entry.

    Built from ``BlocklistEntry`` objects, 10M PDQ entries took about 640 bytes each while they
    were all alive (over 6 GB); the index itself needs about 97 (37 for a scan). Each batch
    given to ``add`` is folded into packed columns and can be dropped. ``add`` and ``build`` are
    CPU work: run them in an executor.
    """

    def __init__(self) -> None:
        self._columns = {a: _Column(a) for a in (Algorithm.PDQ, Algorithm.PHASH)}
        self._others: list[BlocklistEntry] = []  # exact hashes and embeddings: few, kept whole
        self.rows = 0

    def add(self, rows: Iterable[MatchRow]) -> None:
        """Fold a batch of rows in; ValueError names a malformed entry."""
        batches: dict[Algorithm, list[MatchRow]] = {a: [] for a in self._columns}
        for row in rows:
            self.rows += 1
            # A dict lookup per row; parse (which strips, lowercases and explains) on a miss.
            algorithm = _ALGORITHMS.get(row.algorithm) or Algorithm.parse(row.algorithm)
            if algorithm in batches:
                batches[algorithm].append(row)
            else:
                self._others.append(
                    BlocklistEntry(
                        row.id, algorithm, row.value, row.guild_id, "", "", "", _EPOCH, row.allow
                    )
                )
        for algorithm, batch in batches.items():
            self._columns[algorithm].add(batch)

    def build(self, generation: int = 0, *, kind: IndexKind = DEFAULT_KIND) -> BlocklistIndex:
        """The index of every row added so far, its perceptual tables of ``kind``."""
        columns: dict[str, Any] = {}
        for column in self._columns.values():
            columns |= column.arrays()
        exact = [e for e in self._others if not e.algorithm.semantic]
        semantic = [e for e in self._others if e.algorithm.semantic]
        return BlocklistIndex.from_arrays(
            **columns, exact=exact, clip=_clip_table(semantic), generation=generation, kind=kind
        )

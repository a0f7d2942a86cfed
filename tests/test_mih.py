"""Multi-index hashing: exactly what a full scan finds, at every radius, for PDQ and pHash."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from bot.core import hamming
from bot.core.blocklist import Algorithm, MatchRow
from bot.core.executor import BoundedExecutor
from bot.core.hamming import HammingTable, Hits
from bot.core.index import BlocklistIndex, MatchThresholds
from bot.core.matcher import BlocklistMatcher
from bot.core.mih import MIHTable
from tests.test_index import entry, flip, frame, media

Codes = npt.NDArray[np.uint8]
Ids = npt.NDArray[np.int64]


def brute_force(codes: Codes, ids: Ids, query: Codes, radius: int) -> set[tuple[int, int]]:
    """Every (id, distance) within ``radius`` of ``query``, by popcount over the whole table."""
    words = np.ascontiguousarray(codes).view(np.uint64) ^ query.view(np.uint64)
    distances = np.bitwise_count(words).sum(axis=1)
    near = distances <= radius
    return set(zip(ids[near].tolist(), distances[near].tolist(), strict=True))


def spread(rng: np.random.Generator, code: Codes, k: int) -> Codes:
    """``code`` with ``k`` bits flipped as evenly as possible over its 16-bit chunks: the case
    the pigeonhole bound is tight on (31 bits over 16 chunks leaves one chunk within 1 bit)."""
    chunks = code.size // 2
    per_chunk = [k // chunks + (1 if c < k % chunks else 0) for c in range(chunks)]
    bits = [16 * c + b for c, n in enumerate(per_chunk) for b in rng.choice(16, n, replace=False)]
    return flip(code, rng.permutation(np.asarray(bits, dtype=np.int64)))


def planted(nbytes: int, n: int, seed: int, distances: tuple[int, ...]) -> tuple[Codes, Ids, Codes]:
    """``n`` random codes plus, for each of 8 queries, neighbours at exactly each distance:
    bits chosen at random, spread evenly over the chunks, and packed into the fewest chunks."""
    rng = np.random.default_rng(seed)
    bits = nbytes * 8
    queries = rng.integers(0, 256, (8, nbytes), dtype=np.uint8)
    near = []
    for query in queries:
        for k in distances:
            near.append(flip(query, rng.choice(bits, k, replace=False)))
            near.append(spread(rng, query, k))
            near.append(flip(query, np.arange(k)))  # whole chunks differ, the rest are equal
    codes = np.concatenate([rng.integers(0, 256, (n, nbytes), dtype=np.uint8), near])
    order = rng.permutation(len(codes))
    ids = rng.choice(10**12, len(codes), replace=False).astype(np.int64)  # beyond int32
    extra = rng.integers(0, 256, (4, nbytes), dtype=np.uint8)
    return codes[order], ids, np.concatenate([queries, extra])


def assert_exact(table: MIHTable, codes: Codes, ids: Ids, queries: Codes, radius: int) -> Hits:
    hits = table.search(queries, radius)
    for row, query in enumerate(queries):
        mine = hits.rows == row
        pairs = zip(
            table.ids[hits.positions[mine]].tolist(), hits.distances[mine].tolist(), strict=True
        )
        found = list(pairs)
        assert set(found) == brute_force(codes, ids, query, radius), f"query {row}, r={radius}"
        assert len(found) == len(set(found)), "each entry once per query"
        assert found == sorted(found, key=lambda pair: (pair[1], pair[0]))
    return hits


PDQ_DISTANCES = (0, 1, 10, 15, 16, 17, 30, 31, 32, 33, 40, 47, 48, 64, 65)


@pytest.mark.parametrize("radius", [0, 1, 10, 15, 16, 31, 32, 40, 47, 48, 64, 100])
def test_mih_finds_exactly_what_a_full_scan_finds(radius: int) -> None:
    # 200k random codes and neighbours planted at and around each chunk-tolerance boundary
    # (15/16, 31/32, 47/48); past 47 the table scans instead of probing, and is still exact.
    codes, ids, queries = planted(32, 200_000, seed=1, distances=PDQ_DISTANCES)
    table = MIHTable("pdq", 32, codes, ids, None, None)
    hits = assert_exact(table, codes, ids, queries, radius)
    planted_within = sum(3 for k in PDQ_DISTANCES if k <= radius) * 8
    assert len(hits.rows) >= planted_within


def test_mih_finds_what_the_scan_table_finds_hit_for_hit() -> None:
    codes, ids, queries = planted(32, 50_000, seed=2, distances=PDQ_DISTANCES)
    mih = MIHTable("pdq", 32, codes, ids, None, None)
    scan = HammingTable("pdq", 32, codes, ids, None, None)
    for radius in (0, 31, 32, 64):
        a, b = mih.search(queries, radius), scan.search(queries, radius)
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.distances, b.distances)
        np.testing.assert_array_equal(mih.ids[a.positions], scan.ids[b.positions])


@pytest.mark.parametrize("radius", [0, 3, 4, 7, 8, 10, 12, 15, 16, 20, 24])
def test_mih_on_phash_finds_exactly_what_a_full_scan_finds(radius: int) -> None:
    # pHash is cut into 4 chunks: tolerance radius // 4, a scan from radius 16 on.
    codes, ids, queries = planted(8, 100_000, seed=3, distances=(0, 3, 4, 7, 8, 10, 11, 12, 16))
    table = MIHTable("phash", 8, codes, ids, None, None)
    assert_exact(table, codes, ids, queries, radius)


def test_mih_reads_a_few_buckets_at_pdq_radius_31_and_scans_past_47() -> None:
    table = MIHTable("pdq", 32, np.zeros((1, 32), np.uint8), [1], None, None)
    assert table.probes(15) == 16  # each chunk's own bucket
    assert table.probes(31) == 16 * 17  # and its 16 one-bit neighbours
    assert table.probes(47) == 16 * 137
    assert table.probes(48) == 0  # 16 * 697 buckets would read more than a scan
    phash = MIHTable("phash", 8, np.zeros((1, 8), np.uint8), [1], None, None)
    assert phash.probes(10) == 4 * 137
    assert phash.probes(16) == 0


def test_a_large_table_builds_and_searches_on_several_threads_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codes, ids, queries = planted(32, 20_000, seed=4, distances=PDQ_DISTANCES)
    whole = MIHTable("pdq", 32, codes, ids, None, None)
    monkeypatch.setattr(hamming, "SHARD_MIN_ROWS", 1_000)  # as if it held millions
    monkeypatch.setattr(hamming.os, "cpu_count", lambda: 3)  # an uneven split of the queries
    split = MIHTable("pdq", 32, codes, ids, None, None)
    for radius in (31, 64):  # probes, then a scan over row shards
        a, b = whole.search(queries, radius), split.search(queries, radius)
        assert len(a.rows) > 8
        for column in Hits._fields:
            np.testing.assert_array_equal(getattr(a, column), getattr(b, column))
    assert split.memory_bytes() == whole.memory_bytes()


def test_mih_copies_its_input_and_keeps_each_entry_with_its_guild_and_allow_flag() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (5_000, 32), dtype=np.uint8)
    ids = np.arange(5_000, dtype=np.int64) + 10
    guilds = rng.choice([hamming.INSTANCE_WIDE, 7, 2**62], 5_000)
    allow = rng.random(5_000) < 0.2
    given = (codes.copy(), ids.copy(), guilds.copy(), allow.copy())
    table = MIHTable("pdq", 32, codes, ids, guilds, allow)
    for before, after in zip(given, (codes, ids, guilds, allow), strict=True):
        np.testing.assert_array_equal(before, after)  # the rows are reordered in a copy
    hits = table.search(codes[::97], 0)
    rows = np.arange(0, 5_000, 97)
    np.testing.assert_array_equal(table.ids[hits.positions], ids[rows])
    np.testing.assert_array_equal(table.allow_at(hits.positions), allow[rows])
    expected = [None if g == hamming.INSTANCE_WIDE else g for g in guilds[rows].tolist()]
    assert [table.guild_at(p) for p in hits.positions.tolist()] == expected


def test_an_empty_mih_table_finds_nothing_and_holds_little() -> None:
    table = MIHTable("pdq", 32, None, None, None, None)
    assert len(table) == 0
    assert len(table.search(np.zeros((3, 32), np.uint8), 256).rows) == 0
    assert table.memory_bytes() < 5 * 2**20  # the bucket starts only


def test_mih_and_scan_indices_answer_every_query_alike() -> None:
    rng = np.random.default_rng(6)
    shown = frame(rng)
    entries = [entry(i + 1, Algorithm.PDQ, flip_bytes(shown.pdq, 4 * i)) for i in range(10)]
    entries += [entry(20 + i, Algorithm.PHASH, flip_bytes(shown.phash, i)) for i in range(12)]
    entries.append(entry(40, Algorithm.PDQ, shown.pdq, guild_id=5, allow=True))
    mih = BlocklistIndex.build(entries, kind="mih")
    scan = BlocklistIndex.build(entries, kind="scan")
    assert (mih.kind, scan.kind) == ("mih", "scan")
    for thresholds in (MatchThresholds(), MatchThresholds(pdq=40, phash=3, allow_pdq=0)):
        assert mih.query(media(shown), thresholds) == scan.query(media(shown), thresholds)
    assert len(mih.query(media(shown), MatchThresholds())) == 8 + 11 + 1


def flip_bytes(code: bytes, k: int) -> bytes:
    return flip(np.frombuffer(code, dtype=np.uint8), np.arange(k)).tobytes()


def test_an_unknown_index_kind_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="mih, scan"):
        BlocklistIndex.from_arrays(kind="faiss")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mih, scan"):
        BlocklistMatcher(kind="flat")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["mih", "scan"])
async def test_the_matcher_builds_base_and_delta_of_its_kind(kind: str) -> None:
    executor = BoundedExecutor(workers=1, max_pending=4)
    rng = np.random.default_rng(7)
    shown = frame(rng)
    try:
        matcher = BlocklistMatcher(kind=kind)  # type: ignore[arg-type]
        assert matcher.kind == matcher.snapshot.kind == kind
        row = MatchRow(1, Algorithm.PDQ.value, flip_bytes(shown.pdq, 9).hex(), None, False)
        await matcher.apply([row], (), executor)  # live at once, no rebuild
        assert [m.entry_id for m in matcher.snapshot.query(media(shown), MatchThresholds())] == [1]
        base = BlocklistIndex.build([entry(2, Algorithm.PDQ, shown.pdq)], kind="scan")
        matcher = BlocklistMatcher(base, kind=kind)  # a given snapshot keeps its own kind
        assert matcher.snapshot.kind == "scan"
    finally:
        executor.shutdown()

"""The blocklist index: exact against brute force, and query() semantics."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from bot.core.blocklist import Algorithm, BlocklistEntry, MatchRow
from bot.core.hamming import HammingTable, Hits
from bot.core.hashes import FrameHashes, MediaHashes
from bot.core.index import (
    INSTANCE_WIDE,
    BlocklistIndex,
    IndexBuilder,
    IndexKind,
    MatchThresholds,
)
from bot.core.verdict import Match

Codes = npt.NDArray[np.uint8]
FLIPS = (0, 1, 15, 30, 31, 32, 40)


def flip(code: Codes, bits: npt.ArrayLike) -> Codes:
    """``code`` with the given bit positions (0 = most significant bit of byte 0) flipped."""
    unpacked = np.unpackbits(code)
    unpacked[np.asarray(bits, dtype=np.int64)] ^= 1
    return np.packbits(unpacked)


def brute_force(
    codes: Codes, ids: npt.NDArray[np.int64], query: Codes, max_distance: int
) -> set[tuple[int, int]]:
    distances = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
    return {(int(i), int(d)) for i, d in zip(ids, distances, strict=True) if d <= max_distance}


def planted_set(
    nbytes: int, n: int, seed: int, flips: tuple[int, ...] = FLIPS
) -> tuple[Codes, npt.NDArray[np.int64], Codes]:
    """Random codes plus, for each of 12 query codes, neighbours at exactly each of ``flips``
    bits: spread over the whole code, and (for PDQ) all in the first or all in the second half."""
    rng = np.random.default_rng(seed)
    bits = nbytes * 8
    queries = rng.integers(0, 256, (12, nbytes), dtype=np.uint8)
    planted = []
    for query in queries:
        for k in flips:
            planted.append(flip(query, rng.choice(bits, k, replace=False)))
            if bits == 256 and k <= 128:
                planted.append(flip(query, rng.choice(128, k, replace=False)))
                planted.append(flip(query, 128 + rng.choice(128, k, replace=False)))
    codes = np.concatenate([rng.integers(0, 256, (n, nbytes), dtype=np.uint8), planted])
    order = rng.permutation(len(codes))  # planted entries must not sit together at the end
    ids = rng.choice(10**12, len(codes), replace=False).astype(np.int64)  # beyond int32
    return codes[order], ids, np.concatenate([queries, rng.integers(0, 256, (4, nbytes), np.uint8)])


def when() -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC)


def entry(
    entry_id: int,
    algorithm: Algorithm,
    value: bytes | str,
    guild_id: int | None = None,
    allow: bool = False,
) -> BlocklistEntry:
    text = value.hex() if isinstance(value, bytes) else value
    return BlocklistEntry(entry_id, algorithm, text, guild_id, "test", "", "", when(), allow)


def random_bytes(rng: np.random.Generator, n: int) -> bytes:
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def frame(
    rng: np.random.Generator,
    *,
    index: int = 0,
    variants: list[bytes] | None = None,
    phash: bytes | None = None,
    quality: int = 100,
) -> FrameHashes:
    pdq_variants = variants or [random_bytes(rng, 32) for _ in range(8)]
    return FrameHashes(
        frame=index,
        pdq=pdq_variants[0],
        pdq_quality=quality,
        pdq_variants=tuple(pdq_variants),
        phash=phash if phash is not None else random_bytes(rng, 8),
    )


def media(*frames: FrameHashes, data: bytes = b"media") -> MediaHashes:
    return MediaHashes(hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), frames)


def flipped(code: bytes, k: int) -> bytes:
    return flip(np.frombuffer(code, dtype=np.uint8), np.arange(k)).tobytes()


def test_faiss_binary_range_search_keeps_distances_strictly_below_the_radius() -> None:
    # The index passes radius + 1 to faiss because of this (and re-checks distances anyway).
    index = faiss.IndexBinaryFlat(256)
    code = np.random.default_rng(0).integers(0, 256, (1, 32), dtype=np.uint8)
    index.add(code)
    query = flip(code[0], [0, 1, 2])[None, :]
    assert len(index.range_search(query, 3)[2]) == 0
    assert index.range_search(query, 4)[2].tolist() == [0]


@pytest.mark.parametrize("kind", ["mih", "scan"])
@pytest.mark.parametrize("max_distance", [0, 10, 31, 32, 41, 64])
def test_search_pdq_equals_brute_force_on_random_codes_with_planted_neighbours(
    max_distance: int, kind: IndexKind
) -> None:
    # The scan: 31, 32 and 40 read the 128-bit prefix; 41 and 64 both halves (pigeonhole).
    # MIH: 16-bit chunks within max_distance // 16 bits; 64 is past its probes, a scan.
    codes, ids, queries = planted_set(32, 10_000, seed=1, flips=(*FLIPS, 41, 50, 64, 65))
    index = BlocklistIndex.from_arrays(pdq_codes=codes, pdq_ids=ids, kind=kind)
    results = index.search_pdq(queries, max_distance)
    assert len(results) == len(queries)
    for query, found in zip(queries, results, strict=True):
        assert set(found) == brute_force(codes, ids, query, max_distance)
        assert found == sorted(found, key=lambda pair: (pair[1], pair[0]))
    assert sum(map(len, results)) > 12  # the planted neighbours were found


@pytest.mark.parametrize(("nbytes", "max_distance"), [(32, 31), (32, 64), (8, 10)])
def test_a_table_split_into_shards_finds_exactly_what_a_whole_one_does(
    nbytes: int, max_distance: int
) -> None:
    # Large tables are searched in row shards on several threads; 3 shards of 10,000 codes
    # (an uneven split) must give the same hits, positions and order as one table.
    codes, ids, queries = planted_set(nbytes, 10_000, seed=5, flips=(*FLIPS, 50, 64))
    whole = HammingTable("pdq", nbytes, codes, ids, None, None, shards=1)
    split = HammingTable("pdq", nbytes, codes, ids, None, None, shards=3)
    expected, found = whole.search(queries, max_distance), split.search(queries, max_distance)
    assert len(expected.rows) > 12
    for column in Hits._fields:
        np.testing.assert_array_equal(getattr(found, column), getattr(expected, column))
    assert split.memory_bytes() == whole.memory_bytes()
    tiny = HammingTable("pdq", nbytes, codes[:2], ids[:2], None, None, shards=3)
    assert len(tiny.search(codes[:2], 0).rows) == 2  # more shards asked for than codes


@pytest.mark.parametrize("kind", ["mih", "scan"])
@pytest.mark.parametrize("max_distance", [0, 10, 31, 32])
def test_search_phash_equals_brute_force_on_random_codes_with_planted_neighbours(
    max_distance: int, kind: IndexKind
) -> None:
    codes, ids, queries = planted_set(8, 5_000, seed=2, flips=(0, 1, 5, 10, 11, 15, 31, 32))
    index = BlocklistIndex.from_arrays(phash_codes=codes, phash_ids=ids, kind=kind)
    results = index.search_phash(queries, max_distance)
    for query, found in zip(queries, results, strict=True):
        assert set(found) == brute_force(codes, ids, query, max_distance)


def test_search_rejects_codes_of_the_wrong_width_and_negative_distances() -> None:
    index = BlocklistIndex.build([])
    with pytest.raises(ValueError, match=r"\(n, 32\)"):
        index.search_pdq(np.zeros((1, 8), np.uint8), 31)
    with pytest.raises(ValueError, match="max_distance"):
        index.search_phash(np.zeros((1, 8), np.uint8), -1)


def test_empty_index_returns_nothing() -> None:
    index = BlocklistIndex.build([])
    rng = np.random.default_rng(3)
    assert index.query(media(frame(rng)), MatchThresholds()) == ()
    assert index.search_pdq(np.zeros((2, 32), np.uint8), 256) == [[], []]
    assert len(index) == 0
    assert index.counts() == {"pdq": 0, "phash": 0, "sha256": 0, "md5": 0, "clip": 0}


def test_query_matches_sha256_and_md5_exactly() -> None:
    hashes = media(data=b"known")
    index = BlocklistIndex.build(
        [
            entry(1, Algorithm.SHA256, hashes.sha256),
            entry(2, Algorithm.MD5, hashes.md5),
            entry(3, Algorithm.SHA256, hashlib.sha256(b"other").hexdigest()),
        ]
    )
    assert index.query(hashes, MatchThresholds()) == (
        Match(1, "sha256", 0, None, False, 0),
        Match(2, "md5", 0, None, False, 0),
    )


def test_query_matches_pdq_through_a_rotated_or_flipped_variant() -> None:
    rng = np.random.default_rng(4)
    variants = [random_bytes(rng, 32) for _ in range(8)]
    index = BlocklistIndex.build([entry(7, Algorithm.PDQ, flipped(variants[5], 12))])
    matches = index.query(media(frame(rng, index=3, variants=variants)), MatchThresholds())
    assert matches == (Match(7, "pdq", 12, None, False, 3),)
    assert index.query(media(frame(rng, index=3, variants=variants)), MatchThresholds(pdq=11)) == ()


def test_query_matches_phash_within_its_threshold() -> None:
    rng = np.random.default_rng(5)
    phash = random_bytes(rng, 8)
    index = BlocklistIndex.build([entry(8, Algorithm.PHASH, flipped(phash, 10))])
    assert index.query(media(frame(rng, phash=phash)), MatchThresholds()) == (
        Match(8, "phash", 10, None, False, 0),
    )
    assert index.query(media(frame(rng, phash=phash)), MatchThresholds(phash=9)) == ()


def test_low_quality_frame_is_not_matched_perceptually_but_still_exactly() -> None:
    rng = np.random.default_rng(6)
    flat = frame(rng, quality=49)
    hashes = media(flat, data=b"flat")
    index = BlocklistIndex.build(
        [
            entry(1, Algorithm.PDQ, flat.pdq),
            entry(2, Algorithm.PHASH, flat.phash),
            entry(3, Algorithm.MD5, hashes.md5),
        ]
    )
    assert index.query(hashes, MatchThresholds()) == (Match(3, "md5", 0, None, False, 0),)
    assert [m.entry_id for m in index.query(hashes, MatchThresholds(pdq_min_quality=49))] == [
        1,
        2,
        3,
    ]


def test_allow_entries_are_returned_with_allow_and_honour_allow_thresholds() -> None:
    rng = np.random.default_rng(7)
    shown = frame(rng)
    index = BlocklistIndex.build(
        [
            entry(1, Algorithm.PDQ, flipped(shown.pdq, 20)),
            entry(2, Algorithm.PDQ, flipped(shown.pdq, 20), allow=True),
            entry(3, Algorithm.PHASH, flipped(shown.phash, 4), allow=True),
        ]
    )
    assert index.query(media(shown), MatchThresholds()) == (
        Match(3, "phash", 4, None, True, 0),
        Match(1, "pdq", 20, None, False, 0),
        Match(2, "pdq", 20, None, True, 0),
    )
    narrow_allow = MatchThresholds(allow_pdq=19, allow_phash=3)
    assert [m.entry_id for m in index.query(media(shown), narrow_allow)] == [1]
    wide_allow = MatchThresholds(pdq=19, allow_pdq=40)
    assert [m.entry_id for m in index.query(media(shown), wide_allow)] == [3, 2]


def test_dedupe_keeps_the_smallest_distance_and_its_frame() -> None:
    rng = np.random.default_rng(8)
    target = random_bytes(rng, 32)
    far = frame(rng, index=0, variants=[flipped(target, 25), *[random_bytes(rng, 32)] * 7])
    others = [random_bytes(rng, 32) for _ in range(6)]
    near = frame(rng, index=4, variants=[flipped(target, 3), *others, target])
    index = BlocklistIndex.build([entry(9, Algorithm.PDQ, target)])
    assert index.query(media(far, near), MatchThresholds()) == (Match(9, "pdq", 0, None, False, 4),)


def test_entries_of_every_guild_are_returned_with_their_guild_id() -> None:
    rng = np.random.default_rng(9)
    shown = frame(rng)
    guilds = [None, 111, 2**62, 111]
    index = BlocklistIndex.build(
        [entry(i + 1, Algorithm.PDQ, shown.pdq, g, allow=i == 3) for i, g in enumerate(guilds)]
    )
    matches = index.query(media(shown), MatchThresholds())
    assert [(m.entry_id, m.guild_id, m.allow) for m in matches] == [
        (1, None, False),
        (2, 111, False),
        (3, 2**62, False),
        (4, 111, True),
    ]


def test_build_equals_from_arrays_on_the_same_data() -> None:
    rng = np.random.default_rng(10)
    pdq, pdq_ids, pdq_queries = planted_set(32, 2_000, seed=11)
    phash, phash_ids, phash_queries = planted_set(8, 2_000, seed=12)
    pdq_guilds = rng.choice([INSTANCE_WIDE, 5, 6], len(pdq))
    pdq_allow = rng.random(len(pdq)) < 0.1
    exact = [entry(1, Algorithm.SHA256, "ab" * 32), entry(2, Algorithm.MD5, "cd" * 16)]
    entries = [
        entry(int(i), Algorithm.PDQ, code.tobytes(), None if g == INSTANCE_WIDE else int(g), a)
        for i, code, g, a in zip(pdq_ids, pdq, pdq_guilds, pdq_allow, strict=True)
    ]
    entries += [
        entry(int(i), Algorithm.PHASH, c.tobytes()) for i, c in zip(phash_ids, phash, strict=True)
    ]
    built = BlocklistIndex.build([*exact, *entries], generation=4)
    arrays = BlocklistIndex.from_arrays(
        pdq_codes=pdq,
        pdq_ids=pdq_ids,
        pdq_guilds=pdq_guilds,
        pdq_allow=pdq_allow,
        phash_codes=phash,
        phash_ids=phash_ids,
        exact=exact,
        generation=4,
    )
    counts = {"pdq": 2_252, "phash": 2_084, "sha256": 1, "md5": 1, "clip": 0}
    assert built.counts() == arrays.counts() == counts
    assert len(built) == len(arrays) == 4_338
    assert built.generation == arrays.generation == 4
    assert built.search_pdq(pdq_queries, 32) == arrays.search_pdq(pdq_queries, 32)
    assert built.search_phash(phash_queries, 12) == arrays.search_phash(phash_queries, 12)
    hashes = media(frame(rng, variants=list(map(bytes, pdq_queries[:8])), phash=b"\0" * 8))
    matches = built.query(hashes, MatchThresholds())
    assert len(matches) > 8
    assert matches == arrays.query(hashes, MatchThresholds())
    # Fed to the builder in uneven batches, as a reload reads storage, the index is the same.
    builder = IndexBuilder()
    rows = [MatchRow.of(e) for e in [*entries[:700], *exact, *entries[700:]]]
    for start in range(0, len(rows), 999):
        builder.add(rows[start : start + 999])
    batched = builder.build(generation=4)
    assert builder.rows == 4_338 and batched.counts() == counts
    assert batched.query(hashes, MatchThresholds()) == matches
    assert batched.search_pdq(pdq_queries, 32) == built.search_pdq(pdq_queries, 32)
    assert batched.search_phash(phash_queries, 12) == built.search_phash(phash_queries, 12)


def test_index_is_unaffected_by_later_changes_to_its_input() -> None:
    rng = np.random.default_rng(13)
    shown = frame(rng)
    entries = [entry(1, Algorithm.PDQ, shown.pdq), entry(2, Algorithm.PHASH, shown.phash)]
    built = BlocklistIndex.build(entries)
    entries.clear()
    entries.append(entry(3, Algorithm.PDQ, shown.pdq))
    assert [m.entry_id for m in built.query(media(shown), MatchThresholds())] == [1, 2]

    codes = np.frombuffer(shown.pdq, dtype=np.uint8)[None, :].copy()
    ids, guilds, allow = np.array([1]), np.array([5]), np.array([False])
    arrays = BlocklistIndex.from_arrays(
        pdq_codes=codes, pdq_ids=ids, pdq_guilds=guilds, pdq_allow=allow
    )
    codes[:] = 0
    ids[:], guilds[:], allow[:] = 99, 6, True
    assert arrays.query(media(shown), MatchThresholds()) == (Match(1, "pdq", 0, 5, False, 0),)


def test_from_arrays_rejects_mismatched_columns() -> None:
    codes = np.zeros((3, 32), np.uint8)
    with pytest.raises(ValueError, match="pdq_ids"):
        BlocklistIndex.from_arrays(pdq_codes=codes)
    with pytest.raises(ValueError, match="pdq_guilds"):
        BlocklistIndex.from_arrays(pdq_codes=codes, pdq_ids=[1, 2, 3], pdq_guilds=[1])
    with pytest.raises(ValueError, match="phash_codes"):
        BlocklistIndex.from_arrays(phash_codes=np.zeros((3, 32), np.uint8), phash_ids=[1, 2, 3])
    with pytest.raises(ValueError, match="not an exact hash"):
        BlocklistIndex.from_arrays(exact=[entry(1, Algorithm.PDQ, "00" * 32)])
    with pytest.raises(ValueError, match="entry 4"):
        BlocklistIndex.build([entry(4, Algorithm.PHASH, "abc")])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pdq", -1),
        ("pdq", 257),
        ("allow_pdq", 300),
        ("phash", 65),
        ("allow_phash", -2),
        ("pdq_min_quality", 101),
    ],
)
def test_match_thresholds_reject_out_of_range_values_naming_the_field(
    field: str, value: int
) -> None:
    with pytest.raises(ValueError, match=field):
        MatchThresholds(**{field: value})
    assert MatchThresholds(pdq=256, phash=64, pdq_min_quality=0).pdq == 256


def test_one_snapshot_answers_many_threads_at_once() -> None:
    codes, ids, queries = planted_set(32, 5_000, seed=14)
    index = BlocklistIndex.from_arrays(pdq_codes=codes, pdq_ids=ids)
    expected = index.search_pdq(queries, 31)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: index.search_pdq(queries, 31), range(16)))
    assert all(result == expected for result in results)


def test_the_builder_names_a_malformed_stored_hash() -> None:
    builder = IndexBuilder()
    with pytest.raises(ValueError, match="entry 7: bad pdq hash 'abc'"):
        builder.add([MatchRow(7, "pdq", "abc", None, False)])

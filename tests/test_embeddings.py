"""CLIP embedding entries: how they are stored, validated and matched by cosine distance."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest

from bot.core import embeddings
from bot.core.blocklist import Algorithm, BlocklistEntry, NewEntry
from bot.core.embeddings import EMBED_DIM, EmbeddingTable
from bot.core.index import BlocklistIndex, MatchThresholds

GUILD = 111
OTHER_GUILD = 222


def unit(rng: np.random.Generator, n: int = 1) -> npt.NDArray[np.float32]:
    rows = rng.normal(size=(n, EMBED_DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def at_distance(
    base: npt.NDArray[np.float32], distance: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """A unit vector whose cosine distance to unit ``base`` is exactly ``distance``."""
    other = rng.normal(size=EMBED_DIM).astype(np.float64)
    other -= (other @ base) * base
    other /= np.linalg.norm(other)
    cos = 1.0 - distance
    return (cos * base + np.sqrt(1 - cos**2) * other).astype(np.float32)


def stored(entry_id: int, vector: npt.ArrayLike, guild_id: int | None = GUILD) -> BlocklistEntry:
    value = embeddings.encode(vector)
    return BlocklistEntry(
        entry_id, Algorithm.CLIP, value, guild_id, "case", "", "", datetime(2026, 1, 1, tzinfo=UTC)
    )


def test_an_embedding_round_trips_through_its_hex_within_float16_precision() -> None:
    vector = unit(np.random.default_rng(1))[0] * 3.5  # any length: stored at unit length
    value = embeddings.encode(vector)
    assert len(value) == Algorithm.CLIP.hex_length == 2048
    [back] = embeddings.decode([value])
    assert back.dtype == np.float32 and np.linalg.norm(back) == pytest.approx(1.0, abs=1e-6)
    assert float(back @ (vector / np.linalg.norm(vector))) > 0.9999


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        (np.zeros(EMBED_DIM), "not all zeros"),
        (np.full(EMBED_DIM, np.nan), "finite"),
        (np.ones(3), "512 values"),
    ],
)
def test_unusable_vectors_are_refused(vector: npt.ArrayLike, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        embeddings.encode(vector)


def test_a_clip_entry_must_hold_a_usable_embedding_and_can_never_allow() -> None:
    good = embeddings.encode(unit(np.random.default_rng(2))[0])
    assert NewEntry(Algorithm.CLIP, good.upper()).value == good
    with pytest.raises(ValueError, match="2048 hex digits"):
        NewEntry(Algorithm.CLIP, good[:-2])
    zeros = "0" * Algorithm.CLIP.hex_length
    with pytest.raises(ValueError, match="not all zeros"):
        NewEntry(Algorithm.CLIP, zeros)
    infinity = np.full(EMBED_DIM, np.inf, dtype="<f2").tobytes().hex()
    with pytest.raises(ValueError, match="finite"):
        NewEntry(Algorithm.CLIP, infinity)
    with pytest.raises(ValueError, match="cannot be allow-list entries"):
        NewEntry(Algorithm.CLIP, good, allow=True)


def test_the_table_finds_exactly_the_rows_within_the_radius_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    queries = unit(rng, 4)
    planted = [at_distance(q, d, rng) for q in queries for d in (0.0, 0.03, 0.059, 0.061, 0.2)]
    vectors = np.concatenate([unit(rng, 3000), np.stack(planted)])
    order = rng.permutation(len(vectors))
    vectors = vectors[order]
    ids = rng.choice(10**12, len(vectors), replace=False).astype(np.int64)
    table = EmbeddingTable(vectors, ids, [None] * len(ids))
    hits = table.search(queries, 0.06)
    exact = 1.0 - queries.astype(np.float64) @ vectors.astype(np.float64).T
    expected = {(r, p) for r, p in zip(*np.nonzero(exact <= 0.06), strict=True)}
    assert set(zip(hits.rows.tolist(), hits.positions.tolist(), strict=True)) == expected
    assert len(expected) == 12  # 0, 0.03 and 0.059 of each query; nothing random is that close
    np.testing.assert_allclose(hits.distances, exact[hits.rows, hits.positions], atol=1e-4)


def test_the_index_matches_each_entry_once_at_its_nearest_frame_in_every_scope() -> None:
    rng = np.random.default_rng(4)
    confirmed, unrelated = unit(rng, 2)
    entries = [
        stored(1, confirmed),
        stored(2, confirmed, guild_id=OTHER_GUILD),
        stored(3, unrelated, guild_id=None),
    ]
    index = BlocklistIndex.build(entries, generation=2)
    assert index.counts()["clip"] == 3 and len(index) == 3
    frames = np.stack([at_distance(confirmed, 0.04, rng), at_distance(confirmed, 0.01, rng)])
    matches = index.query_embeddings(frames, [0, 1500], 0.06)
    # Both frames match both copies; each entry is reported once, at the nearer frame. Scopes
    # are kept for the policy to filter: the index answers for every server.
    assert [(m.entry_id, m.guild_id, m.frame, m.allow) for m in matches] == [
        (1, GUILD, 1500, False),
        (2, OTHER_GUILD, 1500, False),
    ]
    assert {m.algorithm for m in matches} == {"clip"}
    assert [m.distance for m in matches] == pytest.approx([0.01, 0.01], abs=1e-3)


def test_a_zero_radius_turns_look_alike_matching_off() -> None:
    rng = np.random.default_rng(5)
    [vector] = unit(rng)
    index = BlocklistIndex.build([stored(1, vector)])
    assert index.query_embeddings(vector[None], [0], 0.0) == ()
    assert [m.entry_id for m in index.query_embeddings(vector[None], [0], 0.01)] == [1]
    assert MatchThresholds().clip == embeddings.DEFAULT_MAX_DISTANCE == 0.06
    with pytest.raises(ValueError, match="clip must be between 0 and 2"):
        MatchThresholds(clip=2.5)


def test_hash_queries_never_see_embedding_entries() -> None:
    rng = np.random.default_rng(6)
    index = BlocklistIndex.build([stored(1, unit(rng)[0])])
    assert index.counts() == {"pdq": 0, "phash": 0, "sha256": 0, "md5": 0, "clip": 1}
    assert index.search_pdq(np.zeros((1, 32), np.uint8), 256) == [[]]


def test_near_identical_frames_keep_one_embedding_per_look() -> None:
    rng = np.random.default_rng(7)
    first, second = unit(rng, 2)
    frames = np.stack(
        [first, at_distance(first, 0.01, rng), second, at_distance(second, 0.05, rng), first]
    )
    assert embeddings.distinct(frames) == [0, 2, 3]
    assert embeddings.distinct(frames, min_distance=0.1) == [0, 2]
    assert embeddings.distinct(frames[:0]) == []

"""The live index's owner: changes applied on top of the base, generations that only rise."""

from __future__ import annotations

from bot.core.blocklist import Algorithm, MatchRow
from bot.core.executor import BoundedExecutor
from bot.core.fingerprint import fingerprint
from bot.core.hashing import hash_media
from bot.core.index import BlocklistIndex, IndexBuilder, MatchThresholds
from bot.core.limits import MediaLimits
from bot.core.matcher import BlocklistMatcher
from bot.core.media import load_media
from tests.imagery import encode, photo

DATA = encode(photo("coffee"))
COFFEE = fingerprint(DATA, MediaLimits(), 50)
HASHES = hash_media(load_media(DATA, MediaLimits()))
THRESHOLDS = MatchThresholds()


def _rows(first_id: int) -> list[MatchRow]:
    return [
        MatchRow(first_id + n, a.value, v, None, False)
        for n, (a, v) in enumerate(COFFEE.hashes)
        if a is not Algorithm.SHA256
    ]


async def test_added_rows_match_at_once_and_removed_ids_stop_matching() -> None:
    executor = BoundedExecutor(workers=1, max_pending=4)
    try:
        matcher = BlocklistMatcher(BlocklistIndex.build([]))
        assert matcher.snapshot.query(HASHES, THRESHOLDS) == ()
        rows = _rows(10)
        generation = await matcher.apply(rows, (), executor)
        matches = matcher.snapshot.query(HASHES, THRESHOLDS)
        assert matches and {m.entry_id for m in matches} <= {row.id for row in rows}
        assert generation == matcher.generation
        await matcher.apply((), [m.entry_id for m in matches], executor)
        assert matcher.snapshot.query(HASHES, THRESHOLDS) == ()
        assert matcher.generation == generation + 1
    finally:
        executor.shutdown()


async def test_a_removal_hides_an_entry_of_the_base_until_the_next_rebuild() -> None:
    executor = BoundedExecutor(workers=1, max_pending=4)
    try:
        matcher = BlocklistMatcher()
        builder_rows = _rows(1)
        await matcher.apply(builder_rows, (), executor)
        builder = IndexBuilder()
        builder.add(builder_rows)
        await matcher.install(builder, executor)  # the rows are now in the base
        assert matcher.delta_size == 0
        await matcher.apply((), [row.id for row in builder_rows], executor)
        assert matcher.snapshot.query(HASHES, THRESHOLDS) == ()
        assert matcher.delta_size == len(builder_rows)  # tombstones
    finally:
        executor.shutdown()

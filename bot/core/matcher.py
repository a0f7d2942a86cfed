"""The live blocklist index: an immutable snapshot swapped in atomically when entries change."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.blocklist import BlocklistEntry, MatchRow
from bot.core.executor import BoundedExecutor
from bot.core.index import BlocklistIndex, IndexBuilder


class BlocklistMatcher:
    """Holds the current BlocklistIndex snapshot.

    Readers take ``snapshot`` once per scan and keep using it, so a rebuild never changes an index
    under a running query; assigning the new reference is atomic in CPython. ``generation`` rises
    with each swap, which lets caches keyed by it forget results computed against old entries.
    """

    def __init__(self, snapshot: BlocklistIndex | None = None) -> None:
        self._snapshot = snapshot if snapshot is not None else BlocklistIndex.build([])

    @property
    def snapshot(self) -> BlocklistIndex:
        return self._snapshot

    @property
    def generation(self) -> int:
        return self._snapshot.generation

    def swap(self, snapshot: BlocklistIndex) -> None:
        """Make ``snapshot`` the index every later scan uses."""
        self._snapshot = snapshot

    async def rebuild(self, entries: Iterable[BlocklistEntry], executor: BoundedExecutor) -> int:
        """Build a new snapshot from ``entries`` off the event loop, swap it in, return its size."""
        builder = IndexBuilder()
        await executor.run(builder.add, [MatchRow.of(entry) for entry in entries])
        return await self.install(builder, executor)

    async def install(self, builder: IndexBuilder, executor: BoundedExecutor) -> int:
        """Build the next snapshot from ``builder``'s rows off the event loop and swap it in;
        returns its size."""
        snapshot = await executor.run(builder.build, self.generation + 1)
        self.swap(snapshot)
        return len(snapshot)

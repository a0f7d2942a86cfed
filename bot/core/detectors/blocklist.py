"""The blocklist detector: matches media hashes against the live blocklist index."""

from __future__ import annotations

from bot.core.detectors.base import Detection, Detector
from bot.core.executor import BoundedExecutor
from bot.core.hashes import MediaHashes
from bot.core.index import MatchThresholds
from bot.core.matcher import BlocklistMatcher
from bot.core.media import Media

BLOCKLIST = "blocklist"


class BlocklistDetector(Detector):
    """Reports every blocklist and allow-list entry within matching distance of the media."""

    name = BLOCKLIST
    labels = ()

    def __init__(
        self, matcher: BlocklistMatcher, thresholds: MatchThresholds, executor: BoundedExecutor
    ) -> None:
        self._matcher = matcher
        self._thresholds = thresholds
        self._executor = executor

    async def detect(self, media: Media | None, hashes: MediaHashes) -> Detection:
        """Match ``hashes``; ``media`` may be None when only the exact hashes could be computed."""
        snapshot = self._matcher.snapshot
        matches = await self._executor.run(snapshot.query, hashes, self._thresholds)
        return Detection(detector=self.name, matches=matches)

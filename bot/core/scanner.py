"""The scanner: media bytes in, a Verdict out, with identical media examined once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from bot.core import embeddings
from bot.core.blocklist import Algorithm
from bot.core.cache import ExpiringLRU
from bot.core.detectors.base import Detection, Detector
from bot.core.detectors.blocklist import BlocklistDetector
from bot.core.executor import BoundedExecutor
from bot.core.faces.face import FaceFinding, LikenessMatch
from bot.core.faces.likeness import ProtectedFaces
from bot.core.faces.stage import FaceStage
from bot.core.findings import DETECTOR_FAILED, Findings, Problem
from bot.core.hashes import FrameHashes, MediaHashes
from bot.core.hashing import exact_hashes, hash_frame
from bot.core.index import MatchThresholds
from bot.core.limits import MediaLimits
from bot.core.match_scope import DEFAULT_SCOPE, MatchScope
from bot.core.matcher import BlocklistMatcher
from bot.core.media import Media, UnscannableMedia, load_media
from bot.core.policy import Policy
from bot.core.verdict import Match, Verdict

log = logging.getLogger(__name__)

# Hashing a few hundred KiB on the loop costs less than a thread hop; larger files go to the pool.
_INLINE_HASH_BYTES = 256 * 1024

CacheKey = tuple[str, int, bool]
Timer = Callable[[str, float], None]
"""Told a stage's name and how many seconds it took."""
ScopeFor = Callable[[tuple[Match, ...]], Awaitable[MatchScope]]
"""Which of a scan's matches count for the server (asked only when something matched)."""
NEAR_DUPLICATES = "near-duplicates"
"""The detection that holds matches of the media's embeddings against ``clip`` entries."""


class Scanner:
    """Examines media with the blocklist and every configured detector, then applies a policy.

    Findings are cached by (sha256, blocklist generation), and concurrent scans of the same bytes
    share one examination, so a raid posting one image hundreds of times costs one decode.
    """

    def __init__(
        self,
        *,
        executor: BoundedExecutor,
        matcher: BlocklistMatcher,
        limits: MediaLimits | None = None,
        thresholds: MatchThresholds | None = None,
        detectors: Sequence[Detector] = (),
        cache: ExpiringLRU[Findings] | None = None,
        faces: FaceStage | None = None,
        protected: ProtectedFaces | None = None,
    ) -> None:
        self.executor = executor
        self.matcher = matcher
        self.limits = limits or MediaLimits()
        thresholds = thresholds or MatchThresholds()
        self.thresholds = thresholds
        self.quality_floor = thresholds.pdq_min_quality
        self.blocklist = BlocklistDetector(matcher, thresholds, executor)
        self.detectors = tuple(detectors)
        self.faces = faces
        self.protected = protected
        self.cache: ExpiringLRU[Findings] = cache if cache is not None else ExpiringLRU()
        self._inflight: dict[CacheKey, asyncio.Future[Findings]] = {}
        self.timer: Timer | None = None
        """Told how long each stage took (decode_hashes, model:<name>, faces, policy)."""

    async def scan(
        self,
        data: bytes,
        *,
        policy: Policy,
        guild_id: int | None = None,
        age_restricted: bool = False,
        author_id: int | None = None,
        scope_for: ScopeFor | None = None,
    ) -> Verdict:
        """Scan ``data`` and decide under ``policy`` for server ``guild_id`` (None: offline), in
        an age-restricted channel or not. Faces in it are matched against the server's
        protected members, except ``author_id``'s own (a member may post pictures of
        themself). ``scope_for`` is asked, when anything matched, which matches count."""
        findings, cached = await self.examine(data)
        matches = findings.matches()
        scope = await scope_for(matches) if scope_for is not None and matches else DEFAULT_SCOPE
        started = time.perf_counter()
        verdict = policy.evaluate(
            findings,
            guild_id,
            age_restricted=age_restricted,
            likeness=self.likeness(guild_id, findings.faces, author_id),
            scope=scope,
        )
        self._took("policy", started)
        return replace(verdict, cached=True) if cached else verdict

    def likeness(
        self, guild_id: int | None, faces: Sequence[FaceFinding], author_id: int | None
    ) -> tuple[LikenessMatch, ...]:
        """Protected members of ``guild_id`` shown by ``faces`` (the poster excepted)."""
        if guild_id is None or self.protected is None or not faces:
            return ()
        return self.protected.match(guild_id, faces, exclude=author_id)

    async def examine(self, data: bytes) -> tuple[Findings, bool]:
        """Findings for ``data`` and whether they came from the cache (or a concurrent scan)."""
        if len(data) <= _INLINE_HASH_BYTES:
            sha256, md5 = exact_hashes(data)
        else:
            sha256, md5 = await self.executor.run(exact_hashes, data)
        # Faces are described only while someone is protected somewhere: findings made without
        # them are keyed apart, so the first enrolment is never answered from such a cache.
        key = (sha256, self.matcher.generation, self._faces_wanted())
        hit = self.cache.get(key)
        if hit is not None:
            return hit, True
        pending = self._inflight.get(key)
        owner = pending is None
        if pending is None:
            # The examination is the scanner's own task: a caller that gives up (a cancelled
            # message, a shutdown) never cancels it for the others waiting on the same file.
            pending = asyncio.create_task(self._examine_once(key, data, sha256, md5))
            pending.add_done_callback(_retrieve)
            self._inflight[key] = pending
        return await asyncio.shield(pending), not owner

    async def _examine_once(self, key: CacheKey, data: bytes, sha256: str, md5: str) -> Findings:
        try:
            findings = await self._examine(data, sha256, md5)
        finally:
            del self._inflight[key]
        # A model failure is never remembered: the next post of the file is examined again.
        if not any(p.code == DETECTOR_FAILED for p in findings.problems):
            self.cache.put(key, findings)
        return findings

    async def _examine(self, data: bytes, sha256: str, md5: str) -> Findings:
        generation = self.matcher.generation
        started = time.perf_counter()
        try:
            media, frames = await self.executor.run(_decode_and_hash, data, self.limits)
        except UnscannableMedia as exc:
            # Exact hashes still identify known files (hash lists publish MD5 for videos).
            exact = await self.blocklist.detect(None, MediaHashes(sha256, md5))
            return Findings(
                sha256=sha256,
                md5=md5,
                detections=(exact,),
                problems=(Problem("intake", exc.code, exc.message),),
                generation=generation,
            )
        self._took("decode_hashes", started)
        hashes = MediaHashes(sha256, md5, frames)
        detectors: list[Detector] = [self.blocklist, *self.detectors]
        results = await asyncio.gather(
            *(self._timed(d, media, hashes) for d in detectors), return_exceptions=True
        )
        detections: list[Detection] = []
        problems: list[Problem] = []
        for detector, result in zip(detectors, results, strict=True):
            if isinstance(result, Detection):
                detections.append(result)
            elif isinstance(result, Exception):
                log.warning("detector %s failed on %s; trying once more", detector.name, sha256)
                retried = await self._retry(detector, media, hashes)
                if isinstance(retried, Detection):
                    detections.append(retried)
                    continue
                log.error("detector %s failed on %s", detector.name, sha256, exc_info=retried)
                problems.append(
                    Problem(detector.name, DETECTOR_FAILED, f"{detector.name} failed: {retried}")
                )
            else:
                raise result  # cancellation and other BaseExceptions must propagate
        vectors = next((d.embeddings for d in detections if d.embeddings is not None), None)
        if vectors is not None and len(vectors):
            detections.append(await self._near_duplicates(media, vectors))
        faces: tuple[FaceFinding, ...] = ()
        if self.faces is not None and self._faces_wanted():
            try:
                started = time.perf_counter()
                faces = await self.faces.run(media, detections)
                self._took("faces", started)
            except Exception as exc:
                log.exception("the face stage failed on %s", sha256)
                problems.append(Problem("faces", DETECTOR_FAILED, f"face matching failed: {exc}"))
        return Findings(
            sha256=sha256,
            md5=md5,
            detections=tuple(detections),
            media_type=media.media_type.value,
            width=media.width,
            height=media.height,
            frames_scanned=len(media.frames),
            pdq=_distinct(f.pdq.hex() for f in frames if f.pdq_quality >= self.quality_floor),
            phash=_distinct(f.phash.hex() for f in frames if f.pdq_quality >= self.quality_floor),
            clip=_distinct_embeddings(vectors),
            faces=faces,
            problems=tuple(problems),
            generation=generation,
        )

    async def _timed(self, detector: Detector, media: Media, hashes: MediaHashes) -> Detection:
        started = time.perf_counter()
        detection = await detector.detect(media, hashes)
        self._took(f"model:{detector.name}", started)
        return detection

    def _took(self, stage: str, started: float) -> None:
        if self.timer is not None:
            self.timer(stage, time.perf_counter() - started)

    async def _retry(
        self, detector: Detector, media: Media, hashes: MediaHashes
    ) -> Detection | Exception:
        try:
            return await detector.detect(media, hashes)
        except Exception as exc:
            return exc

    def _faces_wanted(self) -> bool:
        return self.faces is not None and self.protected is not None and self.protected.anyone

    async def _near_duplicates(self, media: Media, vectors: npt.NDArray[np.float32]) -> Detection:
        """Match the frames' embeddings against ``clip`` entries (confirmed media)."""
        snapshot = self.matcher.snapshot
        if self.thresholds.clip <= 0 or not snapshot.counts()[Algorithm.CLIP.value]:
            return Detection(detector=NEAR_DUPLICATES)  # nothing to match: no thread hop
        frames = [frame.index for frame in media.frames]
        matches = await self.executor.run(
            snapshot.query_embeddings, vectors, frames, self.thresholds.clip
        )
        return Detection(detector=NEAR_DUPLICATES, matches=matches)

    async def close(self) -> None:
        """Close every detector."""
        for detector in self.detectors:
            await detector.close()


def _retrieve(task: asyncio.Task[Findings]) -> None:
    # Every waiter may have given up: mark a failure as seen, its waiters re-raise it anyway.
    if not task.cancelled():
        task.exception()


def _distinct_embeddings(vectors: npt.NDArray[np.float32] | None) -> tuple[str, ...]:
    if vectors is None:
        return ()
    return tuple(embeddings.encode(vectors[i]) for i in embeddings.distinct(vectors))


def _distinct(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _decode_and_hash(data: bytes, limits: MediaLimits) -> tuple[Media, tuple[FrameHashes, ...]]:
    # One pool call for both steps: decoded frames never cross back to the loop between them.
    media = load_media(data, limits)
    return media, tuple(hash_frame(frame) for frame in media.frames)

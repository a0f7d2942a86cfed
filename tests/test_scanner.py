"""The scanner end to end inside the core: bytes in, verdicts out."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.core import embeddings
from bot.core.blocklist import Algorithm, BlocklistEntry
from bot.core.detectors.base import Detection, Detector
from bot.core.detectors.manifest import load_manifest
from bot.core.detectors.onnx_classifier import OnnxClassifier
from bot.core.executor import BoundedExecutor
from bot.core.fingerprint import fingerprint
from bot.core.hashes import MediaHashes
from bot.core.index import MatchThresholds
from bot.core.limits import MediaLimits
from bot.core.matcher import BlocklistMatcher
from bot.core.media import Media
from bot.core.policy import Policy
from bot.core.scanner import Scanner
from bot.core.verdict import Action
from tests.imagery import encode, photo
from tests.tiny_model import write_manifest

LIMITS = MediaLimits()
ASTRONAUT = encode(photo("astronaut"))
COFFEE = encode(photo("coffee"))


def _entries(data: bytes, first_id: int = 1, *, allow: bool = False) -> list[BlocklistEntry]:
    hashes = fingerprint(data, LIMITS, pdq_min_quality=50).hashes
    now = datetime.now(UTC)
    return [
        BlocklistEntry(first_id + i, algorithm, value, None, "test", "", "", now, allow)
        for i, (algorithm, value) in enumerate(hashes)
    ]


class CountingDetector(Detector):
    """Counts how often media is actually examined (as opposed to served from the cache)."""

    name = "counter"
    labels = ("seen",)

    def __init__(self, fail: bool = False, failures: int | None = None) -> None:
        self.calls = 0
        self.failures = failures if failures is not None else (10**9 if fail else 0)

    async def detect(self, media: Media, hashes: MediaHashes) -> Detection:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.calls <= self.failures:
            raise RuntimeError("model crashed")
        return Detection(self.name, {"seen": 0.0})


@pytest.fixture
async def executor():
    pool = BoundedExecutor(2)
    yield pool
    pool.shutdown()


@pytest.fixture
async def matcher(executor: BoundedExecutor) -> BlocklistMatcher:
    matcher = BlocklistMatcher()
    await matcher.rebuild(_entries(ASTRONAUT), executor)
    return matcher


async def test_a_blocklisted_photo_is_quarantined_with_its_matches(executor, matcher) -> None:
    scanner = Scanner(executor=executor, matcher=matcher)
    reencoded = encode(photo("astronaut").resize((256, 256)), quality=50)
    verdict = await scanner.scan(reencoded, policy=Policy.default())
    assert verdict.action is Action.QUARANTINE
    algorithms = {m.algorithm for m in verdict.matches}
    assert "pdq" in algorithms
    assert all(r.entry_id is not None for r in verdict.reasons)
    assert verdict.media_type == "jpeg" and verdict.width == 256 and verdict.frames_scanned == 1


async def test_an_unrelated_photo_is_allowed(executor, matcher) -> None:
    scanner = Scanner(executor=executor, matcher=matcher)
    verdict = await scanner.scan(COFFEE, policy=Policy.default())
    assert verdict.action is Action.ALLOW
    assert verdict.matches == ()


async def test_identical_media_is_examined_once_even_when_posted_concurrently(
    executor, matcher
) -> None:
    counter = CountingDetector()
    scanner = Scanner(executor=executor, matcher=matcher, detectors=[counter])
    verdicts = await asyncio.gather(
        *(scanner.scan(COFFEE, policy=Policy.default()) for _ in range(20))
    )
    again = await scanner.scan(COFFEE, policy=Policy.default())
    assert counter.calls == 1
    assert [v.cached for v in verdicts].count(False) == 1
    assert again.cached


async def test_a_blocklist_change_invalidates_cached_findings(executor, matcher) -> None:
    scanner = Scanner(executor=executor, matcher=matcher)
    assert (await scanner.scan(COFFEE, policy=Policy.default())).action is Action.ALLOW
    await matcher.rebuild(_entries(ASTRONAUT) + _entries(COFFEE, first_id=100), executor)
    verdict = await scanner.scan(COFFEE, policy=Policy.default())
    assert verdict.action is Action.QUARANTINE
    assert not verdict.cached


async def test_corrupt_media_is_unscannable_with_its_reason(executor, matcher) -> None:
    scanner = Scanner(executor=executor, matcher=matcher)
    verdict = await scanner.scan(COFFEE[: len(COFFEE) // 2], policy=Policy.default())
    assert verdict.action is Action.UNSCANNABLE
    [reason] = verdict.reasons
    assert reason.signal == "intake" and reason.message


async def test_a_known_file_is_quarantined_even_when_it_cannot_be_decoded(executor) -> None:
    broken = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    digest = hashlib.sha256(broken).hexdigest()
    entry = BlocklistEntry(1, Algorithm.SHA256, digest, None, "test", "", "", datetime.now(UTC))
    matcher = BlocklistMatcher()
    await matcher.rebuild([entry], executor)
    verdict = await Scanner(executor=executor, matcher=matcher).scan(
        broken, policy=Policy.default()
    )
    assert verdict.action is Action.QUARANTINE
    assert {r.signal for r in verdict.reasons} == {"blocklist.sha256", "intake"}


async def test_a_failing_detector_marks_the_scan_incomplete_without_losing_other_signals(
    executor, matcher
) -> None:
    scanner = Scanner(executor=executor, matcher=matcher, detectors=[CountingDetector(fail=True)])
    verdict = await scanner.scan(ASTRONAUT, policy=Policy.default())
    assert verdict.action is Action.QUARANTINE  # the blocklist still matched
    assert any(r.signal == "counter" and "model crashed" in r.message for r in verdict.reasons)


async def test_a_model_that_keeps_failing_is_flagged_never_allowed_and_never_cached(
    executor,
) -> None:
    counter = CountingDetector(fail=True)
    scanner = Scanner(executor=executor, matcher=BlocklistMatcher(), detectors=[counter])
    verdict = await scanner.scan(COFFEE, policy=Policy.default())
    assert verdict.action is Action.FLAG and counter.calls == 2  # tried, then once more
    (reason,) = verdict.reasons
    assert "model crashed" in reason.message and "not fully examined" in reason.message
    again = await scanner.scan(COFFEE, policy=Policy.default())
    assert not again.cached and counter.calls == 4  # examined afresh, not served from cache


async def test_a_model_that_fails_once_is_retried_and_the_result_cached(executor) -> None:
    counter = CountingDetector(failures=1)
    scanner = Scanner(executor=executor, matcher=BlocklistMatcher(), detectors=[counter])
    verdict = await scanner.scan(COFFEE, policy=Policy.default())
    assert verdict.action is Action.ALLOW and counter.calls == 2
    assert (await scanner.scan(COFFEE, policy=Policy.default())).cached


async def test_a_caller_giving_up_does_not_cancel_the_scan_for_others_waiting(executor) -> None:
    counter = CountingDetector()
    scanner = Scanner(executor=executor, matcher=BlocklistMatcher(), detectors=[counter])
    first = asyncio.create_task(scanner.scan(COFFEE, policy=Policy.default()))
    await asyncio.sleep(0)
    second = asyncio.create_task(scanner.scan(COFFEE, policy=Policy.default()))
    await asyncio.sleep(0)
    first.cancel()
    verdict = await second
    assert verdict.action is Action.ALLOW and counter.calls == 1
    assert first.cancelled()


async def test_an_allow_listed_photo_is_never_flagged(executor) -> None:
    matcher = BlocklistMatcher()
    await matcher.rebuild(_entries(ASTRONAUT) + _entries(ASTRONAUT, 50, allow=True), executor)
    verdict = await Scanner(executor=executor, matcher=matcher).scan(
        ASTRONAUT, policy=Policy.default()
    )
    assert verdict.action is Action.ALLOW
    assert verdict.reasons[0].signal == "allowlist"


async def test_a_model_score_drives_the_verdict_through_the_policy(
    tmp_path: Path, executor, matcher
) -> None:
    manifest = load_manifest(write_manifest(tmp_path, flag=0.5, quarantine=0.95))
    scanner = Scanner(
        executor=executor,
        matcher=matcher,
        detectors=[OnnxClassifier.load(manifest, executor)],
    )
    policy = Policy.default([manifest])
    red = encode(Image.new("RGB", (64, 64), (250, 5, 5)), "PNG")
    reddish = encode(Image.new("RGB", (64, 64), (153, 77, 77)), "PNG")
    assert (await scanner.scan(red, policy=policy)).action is Action.QUARANTINE
    verdict = await scanner.scan(reddish, policy=policy)
    assert verdict.action is Action.FLAG
    assert 0.5 <= verdict.scores["redness.red"] < 0.95
    rocket = encode(photo("rocket"))
    assert (await scanner.scan(rocket, policy=policy)).action is Action.ALLOW


async def test_a_verdict_carries_the_hashes_a_blocklist_entry_would_hold(executor, matcher) -> None:
    verdict = await Scanner(executor=executor, matcher=matcher).scan(
        COFFEE, policy=Policy.default()
    )
    stored = dict(fingerprint(COFFEE, LIMITS, pdq_min_quality=50).hashes)
    assert verdict.pdq == (stored[Algorithm.PDQ],)
    assert verdict.phash == (stored[Algorithm.PHASH],)
    assert verdict.sha256 == stored[Algorithm.SHA256]


class EmbeddingDetector(Detector):
    """Stands in for CLIP: gives each frame a fixed embedding chosen by the test."""

    name = "embedder"
    labels = ()

    def __init__(self, vectors: dict[int, np.ndarray]) -> None:
        self.vectors = vectors  # keyed by the media's width, which tells the test images apart

    async def detect(self, media: Media, hashes: MediaHashes) -> Detection:
        rows = np.stack([self.vectors[media.width]] * len(media.frames)).astype(np.float32)
        return Detection(self.name, embeddings=rows / np.linalg.norm(rows, axis=1, keepdims=True))


async def test_media_that_looks_like_confirmed_media_is_flagged_by_its_embedding(
    executor,
) -> None:
    rng = np.random.default_rng(11)
    confirmed, unrelated = rng.normal(size=(2, 512)).astype(np.float32)
    close = confirmed + 0.2 * rng.normal(size=512).astype(np.float32)  # cosine distance ~0.02
    entry = BlocklistEntry(
        50, Algorithm.CLIP, embeddings.encode(confirmed), 7, "case", "", "", datetime.now(UTC)
    )
    matcher = BlocklistMatcher()
    await matcher.rebuild([*_entries(ASTRONAUT), entry], executor)
    crop = encode(photo("coffee").crop((0, 0, 300, 300)))  # coffee: no hash of it is listed
    other = encode(photo("coffee").crop((0, 0, 320, 320)))
    scanner = Scanner(
        executor=executor,
        matcher=matcher,
        detectors=[EmbeddingDetector({300: close, 320: unrelated})],
    )
    flagged = await scanner.scan(crop, policy=Policy.default(), guild_id=7)
    assert flagged.action is Action.FLAG
    [reason] = flagged.reasons
    assert (reason.signal, reason.entry_id) == ("blocklist.clip", 50)
    assert reason.distance is not None and 0 < reason.distance < 0.06
    # The verdict carries the frame's embedding, so confirming it blocks look-alikes of it too.
    assert [embeddings.decode([h])[0] @ (close / np.linalg.norm(close)) for h in flagged.clip] == [
        pytest.approx(1.0, abs=1e-3)
    ]
    assert (await scanner.scan(other, policy=Policy.default(), guild_id=7)).action is Action.ALLOW
    elsewhere = await scanner.scan(crop, policy=Policy.default(), guild_id=8)
    assert elsewhere.action is Action.ALLOW and elsewhere.cached  # same findings, other server
    off = Scanner(
        executor=executor,
        matcher=matcher,
        thresholds=MatchThresholds(clip=0.0),
        detectors=[EmbeddingDetector({300: close})],
    )
    assert (await off.scan(crop, policy=Policy.default(), guild_id=7)).action is Action.ALLOW

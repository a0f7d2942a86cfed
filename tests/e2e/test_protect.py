"""End to end: members protect themselves, and explicit media showing them is removed.

The real face model (dlib's landmarks and its ResNet, converted to ONNX) runs on real photos of
real people (face_recognition's test photos). Explicit content is stood in for by the tiny
redness model declared an explicit-content model: a photo beside a red panel scores about 0.99
on it, and the ordinary rule for it only flags. No explicit imagery is involved.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from bot.cli import main as cli_main
from bot.config import Config, DetectorConfig, LikenessConfig, default_models_dir
from bot.core.evidence import EvidenceKey
from bot.core.verdict import Action
from bot.sandbox import DemoWorld, Sandbox
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_blocklist_commands import slash
from tests.faces_support import face_manifest, photo_bytes, photos_dir
from tests.imagery import encode, photo
from tests.test_real_models import _fetched
from tests.tiny_model import write_manifest


def explicit_standin(name: str) -> bytes:
    """The photo beside a red panel of its own size: the stand-in model scores it ~0.99."""
    image = Image.open(io.BytesIO(photo_bytes(name))).convert("RGB")
    canvas = Image.new("RGB", (image.width * 2, image.height), (255, 0, 0))
    canvas.paste(image, (0, 0))
    out = io.BytesIO()
    canvas.save(out, "PNG")
    return out.getvalue()


def protect_config(sandbox: Sandbox, tmp_path: Path) -> Config:
    face_manifest()  # fetched before the bot starts, as `consentry run` does
    _fetched("blazeface")  # the default face detector
    photos_dir()
    manifest = write_manifest(tmp_path, role="explicit", flag=0.5, quarantine=None)
    return sandbox_config(
        sandbox,
        tmp_path,
        detectors=(DetectorConfig(manifest=manifest),),
        likeness=LikenessConfig(),
        models_cache_dir=default_models_dir(),
    )


@pytest.fixture
async def protecting(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, evidence_key: EvidenceKey
) -> AsyncIterator[Harness]:
    """The bot, set up, with the face model, the stand-in explicit model and an evidence key."""
    config = protect_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config, evidence_key) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        yield harness


async def _protect_me(harness: Harness, member: int, *names: str, **extra: object) -> str:
    photos = {f"photo{i}": (name, photo_bytes(name)) for i, name in enumerate(names, 1)}
    return (await slash(harness, member, "protect", "me", **photos, **extra)).content


async def test_explicit_media_of_a_protected_member_is_removed_and_others_follow_the_rule(
    protecting: Harness,
) -> None:
    world = protecting.world
    protected, poster = world.member_ids[0], world.member_ids[1]
    reply = await _protect_me(protecting, protected, "obama.jpg", "obama2.jpg")
    assert "Protection on: 2 usable faces stored (encrypted)" in reply
    # A different photo of the same person, on explicit media, posted by someone else:
    _, incident = await protecting.post(
        world.general_id, poster, [("new.png", explicit_standin("obama3.jpg"))]
    )
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    (likeness,) = [r for r in incident.media[0].verdict.reasons if r.signal == "likeness"]
    assert likeness.member_id == protected and likeness.distance is not None
    assert likeness.distance < 0.5 and f"<@{protected}>" in likeness.message
    alert = protecting.alerts()[-1]
    assert f"<@{protected}>" in json.dumps(alert["embeds"])  # the alert names the member
    case = await protecting.engine.storage.cases.get(incident.case_id or 0)
    assert case is not None and "likeness" in json.dumps(case.verdict)
    # Another person's face at the same explicit score: the ordinary explicit rule (flag).
    _, other = await protecting.post(
        world.general_id, poster, [("other.png", explicit_standin("biden.jpg"))]
    )
    assert other is not None and other.decision.action is Action.FLAG
    assert not [r for r in other.media[0].verdict.reasons if r.signal == "likeness"]


async def test_a_protected_members_own_post_is_exempt(protecting: Harness) -> None:
    world = protecting.world
    protected = world.member_ids[0]
    await _protect_me(protecting, protected, "obama.jpg")
    _, incident = await protecting.post(
        world.general_id, protected, [("me.png", explicit_standin("obama3.jpg"))]
    )
    assert incident is not None and incident.decision.action is Action.FLAG  # the ordinary rule


async def test_after_withdrawal_the_next_such_post_is_not_removed_for_likeness(
    protecting: Harness,
) -> None:
    world = protecting.world
    protected, poster = world.member_ids[0], world.member_ids[1]
    await _protect_me(protecting, protected, "obama.jpg", "obama2.jpg")
    reply = await slash(protecting, protected, "protect", "withdraw")
    assert "Withdrawn" in reply.content
    assert await protecting.engine.storage.enrolments.get(world.guild_id, protected) is None
    _, incident = await protecting.post(
        world.general_id, poster, [("new.png", explicit_standin("obama3.jpg"))]
    )
    assert incident is not None and incident.decision.action is Action.FLAG
    actions = [r.action for r in await protecting.engine.storage.audit.list()]
    assert "enrolment.created" in actions and "enrolment.withdrawn" in actions
    status = await slash(protecting, protected, "protect", "status")
    assert "not protected" in status.content


async def test_refused_photos_get_their_reason(protecting: Harness, tmp_path: Path) -> None:
    world = protecting.world
    member = world.member_ids[0]
    blurred = io.BytesIO()
    Image.open(io.BytesIO(photo_bytes("obama.jpg"))).filter(ImageFilter.GaussianBlur(8)).save(
        blurred, "JPEG"
    )
    two = Image.new("RGB", (1800, 1137), "white")
    for i, name in enumerate(("obama.jpg", "biden.jpg")):
        face = Image.open(io.BytesIO(photo_bytes(name))).convert("RGB")
        face.thumbnail((900, 1137))
        two.paste(face, (i * 900, 0))
    pair = io.BytesIO()
    two.save(pair, "JPEG")
    small = Image.open(io.BytesIO(photo_bytes("obama.jpg")))
    small.thumbnail((120, 120))
    canvas = Image.new("RGB", (640, 640), "grey")
    canvas.paste(small, (260, 260))
    tiny = io.BytesIO()
    canvas.save(tiny, "PNG")
    reply = await slash(
        protecting,
        member,
        "protect",
        "me",
        photo1=("coffee.jpg", encode(photo("coffee"), "JPEG")),
        photo2=("blurred.jpg", blurred.getvalue()),
        photo3=("pair.jpg", pair.getvalue()),
        photo4=("far.png", tiny.getvalue()),
        photo5=("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg"),
    )
    text = reply.content
    assert "You are **not** protected" in text
    assert "coffee.jpg: refused, no face found" in text
    assert "blurred.jpg: refused, face too blurred" in text
    assert "pair.jpg: refused, 2 faces" in text
    assert "far.png: refused, face too small" in text or "far.png: refused, no face" in text
    assert "broken.jpg: refused, not a usable picture" in text
    assert await protecting.engine.storage.enrolments.get(world.guild_id, member) is None


async def test_the_offline_enrolment_file_protects_like_the_command(
    protecting: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = protecting.world
    protected, poster = world.member_ids[0], world.member_ids[1]
    folder = photos_dir()
    out = tmp_path / "me.consentry-likeness.json"
    photos = [str(folder / "obama.jpg"), str(folder / "obama2.jpg")]
    # The CLI runs its own event loop: give it a thread, as a separate process would have.
    code = await asyncio.to_thread(cli_main, ["likeness", "enroll", "-o", str(out), *photos])
    assert code == 0, capsys.readouterr().err
    document = json.loads(out.read_text())
    assert set(document) == {"format", "version", "model", "faces"}  # nothing else
    assert len(document["faces"]) == 2
    reply = await slash(
        protecting, protected, "protect", "upload", file=(out.name, out.read_bytes()), notify=True
    )
    assert "Protection on: 2 usable faces" in reply.content
    stored = await protecting.engine.storage.enrolments.get(world.guild_id, protected)
    assert stored is not None and stored.source == "file" and stored.notify
    _, incident = await protecting.post(
        world.general_id, poster, [("new.png", explicit_standin("obama3.jpg"))]
    )
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    dms = protecting.sandbox.messages(protecting.sandbox.open_dm(protected))
    assert any("removed a message" in m["content"] for m in dms)  # the notice they asked for


async def test_a_member_who_leaves_is_no_longer_protected(protecting: Harness) -> None:
    world = protecting.world
    protected, poster = world.member_ids[0], world.member_ids[1]
    await _protect_me(protecting, protected, "obama.jpg")
    protecting.sandbox.remove_member(world.guild_id, protected)
    for _ in range(250):  # the gateway event reaches the bot asynchronously
        if await protecting.engine.storage.enrolments.get(world.guild_id, protected) is None:
            break
        await asyncio.sleep(0.02)
    assert await protecting.engine.storage.enrolments.get(world.guild_id, protected) is None
    _, incident = await protecting.post(
        world.general_id, poster, [("new.png", explicit_standin("obama3.jpg"))]
    )
    assert incident is not None and incident.decision.action is Action.FLAG
    actions = [r.action for r in await protecting.engine.storage.audit.list()]
    assert "enrolment.member_left" in actions


async def test_without_the_evidence_key_protection_is_unavailable_and_says_why(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = protect_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config, None) as harness:
        reply = await _protect_me(harness, world.member_ids[0], "obama.jpg")
        assert "Protection is unavailable" in reply and "CONSENTRY_EVIDENCE_KEY" in reply
        assert await harness.engine.storage.enrolments.list(world.guild_id) == []


async def test_moderators_see_who_is_protected_and_managers_can_remove_or_turn_it_off(
    protecting: Harness,
) -> None:
    world = protecting.world
    protected, poster = world.member_ids[0], world.member_ids[1]
    await _protect_me(protecting, protected, "obama.jpg")
    listing = await slash(protecting, world.moderator_id, "protected", "list")
    assert f"<@{protected}> since <t:" in listing.content and "0." not in listing.content
    with pytest.raises(PermissionError):  # Discord hides /protected from plain members
        await slash(protecting, poster, "protected", "list")
    status = await slash(protecting, world.owner_id, "consentry", "status")
    assert "Likeness protection: on; 1 member(s) protected" in status.content
    off = await slash(protecting, world.owner_id, "settings", "likeness", on=False)
    assert "off" in off.content
    _, incident = await protecting.post(
        world.general_id, poster, [("new.png", explicit_standin("obama3.jpg"))]
    )
    assert incident is not None and incident.decision.action is Action.FLAG
    await slash(protecting, world.owner_id, "settings", "likeness", on=True)
    removed = await slash(
        protecting, world.owner_id, "protected", "remove", member=protected, reason="not them"
    )
    assert "Removed" in removed.content
    record = (await protecting.engine.storage.audit.list())[-1]
    assert record.action == "enrolment.removed" and record.details == {"reason": "not them"}
    assert record.actor == f"user:{world.owner_id}"


async def test_a_member_who_left_unseen_is_found_gone_before_their_likeness_removes_anything(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, evidence_key: EvidenceKey
) -> None:
    # Without the Server Members intent the bot hears of no departure: it asks Discord when a
    # protected member's face matches, and ends the protection of one who is gone.
    config = protect_config(sandbox, tmp_path)
    config = replace(config, discord=replace(config.discord, members_intent=False))
    async with running_bot(sandbox, world, config, evidence_key) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        protected, poster = world.member_ids[0], world.member_ids[1]
        await _protect_me(harness, protected, "obama.jpg")
        sandbox.remove_member(world.guild_id, protected)
        assert await harness.engine.storage.enrolments.get(world.guild_id, protected) is not None
        _, incident = await harness.post(
            world.general_id, poster, [("new.png", explicit_standin("obama3.jpg"))]
        )
        assert incident is not None and incident.decision.action is Action.FLAG
        assert await harness.engine.storage.enrolments.get(world.guild_id, protected) is None
        actions = [r.action for r in await harness.engine.storage.audit.list()]
        assert "enrolment.member_left" in actions

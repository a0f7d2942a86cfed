"""End to end: the real bot on the sandbox removes known abusive media and alerts moderators."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bot.core.preview import PREVIEW_SIDE
from bot.core.verdict import Action
from bot.sandbox import Sandbox
from tests.e2e.harness import Harness
from tests.imagery import encode, photo
from tests.test_video import blocks, clip

ASTRONAUT = encode(photo("astronaut"))
COPY = encode(photo("astronaut").resize((384, 384)), quality=60)  # a re-encoded, resized copy
COFFEE = encode(photo("coffee"), "PNG")
ROCKET = encode(photo("rocket"))
MESSAGE_ROUTE = "/channels/{channel_id}/messages/{message_id}"


async def test_the_bot_connects_and_syncs_its_commands(consentry: Harness) -> None:
    [sync] = consentry.sandbox.find_requests("PUT", "/applications/{application_id}/commands")
    [group] = [c for c in sync.json if c["name"] == "consentry"]
    assert {o["name"] for o in group["options"]} >= {"setup", "status"}
    assert consentry.sandbox.identify_count == 1


async def test_a_blocklisted_image_is_deleted_and_moderators_are_alerted(
    consentry: Harness,
) -> None:
    [_, pdq_id, _] = await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    message, incident = await consentry.post(
        world.general_id, world.member_ids[0], [("pic.jpg", COPY)]
    )
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    [delete] = consentry.sandbox.find_requests("DELETE", MESSAGE_ROUTE)
    assert delete.path.endswith(f"/{message['id']}")
    assert delete.reason is not None and "Consentry quarantine" in delete.reason
    assert consentry.sandbox.message(world.general_id, int(message["id"])) is None
    [alert] = consentry.alerts()
    [embed] = alert["embeds"]
    assert embed["title"] == "Quarantined: known abusive media"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert str(world.member_ids[0]) in fields["Author"]
    assert f"<#{world.general_id}>" == fields["Channel"]
    assert message["id"] in fields["Message"]
    assert fields["Outcome"] == "Message deleted."
    assert f"matches blocklist entry {pdq_id} (pdq, distance" in fields["attachment pic.jpg"]
    # The only picture in the alert is the blurred preview, never the original.
    assert embed["image"]["url"].split("?")[0].endswith("/preview.jpg")
    [upload] = consentry.sandbox.find_requests("POST", f"/channels/{world.mod_alerts_id}/messages")
    [preview] = upload.files
    assert preview.filename == "preview.jpg" and preview.data not in (COPY, ASTRONAUT)
    assert max(Image.open(io.BytesIO(preview.data)).size) == PREVIEW_SIDE


async def test_a_clean_image_is_left_alone(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    message, incident = await consentry.post(
        world.general_id, world.member_ids[1], [("c.png", COFFEE)]
    )
    assert incident is not None and incident.decision.action is Action.ALLOW
    assert consentry.sandbox.find_requests("DELETE", MESSAGE_ROUTE) == []
    assert consentry.alerts() == []
    assert consentry.sandbox.message(world.general_id, int(message["id"])) is not None


async def test_every_attachment_of_a_message_is_scanned(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    files = [("a.png", COFFEE), ("b.jpg", ROCKET), ("c.jpg", COPY)]
    message, incident = await consentry.post(world.art_id, world.member_ids[2], files)
    assert incident is not None
    assert [m.label for m in incident.media] == [
        "attachment a.png",
        "attachment b.jpg",
        "attachment c.jpg",
    ]
    assert [m.verdict.action for m in incident.media] == [
        Action.ALLOW,
        Action.ALLOW,
        Action.QUARANTINE,
    ]
    assert consentry.sandbox.message(world.art_id, int(message["id"])) is None
    [alert] = consentry.alerts()
    shown = [f["name"] for f in alert["embeds"][0]["fields"] if f["name"].startswith("attachment")]
    assert shown == ["attachment c.jpg"]


async def test_an_edit_that_adds_an_embed_is_scanned(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    # The image lives on Discord's media proxy (as an unfurled link's preview does).
    hosted, _ = await consentry.post(world.mod_alerts_id, world.moderator_id, [("x.jpg", COPY)])
    proxy_url = hosted["attachments"][0]["proxy_url"]
    message, incident = await consentry.post(
        world.general_id, world.member_ids[0], content="look https://example.com/x"
    )
    assert incident is None  # no media yet
    consentry.forget(int(message["id"]))
    embed = {
        "type": "image",
        "url": "https://example.com/x",
        "thumbnail": {"url": "https://example.com/x.jpg", "proxy_url": proxy_url},
    }
    await consentry.sandbox.edit_message(world.general_id, int(message["id"]), embeds=[embed])
    incident = await consentry.handled(int(message["id"]))
    assert incident is not None and incident.decision.remove
    assert [m.label for m in incident.media] == ["embed thumbnail"]
    assert consentry.sandbox.message(world.general_id, int(message["id"])) is None


async def test_forum_posts_and_threads_are_watched(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    message, incident = await consentry.post(
        world.forum_post_id, world.member_ids[0], [("p.jpg", COPY)]
    )
    assert incident is not None and incident.decision.remove
    assert consentry.sandbox.message(world.forum_post_id, int(message["id"])) is None


async def test_an_exempt_channel_is_not_scanned(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    await consentry.configure(exempt_channel_ids=frozenset({world.art_id}))
    message, incident = await consentry.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is None
    assert consentry.sandbox.message(world.art_id, int(message["id"])) is not None


async def test_other_bots_are_skipped_unless_the_server_asks(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    _, skipped = await consentry.post(world.general_id, world.other_bot_id, [("p.jpg", COPY)])
    assert skipped is None
    await consentry.configure(scan_bots=True)
    _, incident = await consentry.post(world.general_id, world.other_bot_id, [("p.jpg", COPY)])
    assert incident is not None and incident.decision.remove


async def test_a_forbidden_delete_is_reported_in_the_alert_instead_of_crashing(
    consentry: Harness,
) -> None:
    from bot.sandbox import Permissions

    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    everything_but_manage = int(
        Permissions.VIEW_CHANNEL
        | Permissions.SEND_MESSAGES
        | Permissions.EMBED_LINKS
        | Permissions.READ_MESSAGE_HISTORY
    )
    consentry.sandbox.set_bot_permissions(world.guild_id, everything_but_manage)
    message, incident = await consentry.post(
        world.general_id, world.member_ids[0], [("p.jpg", COPY)]
    )
    assert incident is not None and "lacks the Manage Messages permission" in incident.outcome
    [delete] = consentry.sandbox.find_requests("DELETE", MESSAGE_ROUTE)
    assert delete.status == 403
    assert consentry.sandbox.message(world.general_id, int(message["id"])) is not None
    [alert] = consentry.alerts()
    outcome = next(f["value"] for f in alert["embeds"][0]["fields"] if f["name"] == "Outcome")
    assert "lacks the Manage Messages permission" in outcome
    # The bot keeps working afterwards.
    _, clean = await consentry.post(world.general_id, world.member_ids[1], [("c.png", COFFEE)])
    assert clean is not None and clean.decision.action is Action.ALLOW


async def test_a_rate_limited_delete_is_retried(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    consentry.sandbox.fail_next("DELETE", MESSAGE_ROUTE, 429, retry_after=0.2)
    message, incident = await consentry.post(
        world.general_id, world.member_ids[0], [("p.jpg", COPY)]
    )
    assert incident is not None and incident.outcome == "Message deleted."
    assert [r.status for r in consentry.sandbox.find_requests("DELETE", MESSAGE_ROUTE)] == [
        429,
        204,
    ]
    assert consentry.sandbox.message(world.general_id, int(message["id"])) is None


async def test_the_bot_resumes_after_a_gateway_reconnect(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    sandbox: Sandbox = consentry.sandbox
    await sandbox.request_reconnect()
    await sandbox.drop_connection(abrupt=True)
    assert (sandbox.identify_count, sandbox.resume_count) == (1, 2)
    message, incident = await consentry.post(
        world.general_id, world.member_ids[0], [("p.jpg", COPY)]
    )
    assert incident is not None and incident.decision.remove
    assert sandbox.message(world.general_id, int(message["id"])) is None


async def test_members_with_an_exempt_role_are_not_scanned(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world = consentry.world
    await consentry.configure(exempt_role_ids=frozenset({world.moderator_role_id}))
    _, skipped = await consentry.post(world.general_id, world.moderator_id, [("p.jpg", COPY)])
    assert skipped is None
    _, incident = await consentry.post(world.general_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is not None and incident.decision.remove


async def test_webhook_posts_are_scanned(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    world, sandbox = consentry.world, consentry.sandbox
    hook = sandbox.create_webhook(world.art_id, "feed")
    message = await sandbox.post_webhook_message(
        int(hook["id"]), "new post", username="Feed", attachments=[("p.jpg", COPY)]
    )
    incident = await consentry.handled(int(message["id"]))
    assert incident is not None and incident.decision.remove
    assert sandbox.message(world.art_id, int(message["id"])) is None


async def test_a_forwarded_message_is_scanned_for_the_media_it_carries(
    consentry: Harness,
) -> None:
    """Discord carries a forward's media in its message snapshot, not as its own attachments:
    forwarding a picture posted before it was known is no way around the blocklist."""
    world, sandbox = consentry.world, consentry.sandbox
    original, incident = await consentry.post(world.art_id, world.member_ids[1], [("o.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.ALLOW
    await consentry.blocklist(ASTRONAUT)
    forward = await sandbox.forward_message(
        world.general_id, world.member_ids[0], world.art_id, int(original["id"])
    )
    assert forward["attachments"] == [] and forward["message_reference"]["type"] == 1
    incident = await consentry.handled(int(forward["id"]))
    assert incident is not None and [m.label for m in incident.media] == [
        "forwarded attachment o.jpg"
    ]
    assert incident.decision.action is Action.QUARANTINE
    assert sandbox.message(world.general_id, int(forward["id"])) is None


async def test_stickers_are_scanned(consentry: Harness) -> None:
    sticker_png = encode(photo("astronaut").resize((320, 320)), "PNG")
    await consentry.blocklist(sticker_png)
    world, sandbox = consentry.world, consentry.sandbox
    sticker_id = sandbox.add_sticker(world.guild_id, "space", sticker_png)
    message = await sandbox.post_message(
        world.general_id, world.member_ids[0], sticker_ids=[sticker_id]
    )
    incident = await consentry.handled(int(message["id"]))
    assert incident is not None and [m.label for m in incident.media] == ["sticker space"]
    assert incident.decision.remove


async def test_a_video_showing_a_blocklisted_picture_is_removed(consentry: Harness) -> None:
    await consentry.blocklist(ASTRONAUT)
    astronaut = np.asarray(photo("astronaut").resize((320, 240)))
    video = clip(seconds=4, draw=lambda i: astronaut if 10 <= i < 30 else blocks(i))
    world = consentry.world
    message, incident = await consentry.post(
        world.general_id, world.member_ids[0], [("clip.mp4", video)]
    )
    assert incident is not None and incident.decision.remove
    [report] = incident.media
    assert report.label == "attachment clip.mp4" and report.verdict.media_type == "mp4"
    assert report.verdict.frames_scanned == 16
    assert consentry.sandbox.message(world.general_id, int(message["id"])) is None

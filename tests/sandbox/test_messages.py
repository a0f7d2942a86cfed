"""Messages both ways: people posting through the gateway, the bot through REST."""

from __future__ import annotations

import io
import struct
import zlib

import aiohttp
import discord
import pytest

from bot.sandbox import DemoWorld, Permissions, Sandbox

from .conftest import SandboxBot, expect


def png(width: int, height: int) -> bytes:
    """A valid, tiny PNG (grey) made without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def test_posted_message_with_two_attachments_downloads_from_the_cdn(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    first, second = png(4, 3), png(2, 2)
    waiting = expect(bot, "message")
    posted = await sandbox.post_message(
        world.art_id,
        world.member_ids[0],
        "two pictures",
        attachments=[("one.png", first), ("two photo.png", second)],
    )
    message: discord.Message = await waiting
    assert message.id == int(posted["id"]) and message.content == "two pictures"
    assert [a.filename for a in message.attachments] == ["one.png", "two_photo.png"]
    one, two = message.attachments
    assert one.url.startswith(
        f"http://{sandbox.cdn_host}/attachments/{world.art_id}/{one.id}/one.png?"
    )
    assert "hm=" in one.url and one.proxy_url.startswith(sandbox.media_base)
    assert (one.width, one.height, one.content_type, one.size) == (4, 3, "image/png", len(first))
    assert await one.read() == first
    assert await two.read() == second
    async with aiohttp.ClientSession() as session:
        async with session.get(one.url) as response:
            assert response.headers["Content-Type"] == "image/png"
            assert response.headers["Content-Length"] == str(len(first))
        unsigned = one.url.split("?")[0]
        async with session.get(unsigned) as response:
            assert response.status == 404  # Discord refuses unsigned attachment links


async def test_an_edit_that_adds_an_embed_arrives_as_message_edit(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    created = expect(bot, "message")
    posted = await sandbox.post_message(
        world.general_id, world.member_ids[1], "look https://example.com/a.png"
    )
    await created
    edited = expect(bot, "message_edit")
    raw = expect(bot, "raw_message_edit")
    embed = {
        "type": "image",
        "url": "https://example.com/a.png",
        "thumbnail": {"url": "https://example.com/a.png", "width": 64, "height": 64},
    }
    await sandbox.edit_message(world.general_id, int(posted["id"]), embeds=[embed])
    before, after = await edited
    assert before.embeds == [] and len(after.embeds) == 1
    assert after.embeds[0].thumbnail.url == "https://example.com/a.png"
    assert after.edited_at is None  # an unfurl is not the author's edit
    payload: discord.RawMessageUpdateEvent = await raw
    assert payload.message_id == int(posted["id"]) and payload.data["embeds"][0]["type"] == "image"


async def test_the_bot_sends_an_embed_and_a_file(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    channel = bot.get_channel(world.mod_alerts_id)
    assert isinstance(channel, discord.TextChannel)
    embed = discord.Embed(title="Quarantined", description="case 1").set_image(
        url="attachment://preview.png"
    )
    sent = await channel.send(embed=embed, file=discord.File(io.BytesIO(png(8, 8)), "preview.png"))
    request = await sandbox.wait_for_request("POST", "/channels/{channel_id}/messages")
    assert request.status == 200 and request.json["embeds"][0]["title"] == "Quarantined"
    assert [(f.field, f.filename) for f in request.files] == [("files[0]", "preview.png")]
    stored = sandbox.messages(world.mod_alerts_id)[-1]
    assert int(stored["id"]) == sent.id and stored["author"]["id"] == str(sandbox.bot_user_id)
    image = stored["embeds"][0]["image"]
    # As on Discord, a file an embed shows is kept with the message but not listed in its
    # attachments; attachment:// is resolved to the file's CDN URL.
    assert stored["attachments"] == [] and sent.attachments == []
    [shown] = sandbox.embedded_files(world.mod_alerts_id, sent.id)
    assert image["url"] == shown["url"] and shown["filename"] == "preview.png"
    assert sent.embeds[0].image.width == 8


async def test_an_edit_keeps_an_embeds_file_unless_it_lists_attachments_without_it(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    channel = bot.get_channel(world.mod_alerts_id)
    assert isinstance(channel, discord.TextChannel)
    embed = discord.Embed(title="Alert").set_image(url="attachment://preview.png")
    sent = await channel.send(embed=embed, file=discord.File(io.BytesIO(png(8, 8)), "preview.png"))
    edited = await sent.edit(embed=sent.embeds[0].copy().add_field(name="Review", value="done"))
    assert len(sandbox.embedded_files(world.mod_alerts_id, sent.id)) == 1
    assert edited.embeds[0].image.url == sent.embeds[0].image.url
    await edited.edit(embed=edited.embeds[0], attachments=edited.attachments)  # lists none
    assert sandbox.embedded_files(world.mod_alerts_id, sent.id) == []


async def test_delete_with_an_audit_log_reason(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    created = expect(bot, "message")
    posted = await sandbox.post_message(world.general_id, world.member_ids[2], "bad picture")
    message: discord.Message = await created
    deleted = expect(bot, "message_delete")
    # Message.delete() and a one-message delete_messages() drop the reason in discord.py 2.7;
    # the HTTP call is the way to attach one.
    await bot.http.delete_message(message.channel.id, message.id, reason="Consentry: NCII (case 7)")
    gone: discord.Message = await deleted
    assert gone.id == int(posted["id"])
    request = sandbox.find_requests("DELETE", "/channels/{channel_id}/messages/{message_id}")[0]
    assert request.reason == "Consentry: NCII (case 7)"
    assert request.headers["X-Audit-Log-Reason"] != request.reason  # sent URL-encoded
    assert sandbox.message(world.general_id, int(posted["id"])) is None
    entry = sandbox.audit_log(world.guild_id)[-1]
    assert entry["action_type"] == 72 and entry["reason"] == "Consentry: NCII (case 7)"


async def test_deleting_others_messages_without_manage_messages_is_forbidden(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    created = expect(bot, "message")
    await sandbox.post_message(world.general_id, world.member_ids[0], "hello")
    message: discord.Message = await created
    updated = expect(bot, "guild_role_update")
    sandbox.set_bot_permissions(
        world.guild_id,
        int(
            Permissions.VIEW_CHANNEL | Permissions.SEND_MESSAGES | Permissions.READ_MESSAGE_HISTORY
        ),
    )
    await updated
    with pytest.raises(discord.Forbidden) as caught:
        await message.delete()
    assert caught.value.code == 50013 and caught.value.status == 403
    assert sandbox.message(world.general_id, message.id) is not None


async def test_history_and_fetch_follow_discord_ordering(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    ids = [
        int((await sandbox.post_message(world.art_id, world.member_ids[0], f"m{i}"))["id"])
        for i in range(5)
    ]
    channel = bot.get_channel(world.art_id)
    assert isinstance(channel, discord.TextChannel)
    newest_first = [m.id async for m in channel.history(limit=3)]
    assert newest_first == ids[::-1][:3]
    oldest_first = [m.id async for m in channel.history(limit=10, oldest_first=True)]
    assert oldest_first == ids
    fetched = await channel.fetch_message(ids[2])
    assert fetched.content == "m2"
    with pytest.raises(discord.NotFound) as caught:
        await channel.fetch_message(world.general_id)  # an id, but not a message
    assert caught.value.code == 10008


async def test_forum_posts_threads_stickers_and_dms(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    forum = bot.get_channel(world.forum_id)
    assert isinstance(forum, discord.ForumChannel)
    created = await forum.create_thread(
        name="Rules", content="Be kind", file=discord.File(io.BytesIO(png(2, 3)), "r.png")
    )
    assert created.thread.id == created.message.id  # a post and its starter share one id
    assert created.message.attachments[0].height == 3
    sticker_id = sandbox.add_sticker(world.guild_id, "wave", png(1, 1))
    arrived = expect(bot, "message", lambda m: bool(m.stickers))
    await sandbox.post_message(world.art_id, world.member_ids[0], sticker_ids=[sticker_id])
    sticker = (await arrived).stickers[0]
    assert sticker.id == sticker_id and await sticker.read() == png(1, 1)
    dm = sandbox.open_dm(world.member_ids[0])
    arrived = expect(bot, "message", lambda m: m.guild is None)
    await sandbox.post_message(dm, world.member_ids[0], "please remove my photo")
    assert isinstance((await arrived).channel, discord.DMChannel)


async def test_a_repeated_nonce_returns_the_message_already_sent(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    channel = bot.get_channel(world.mod_alerts_id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("alert", nonce="case-7")
    again = await channel.send("alert", nonce="case-7")  # discord.py sets enforce_nonce
    other = await channel.send("alert", nonce="case-8")
    assert again.id == first.id and other.id != first.id
    assert [m["nonce"] for m in sandbox.messages(world.mod_alerts_id)[-2:]] == ["case-7", "case-8"]

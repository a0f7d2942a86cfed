"""What a gateway hands a scan worker of a message: its media and author, never its text, and
read back by the worker into the same media to scan."""

from __future__ import annotations

import json
from typing import Any

import discord
import pytest

from bot.runtime.extract import media_refs
from bot.runtime.handoff import MAX_HANDOFF_CHARS, handoff, received

ATTACHMENT = {
    "id": "11",
    "filename": "p.jpg",
    "size": 1234,
    "url": "https://cdn.discordapp.com/attachments/42/11/p.jpg?ex=1&is=2&hm=3",
    "proxy_url": "https://media.discordapp.net/attachments/42/11/p.jpg",
    "content_type": "image/jpeg",
    "width": 64,
    "height": 48,
}


def payload(**extra: Any) -> dict[str, Any]:
    return {
        "id": "1000",
        "channel_id": "42",
        "type": 0,
        "content": "the words of the message",
        "timestamp": "2026-12-02T10:00:00+00:00",
        "edited_timestamp": None,
        "flags": 0,
        "author": {"id": "7", "username": "poster", "discriminator": "0", "avatar": None},
        "attachments": [ATTACHMENT],
        "embeds": [
            {
                "type": "rich",
                "title": "a link's title",
                "description": "the page's own words",
                "thumbnail": {"url": "https://x/e.png", "proxy_url": "p"},
            }
        ],
        "sticker_items": [{"id": "5", "name": "wave", "format_type": 1}],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
        **extra,
    }


@pytest.fixture
def client() -> discord.Client:
    return discord.Client(intents=discord.Intents.none())


def message(client: discord.Client, data: dict[str, Any]) -> discord.Message:
    state: Any = client._connection
    channel = discord.PartialMessageable(state=state, id=42)
    return discord.Message(state=state, channel=channel, data=data)  # type: ignore[arg-type]


def test_a_worker_reads_back_the_same_media_and_author_without_the_text(
    client: discord.Client,
) -> None:
    original = message(client, payload())
    text = handoff(original)
    assert text is not None and "words" not in text and "title" not in text
    back = received(client, original.channel, text)
    assert back is not None
    assert back.id == original.id and back.author.id == 7 and str(back.author) == "poster"
    assert back.content == ""
    assert media_refs(back) == media_refs(original)
    assert [r.label for r in media_refs(back)] == [
        "attachment p.jpg",
        "embed thumbnail",
        "sticker wave",
    ]


def test_a_forward_is_handed_over_with_the_media_it_carries(client: discord.Client) -> None:
    forwarded = {k: v for k, v in payload().items() if k in ("type", "content", "timestamp")}
    forwarded |= {"edited_timestamp": None, "embeds": [], "attachments": [ATTACHMENT]}
    data = payload(
        attachments=[],
        embeds=[],
        sticker_items=[],
        content="",
        message_reference={"type": 1, "channel_id": "9", "message_id": "8"},
        message_snapshots=[{"message": forwarded}],
    )
    original = message(client, data)
    text = handoff(original)
    assert text is not None and "words" not in text and "title" not in text
    back = received(client, original.channel, text)
    assert back is not None
    assert [r.label for r in media_refs(back)] == ["forwarded attachment p.jpg"]


def test_a_message_too_large_to_carry_is_fetched_instead(client: discord.Client) -> None:
    embed = {"type": "image", "image": {"url": "https://x/" + "a" * 2000 + ".png"}}
    huge = message(client, payload(embeds=[embed] * 20))
    assert handoff(huge) is None
    assert len(json.dumps(embed)) * 20 > MAX_HANDOFF_CHARS


def test_an_unreadable_handoff_is_fetched_instead(
    client: discord.Client, caplog: pytest.LogCaptureFixture
) -> None:
    channel = message(client, payload()).channel
    assert received(client, channel, "{not json") is None
    assert received(client, channel, '{"id": "1"}') is None  # not a message
    assert "fetching it instead" in caplog.text

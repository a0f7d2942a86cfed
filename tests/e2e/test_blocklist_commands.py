"""End to end: moderators manage this server's blocklist with `/blocklist`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
from PIL import Image

from bot.core.blocklist import Algorithm, BlocklistEntry, NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.limits import MediaLimits
from bot.core.verdict import Action
from bot.sandbox import DemoWorld, Permissions, Sandbox
from cogs._blocklist_format import PAGE_SIZE
from tests.e2e.harness import HANDLE_TIMEOUT, Harness, running_bot, sandbox_config
from tests.e2e.test_watch import ASTRONAUT, COFFEE, COPY, ROCKET
from tests.imagery import encode

CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
FOLLOWUP = "/webhooks/{webhook_id}/{webhook_token}"
DEFERRED = 5
OTHER_SERVER = 4242


@dataclass
class Reply:
    """What the caller saw: the ephemeral reply's text and any attached files."""

    content: str
    files: dict[str, bytes]


async def slash(
    harness: Harness, user_id: int, command: str, subcommand: str, **options: object
) -> Reply:
    """Run ``/command subcommand`` in #general as ``user_id``; return the final ephemeral reply
    (the follow-up, when the bot deferred first)."""
    sandbox, world = harness.sandbox, harness.world
    since = len(sandbox.requests)
    interaction = await sandbox.invoke_slash_command(
        world.guild_id, world.general_id, user_id, command, options, subcommand=subcommand
    )
    await sandbox.wait_for_request("POST", CALLBACK, since=since, timeout=HANDLE_TIMEOUT)
    responses = sandbox.interaction_responses(int(interaction["id"]))
    if responses[0]["type"] == DEFERRED:
        assert responses[0]["json"]["data"]["flags"] & 64
        await sandbox.wait_for_request("POST", FOLLOWUP, since=since, timeout=HANDLE_TIMEOUT)
        responses = sandbox.interaction_responses(int(interaction["id"]))
    final = responses[-1]
    data = final["json"]["data"] if final["kind"] == "callback" else final["json"]
    assert data["flags"] & 64  # ephemeral: only the caller sees it
    return Reply(str(data["content"]), {f.filename: f.data for f in final["files"]})


async def _blocklist(harness: Harness, sub: str, **options: object) -> Reply:
    return await slash(harness, harness.world.moderator_id, "blocklist", sub, **options)


async def _audit_actions(harness: Harness) -> list[str]:
    return [r.action for r in await harness.engine.storage.audit.list()]


async def test_a_file_added_from_discord_removes_re_encoded_copies_posted_later(
    consentry: Harness,
) -> None:
    world = consentry.world
    reply = await _blocklist(consentry, "add", file=("known.jpg", ASTRONAUT), reason="reported")
    entries = await consentry.engine.storage.blocklist.list(guild_id=world.guild_id)
    assert {e.algorithm for e in entries} == {Algorithm.SHA256, Algorithm.PDQ, Algorithm.PHASH}
    assert all(e.reason == "reported" and e.source == "discord" for e in entries)
    assert all(e.added_by == f"user:{world.moderator_id}" for e in entries)
    assert "Added `known.jpg`" in reply.content
    found = fingerprint(ASTRONAUT, MediaLimits(), 50)
    own = [e for e in entries if (e.algorithm, e.value) in set(found.hashes)]
    assert len(own) == len(found.hashes) and len(entries) == len(found.entries)
    assert all(f"#{e.id} {e.algorithm.value}" in reply.content for e in own)
    assert f"(+{len(found.derived)} for edited copies" in reply.content
    message, incident = await consentry.post(world.art_id, world.member_ids[0], [("c.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    assert consentry.sandbox.message(world.art_id, int(message["id"])) is None
    assert "blocklist.add" in await _audit_actions(consentry)
    again = await _blocklist(consentry, "add", file=("again.jpg", ASTRONAUT))
    assert "blocked in this server already" in again.content


async def test_adding_a_corrupt_file_is_refused_with_its_reason(consentry: Harness) -> None:
    reply = await _blocklist(consentry, "add", file=("broken.png", b"\x89PNG\r\n\x1a\nnot really"))
    assert "`broken.png` was not added:" in reply.content
    assert await consentry.engine.storage.blocklist.count() == dict.fromkeys(
        ["pdq", "phash", "sha256", "md5", "clip", "allow"], 0
    )
    assert "blocklist.add" not in await _audit_actions(consentry)


async def test_a_flat_image_is_added_by_its_exact_hash_and_the_reply_says_why(
    consentry: Harness,
) -> None:
    flat = encode(Image.new("RGB", (64, 64), (40, 40, 40)), "PNG")
    reply = await _blocklist(consentry, "add", file=("flat.png", flat))
    [entry] = await consentry.engine.storage.blocklist.list()
    assert entry.algorithm is Algorithm.SHA256
    assert f"Added `flat.png` to this server's blocklist: #{entry.id} sha256." in reply.content
    assert "Note: frame 0: PDQ quality 0 is below" in reply.content
    assert "only the exact hash identifies it" in reply.content


async def test_a_file_over_the_size_limit_is_refused_unread(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    downloads: list[str] = []
    read = discord.Attachment.read

    async def counted(self: discord.Attachment, **kwargs: Any) -> bytes:
        downloads.append(self.filename)
        return await read(self, **kwargs)

    monkeypatch.setattr(discord.Attachment, "read", counted)
    config = sandbox_config(sandbox, tmp_path, limits=MediaLimits(max_bytes=10_000))
    async with running_bot(sandbox, world, config) as harness:
        reply = await _blocklist(harness, "add", file=("big.jpg", ASTRONAUT))
        assert f"`big.jpg` is {len(ASTRONAUT):,} bytes, over the 10,000-byte limit" in reply.content
        assert downloads == []
        assert await harness.engine.storage.blocklist.list() == []
        small = encode(Image.new("RGB", (64, 64), (40, 40, 40)), "PNG")
        await _blocklist(harness, "add", file=("small.png", small))
        assert downloads == ["small.png"]


async def test_entries_are_listed_counted_and_removed(consentry: Harness) -> None:
    await _blocklist(consentry, "add", file=("a.jpg", ASTRONAUT), reason="first")
    await _blocklist(consentry, "add", file=("c.png", COFFEE))
    await consentry.blocklist(ROCKET)  # instance-wide: counted for the instance, not listed here
    entries = await consentry.engine.storage.blocklist.list(guild_id=consentry.world.guild_id)
    # Each file's own hashes plus those derived for edited copies (borders, crops...).
    own = [fingerprint(data, MediaLimits(), 50) for data in (ASTRONAUT, COFFEE)]
    assert len(entries) == sum(len(f.entries) for f in own)
    listing = await _blocklist(consentry, "list")
    pages = -(-len(entries) // PAGE_SIZE)
    assert f"page 1 of {pages} ({len(entries)} entries)" in listing.content
    shown = entries[:PAGE_SIZE]
    assert all(f"`#{e.id}` block {e.algorithm.value}" in listing.content for e in shown)
    assert "first" in listing.content
    counts = await _blocklist(consentry, "counts")
    per = {a: sum(1 for e in entries if e.algorithm is a) for a in Algorithm}
    assert (
        f"**This server**: {len(entries)} blocking (pdq {per[Algorithm.PDQ]}, phash "
        f"{per[Algorithm.PHASH]}, sha256 2, md5 0, clip 0), 0 allow-list" in counts.content
    )
    instance = len(consentry.engine.matcher.snapshot)
    assert (
        "sha256 3" in counts.content and f"Live match index**: {instance} entries" in counts.content
    )
    removed = await _blocklist(consentry, "remove", entry_id=entries[0].id)
    assert f"Removed blocklist entry #{entries[0].id} (sha256" in removed.content
    assert await consentry.engine.storage.blocklist.get(entries[0].id) is None
    assert len(consentry.engine.matcher.snapshot) == instance - 1  # the index follows at once
    assert f"`#{entries[0].id}`" not in (await _blocklist(consentry, "list")).content
    assert "blocklist.remove" in await _audit_actions(consentry)


async def test_the_list_is_paged(consentry: Harness) -> None:
    guild_id = consentry.world.guild_id
    values = [hashlib.sha256(bytes([i])).hexdigest() for i in range(16)]
    await consentry.engine.storage.blocklist.add(
        [NewEntry(Algorithm.SHA256, v, guild_id) for v in values]
    )
    first = await _blocklist(consentry, "list")
    assert "page 1 of 2 (16 entries)" in first.content
    assert "`/blocklist list page:2`" in first.content
    assert first.content.count("\n`#") == 15
    second = await _blocklist(consentry, "list", page=2)
    assert "page 2 of 2" in second.content and f"`{values[15][:16]}…`" in second.content
    assert "only 2 page(s)" in (await _blocklist(consentry, "list", page=3)).content


async def test_instance_wide_and_other_servers_entries_cannot_be_removed(
    consentry: Harness,
) -> None:
    [instance_id, *_] = await consentry.blocklist(COFFEE)
    [foreign_id, *_] = await consentry.blocklist(ROCKET, guild_id=OTHER_SERVER)
    refused = await _blocklist(consentry, "remove", entry_id=instance_id)
    assert "instance-wide" in refused.content
    assert f"consentry blocklist remove {instance_id}" in refused.content
    missing = await _blocklist(consentry, "remove", entry_id=foreign_id)
    assert f"This server's blocklist has no entry #{foreign_id}." == missing.content
    for entry_id in (instance_id, foreign_id):
        assert await consentry.engine.storage.blocklist.get(entry_id) is not None
    assert "blocklist.remove" not in await _audit_actions(consentry)


async def test_an_import_with_bad_rows_imports_nothing_and_lists_them_by_line(
    consentry: Harness,
) -> None:
    config = consentry.engine.config
    hashes = fingerprint(ASTRONAUT, config.limits, config.matching.pdq_min_quality).hashes
    good = [f"{a.value},{v},instance,false" for a, v in hashes]
    bad = ["crc32,abcd,,false", "md5,tooshort,,false"] + [f"pdq,{i:x},,false" for i in range(10)]
    text = "\n".join(["algorithm,hash,scope,allow", good[0], *bad, *good[1:]]) + "\n"
    reply = await _blocklist(consentry, "import", file=("list.csv", text.encode()))
    assert "Nothing imported from `list.csv`: 12 invalid rows" in reply.content
    assert "- line 3: unknown hash algorithm 'crc32'" in reply.content
    assert "- line 4: md5 hash must be 32 hex digits" in reply.content
    assert "- … and 2 more" in reply.content
    assert await consentry.engine.storage.blocklist.list() == []


async def test_an_import_adds_every_row_to_this_server_whatever_scope_it_names(
    consentry: Harness,
) -> None:
    world = consentry.world
    config = consentry.engine.config
    hashes = fingerprint(ASTRONAUT, config.limits, config.matching.pdq_min_quality).hashes
    good = [
        f"{a.value},{v},{scope},false"
        for (a, v), scope in zip(hashes, ("instance", 4242, world.guild_id), strict=True)
    ]
    text = "\n".join(["algorithm,hash,scope,allow", *good, good[0]]) + "\n"
    reply = await _blocklist(consentry, "import", file=("list.csv", text.encode()))
    assert "Imported `list.csv` into this server's blocklist: 3 entries added" in reply.content
    assert "1 already present" in reply.content and "Already present: line 5." in reply.content
    assert "applies to this server only" in reply.content
    assert "(3 rows named instance-wide or another server)" in reply.content
    entries = await consentry.engine.storage.blocklist.list()
    assert {(e.algorithm, e.value) for e in entries} == set(hashes)
    assert {e.guild_id for e in entries} == {world.guild_id}
    assert all(e.source == "import:list.csv" for e in entries)
    _, incident = await consentry.post(world.art_id, world.member_ids[0], [("c.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    assert "blocklist.import" in await _audit_actions(consentry)


async def test_a_withdrawn_stopncii_record_removes_this_servers_entry_at_once(
    consentry: Harness,
) -> None:
    world = consentry.world
    config = consentry.engine.config
    [pdq] = [v for a, v in fingerprint(ASTRONAUT, config.limits, 50).hashes if a.value == "pdq"]

    def records(status: str) -> bytes:
        record = {"signalType": "ImagePDQ", "hashValue": pdq, "hashStatus": status}
        return json.dumps({"count": 1, "hashRecords": [record]}).encode()

    reply = await _blocklist(consentry, "import", file=("ncii.json", records("Active")))
    assert "1 entries added" in reply.content
    _, incident = await consentry.post(world.art_id, world.member_ids[0], [("c.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    reply = await _blocklist(consentry, "import", file=("ncii.json", records("Withdrawn")))
    assert "0 entries added, 0 already present, 1 withdrawn" in reply.content
    assert await consentry.engine.storage.blocklist.list() == []
    _, incident = await consentry.post(world.art_id, world.member_ids[1], [("c.jpg", COPY)])
    assert incident is not None and incident.decision.action is not Action.QUARANTINE


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_an_export_reimports_to_the_same_entries(consentry: Harness, fmt: str) -> None:
    guild_id = consentry.world.guild_id
    storage = consentry.engine.storage.blocklist
    await _blocklist(consentry, "add", file=("a.jpg", ASTRONAUT), reason='known, "quoted"')
    before = await storage.list(guild_id=guild_id, limit=1000)
    exported = await _blocklist(consentry, "export", format=fmt)
    assert f"{len(before)} entries" in exported.content
    [(filename, data)] = exported.files.items()
    assert filename == f"consentry-blocklist-{guild_id}.{fmt}"
    for entry in before:
        await _blocklist(consentry, "remove", entry_id=entry.id)
    reply = await _blocklist(consentry, "import", file=(filename, data))
    assert f"{len(before)} entries added, 0 already present" in reply.content
    after = await storage.list(guild_id=guild_id, limit=1000)

    assert sorted(map(_comparable, after)) == sorted(map(_comparable, before))


def _comparable(e: BlocklistEntry) -> tuple[str, str, int | None, bool, str, str, str]:
    return (e.algorithm.value, e.value, e.guild_id, e.allow, e.source, e.reason, e.added_by)


async def test_members_without_moderator_rights_are_blocked(consentry: Harness) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    # Discord hides the commands from members without Manage Messages (default permissions).
    with pytest.raises(PermissionError, match="cannot see /blocklist"):
        await slash(consentry, world.member_ids[0], "blocklist", "counts")
    # A channel overwrite shows them the command; the bot still checks server-wide rights.
    sandbox.set_permission_overwrite(
        world.general_id, world.member_ids[0], allow=int(Permissions.MANAGE_MESSAGES)
    )
    reply = await slash(
        consentry, world.member_ids[0], "blocklist", "add", file=("a.jpg", ASTRONAUT)
    )
    assert "Only moderators" in reply.content
    assert await consentry.engine.storage.blocklist.list() == []
    [refused] = await consentry.engine.storage.audit.list()
    assert refused.action == "command.refused" and refused.details == {"command": "blocklist add"}
    assert refused.actor == f"user:{world.member_ids[0]}"

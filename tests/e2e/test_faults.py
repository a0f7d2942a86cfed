"""End to end: faults on Discord's side and in the database. Each test ends with every message
in a final state, no duplicate or orphan case, and the audit chain verified."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from bot.core.evidence import EvidenceKey
from bot.runtime import backlog, effects
from bot.sandbox import DemoWorld, Sandbox
from bot.storage import WorkState
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_setup import _slash
from tests.e2e.test_watch import ASTRONAUT, COPY
from tests.imagery import encode, photo

DELETE = "/channels/{channel_id}/messages/{message_id}"
POST = "/channels/{channel_id}/messages"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries within a test's patience: the first after 0.2 s, the backlog looking every 0.1 s."""
    monkeypatch.setattr(effects, "FIRST_RETRY_SECONDS", 0.2)
    monkeypatch.setattr(backlog, "BACKLOG_SECONDS", 0.1)


async def eventually(check: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true (it may be a coroutine function)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        await asyncio.sleep(0.05)


async def settled(harness: Harness, message_ids: list[int]) -> None:
    """Every message's record finished, one case at most per message, and the chain intact."""
    storage = harness.engine.storage

    async def finished() -> bool:
        items = [await storage.work.get(harness.world.guild_id, m) for m in message_ids]
        return all(i is not None and i.state.finished for i in items)

    await eventually(finished)
    cases = await storage.cases.list(harness.world.guild_id, limit=100)
    by_message = [c.message_id for c in cases]
    assert len(by_message) == len(set(by_message)), "a message has two cases"
    verification = await storage.audit.verify()
    assert verification.ok, verification


async def test_a_delete_refused_with_5xx_is_retried_until_the_message_is_gone(
    consentry: Harness,
) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    await consentry.blocklist(ASTRONAUT)
    sandbox.fail_next("DELETE", DELETE, 503, times=2)
    message, incident = await consentry.post(
        world.general_id, world.member_ids[0], [("p.jpg", COPY)]
    )
    message_id = int(message["id"])
    # The alert goes out at once and says so; the removal follows on a retry.
    assert incident is not None and "Not deleted yet" in incident.outcome
    assert "503" in incident.outcome
    await eventually(lambda: sandbox.message(world.general_id, message_id) is None)
    await settled(consentry, [message_id])
    item = await consentry.engine.storage.work.get(world.guild_id, message_id)
    assert item is not None and item.state is WorkState.DONE and item.attempts == 3
    [case] = await consentry.engine.storage.cases.list(world.guild_id)
    notes = [e.note for e in await consentry.engine.storage.cases.events(case.id)]
    assert "on try 3: Message deleted." in notes
    assert len(consentry.alerts()) == 1
    deletes = sandbox.find_requests("DELETE", DELETE)
    assert [r.status for r in deletes] == [503, 503, 204]


async def test_an_alert_discord_keeps_refusing_goes_to_the_owner_by_dm(
    consentry: Harness,
) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    await consentry.blocklist(ASTRONAUT)
    since = len(sandbox.requests)
    sandbox.fail_next("POST", POST, 503, times=effects.ALERT_TRIES)
    message, _ = await consentry.post(world.general_id, world.member_ids[0], [("p.jpg", COPY)])
    message_id = int(message["id"])
    assert sandbox.message(world.general_id, message_id) is None  # removed at once regardless
    await settled(consentry, [message_id])
    posts = sandbox.find_requests("POST", POST)[-(effects.ALERT_TRIES + 1) :]
    assert [r.status for r in posts] == [503] * effects.ALERT_TRIES + [200]
    dm = posts[-1]
    assert "could not be posted in the alert channel" in str(dm.json)
    assert dm.path != f"/channels/{world.mod_alerts_id}/messages"
    assert consentry.alerts() == []
    records = await consentry.engine.storage.audit.list(guild_id=world.guild_id)
    [fallback] = [r for r in records if r.action == "alert.fallback"]
    status = await _slash(consentry, world.owner_id, "status")
    assert "0 message(s) to scan, 0 with a deletion or alert still due, 0 given up" in status
    assert "503" in fallback.details["detail"] and fallback.details["tries"] == effects.ALERT_TRIES
    assert len(sandbox.requests) > since


async def test_work_due_when_the_bot_stopped_is_finished_by_the_next_start(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config) as first:
        await first.configure(alert_channel_id=world.mod_alerts_id)
        await first.blocklist(ASTRONAUT)
        sandbox.fail_next("DELETE", DELETE, 503, times=1000)  # Discord down for deletes
        message, incident = await first.post(
            world.general_id, world.member_ids[0], [("p.jpg", COPY)]
        )
        assert incident is not None and "Not deleted yet" in incident.outcome
    message_id = int(message["id"])
    assert sandbox.message(world.general_id, message_id) is not None
    sandbox.clear_failures()
    async with running_bot(sandbox, world, config) as second:
        await eventually(lambda: sandbox.message(world.general_id, message_id) is None)
        await settled(second, [message_id])
        assert len(second.alerts()) == 1  # the alert of the first run, not a second one
        assert await second.engine.storage.cases.count(world.guild_id) == 1


async def test_a_database_locked_past_the_busy_timeout_loses_nothing(
    consentry: Harness, tmp_path: Path
) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    await consentry.blocklist(ASTRONAUT)
    with _locked(tmp_path / "consentry.db", seconds=6.5):
        message = await sandbox.post_message(
            world.general_id, world.member_ids[0], attachments=[("p.jpg", COPY)]
        )
        await asyncio.sleep(0.5)
        assert sandbox.message(world.general_id, int(message["id"])) is not None
    message_id = int(message["id"])
    await eventually(lambda: sandbox.message(world.general_id, message_id) is None, timeout=20)
    await settled(consentry, [message_id])
    assert await consentry.engine.storage.cases.count(world.guild_id) == 1
    assert len(consentry.alerts()) == 1


async def test_a_full_disk_removes_the_media_and_the_case_says_why_no_evidence_was_kept(
    tmp_path: Path, sandbox: Sandbox, world: DemoWorld
) -> None:
    big = _png(photo("astronaut"))  # about 500 KB: more than the room left below
    config = sandbox_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config, EvidenceKey.generate()[0]) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.blocklist(big)
        await _fill_disk(harness, room_pages=40)  # 160 KiB left
        message, incident = await harness.post(
            world.general_id, world.member_ids[0], [("b.png", big)]
        )
        message_id = int(message["id"])
        assert incident is not None and incident.outcome == "Message deleted."
        assert sandbox.message(world.general_id, message_id) is None
        await settled(harness, [message_id])
        [case] = await harness.engine.storage.cases.list(world.guild_id)
        assert "full" in case.verdict["evidence_error"]
        assert await harness.engine.storage.evidence.for_case(case.id) == []
        records = await harness.engine.storage.audit.list(guild_id=world.guild_id)
        [opened] = [r for r in records if r.action == "case.opened"]
        assert opened.details["evidence_items"] == 0 and "full" in opened.details["evidence_error"]


@contextmanager
def _locked(path: Path, *, seconds: float) -> Iterator[None]:
    """Another process's exclusive lock on the database for ``seconds`` (a large blocklist
    import, say): longer than the bot's 5 s busy timeout."""
    taken = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        taken.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    taken.wait(5)
    try:
        yield
    finally:
        pass  # the lock ends by itself; the test goes on while it holds


async def _fill_disk(harness: Harness, *, room_pages: int) -> None:
    """Leave the database only ``room_pages`` pages to grow by: SQLite then answers
    SQLITE_FULL ("database or disk is full"), exactly as on a full disk."""
    conn = harness.engine.storage._db._conn  # type: ignore[attr-defined]
    [(pages,)] = await conn.execute_fetchall("PRAGMA page_count")
    await conn.execute(f"PRAGMA max_page_count = {pages + room_pages}")


async def _known_image_handled(harness: Harness) -> int:
    """Set up, blocklist the astronaut, post a copy and wait until its work is finished;
    return the message's id."""
    world = harness.world
    await harness.configure(alert_channel_id=world.mod_alerts_id)
    await harness.blocklist(ASTRONAUT)
    message, _ = await harness.post(world.general_id, world.member_ids[0], [("p.jpg", COPY)])
    await settled(harness, [int(message["id"])])
    return int(message["id"])


def _png(image: Image.Image) -> bytes:
    return encode(image, "PNG")


async def test_start_up_warns_when_stored_evidence_was_sealed_with_another_key(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    old_key = EvidenceKey.generate()[0]
    async with running_bot(sandbox, world, config, old_key) as first:
        await _known_image_handled(first)
    caplog.clear()
    new_key = EvidenceKey.generate()[0]
    async with running_bot(sandbox, world, config, new_key):
        pass
    assert f"1 stored evidence items are sealed with key {old_key.key_id}" in caplog.text
    assert f"this start's key {new_key.key_id}" in caplog.text


@pytest.mark.parametrize(
    ("method", "route"), [("DELETE", DELETE), ("POST", POST)], ids=["delete", "alert"]
)
async def test_a_429_on_a_write_is_waited_out_and_the_message_ends_final(
    consentry: Harness, method: str, route: str
) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    await consentry.blocklist(ASTRONAUT)
    sandbox.fail_next(method, route, 429, times=2, retry_after=0.3)
    message, _ = await consentry.post(world.general_id, world.member_ids[0], [("p.jpg", COPY)])
    message_id = int(message["id"])
    await eventually(lambda: sandbox.message(world.general_id, message_id) is None)
    await settled(consentry, [message_id])
    assert len(consentry.alerts()) == 1
    statuses = [r.status for r in sandbox.find_requests(method, route)]
    assert statuses.count(429) == 2


async def test_a_ladder_step_due_when_the_bot_stopped_is_applied_by_the_next_start(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config) as first:
        message_id = await _known_image_handled(first)
        [case] = await first.engine.storage.cases.list(world.guild_id)
        # Committed with its ladder step due, then the bot stops before carrying it out.
        await first.bot.cases.confirm(case, actor="user:1", ladder="timeout:60")
    assert sandbox.find_requests("PATCH", MEMBER) == []
    async with running_bot(sandbox, world, config) as second:
        await sandbox.wait_for_request("PATCH", MEMBER, timeout=10)
        await settled(second, [message_id])
        records = await second.engine.storage.audit.list(guild_id=world.guild_id)
        [step] = [r for r in records if r.action == "member.ladder"]
        assert step.details["step"] == "timeout:60"
        assert step.details["outcome"] == "Author timed out for 60 minutes."
    assert len(sandbox.find_requests("PATCH", MEMBER)) == 1  # once, not again


MEMBER = "/guilds/{guild_id}/members/{user_id}"


async def test_a_repost_due_when_the_bot_stopped_is_made_by_the_next_start(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    key = EvidenceKey.generate()[0]
    async with running_bot(sandbox, world, config, key) as first:
        message_id = await _known_image_handled(first)
        [case] = await first.engine.storage.cases.list(world.guild_id)
        # Restored and committed with its repost due; the bot stops before reposting.
        await first.bot.cases.restore(case, actor="user:1")
    hook = "/webhooks/{webhook_id}/{webhook_token}"
    assert sandbox.find_requests("POST", hook) == []
    async with running_bot(sandbox, world, config, key) as second:
        await sandbox.wait_for_request("POST", hook, timeout=10)
        await settled(second, [message_id])
        records = await second.engine.storage.audit.list(guild_id=world.guild_id)
        assert [r.details["detail"] for r in records if r.action == "post.restored"] == [
            "Reposted under the author's name."
        ]
    assert len(sandbox.find_requests("POST", hook)) == 1  # once, not again


async def test_a_ladder_step_refused_with_5xx_is_retried_until_it_is_applied(
    reviewing: Harness,
) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    await reviewing.configure(action_ladder=("timeout:60",))
    message_id = await _known_image_handled(reviewing)
    [alert] = reviewing.alerts()
    sandbox.fail_next("PATCH", MEMBER, 503, times=2)
    reply = await reviewing.click(alert, "confirm", world.moderator_id)
    assert "Could not timeout the author yet: Discord answered 503" in reply
    assert reply.rstrip().endswith("Retrying.")
    await settled(reviewing, [message_id])
    assert [r.status for r in sandbox.find_requests("PATCH", MEMBER)] == [503, 503, 200]
    records = await reviewing.engine.storage.audit.list(guild_id=world.guild_id)
    [step] = [r for r in records if r.action == "member.ladder"]  # recorded once, when done
    assert step.details["outcome"] == "Author timed out for 60 minutes."


async def test_a_ladder_step_discord_forbids_is_final_and_not_retried(
    reviewing: Harness,
) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    await reviewing.configure(action_ladder=("kick",))
    message_id = await _known_image_handled(reviewing)
    [alert] = reviewing.alerts()
    kick = "/guilds/{guild_id}/members/{user_id}"
    sandbox.fail_next("DELETE", kick, 403, times=1)
    reply = await reviewing.click(alert, "confirm", world.moderator_id)
    assert "Could not kick the author: missing permission or role too low." in reply
    await settled(reviewing, [message_id])
    await asyncio.sleep(0.5)  # several backlog rounds: none tries again
    assert [r.status for r in sandbox.find_requests("DELETE", kick)] == [403]


async def test_a_repost_refused_with_5xx_is_retried_until_the_post_is_back(
    reviewing: Harness,
) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    message_id = await _known_image_handled(reviewing)
    [alert] = reviewing.alerts()
    # discord.py retries a webhook's own 5xx itself; the channel's webhook list it does not.
    hooks = "/channels/{channel_id}/webhooks"
    sandbox.fail_next("GET", hooks, 503, times=1)
    reply = await reviewing.click(alert, "restore", world.moderator_id)
    assert "restored; the repost will be tried again" in reply and "503" in reply
    await settled(reviewing, [message_id])
    assert [r.status for r in sandbox.find_requests("GET", hooks)][:2] == [503, 200]
    reposts = [m for m in sandbox.messages(world.general_id) if m.get("webhook_id")]
    assert len(reposts) == 1
    records = await reviewing.engine.storage.audit.list(guild_id=world.guild_id)
    assert [r.action for r in records if r.action.startswith(("post.", "restore."))] == [
        "post.restored"
    ]

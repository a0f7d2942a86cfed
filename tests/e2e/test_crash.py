"""End to end: `consentry run` killed with SIGKILL at random points of a raid, again and again.

Whatever the moment of the kill (mid-download, mid-scan, between the case and the delete,
between the delete and the alert), the next start finishes the work: every known image is
removed, every clean one stays, no message has two cases, every case has its alert, and the
audit chain verifies.
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.core.blocklist import NewEntry
from bot.core.fingerprint import fingerprint
from bot.sandbox import DemoWorld, Sandbox
from bot.storage import WorkState, open_storage
from tests.e2e.process_support import bot_env, start_bot
from tests.e2e.test_watch import ASTRONAUT, COPY
from tests.imagery import encode, photo

ROUNDS = 20
PER_ROUND = 6
CLEAN = encode(photo("coffee").resize((320, 240)))


def _config(sandbox: Sandbox, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        "detectors = []\n"
        '[storage]\nurl = "consentry.db"\n'
        "[likeness]\nenabled = false\n" + sandbox.discord_section(blocklist_refresh_seconds=0.5)
    )
    return path


async def test_kill_9_at_random_points_of_a_raid_loses_nothing_and_repeats_nothing(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = _config(sandbox, tmp_path)
    url = f"sqlite:///{tmp_path / 'consentry.db'}"
    async with await open_storage(url) as storage:
        await storage.settings.set_override(world.guild_id, "alert_channel_id", world.mod_alerts_id)
        hashes = fingerprint(ASTRONAUT, Config().limits, 50).hashes
        await storage.blocklist.add([NewEntry(a, v, None, "test", "known") for a, v in hashes])
    env = bot_env(sandbox)
    rng = random.Random(20261202)
    known: list[dict[str, Any]] = []
    clean: list[dict[str, Any]] = []
    posters = [*world.member_ids, world.moderator_id]
    for round_ in range(ROUNDS):
        bot = await start_bot(config, env)
        try:
            await sandbox.wait_until_connected(timeout=30)
            for i in range(PER_ROUND):
                is_known = rng.random() < 0.6
                posted = await sandbox.post_message(
                    (world.general_id, world.art_id)[i % 2],
                    posters[(round_ + i) % len(posters)],
                    attachments=[("r.jpg", COPY if is_known else CLEAN)],
                )
                (known if is_known else clean).append(posted)
            await asyncio.sleep(rng.uniform(0.0, 0.6))
        finally:
            bot.kill()  # SIGKILL: no shutdown code runs
            await bot.wait()
        await sandbox.wait_until_disconnected(timeout=10)
    # One last start, left to finish everything, then stopped cleanly.
    bot = await start_bot(config, env)
    try:
        await sandbox.wait_until_connected(timeout=30)
        ids = [int(m["id"]) for m in known + clean]
        async with await open_storage(url) as storage:
            for _ in range(600):
                items = [await storage.work.get(world.guild_id, m) for m in ids]
                if all(i is not None and i.state.finished for i in items):
                    break
                await asyncio.sleep(0.1)
        bot.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(bot.communicate(), 30)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    assert bot.returncode == 0, stderr.decode()[-3000:]
    async with await open_storage(url) as storage:
        items = {m: await storage.work.get(world.guild_id, m) for m in ids}
        unfinished = {m: i for m, i in items.items() if i is None or not i.state.finished}
        assert not unfinished, unfinished
        assert {i.state for i in items.values() if i is not None} <= {WorkState.DONE}
        cases = await storage.cases.list(world.guild_id, limit=100)
        assert len({c.message_id for c in cases}) == len(cases), "a message has two cases"
        case_ids = {c.id for c in cases}
        assert all(c.alert_message_id is not None for c in cases), "a case without its alert"
        verification = await storage.audit.verify()
        assert verification.ok, verification
    for posted in known:
        assert sandbox.message(int(posted["channel_id"]), int(posted["id"])) is None
    for posted in clean:
        assert sandbox.message(int(posted["channel_id"]), int(posted["id"])) is not None
    alerts = [
        m
        for m in sandbox.messages(world.mod_alerts_id)
        if m["author"]["id"] == str(sandbox.bot_user_id)
    ]
    alerted = [m.get("nonce") for m in alerts]
    assert len(alerted) == len(set(alerted)), "a case was alerted twice"
    assert {f"case-{c}" for c in case_ids} <= set(alerted)

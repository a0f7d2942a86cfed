"""End to end: `consentry run` as a real process, stopped by SIGTERM without losing work."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from bot.sandbox import DemoWorld, Sandbox
from bot.storage import open_storage
from tests.e2e.process_support import bot_env, start_bot
from tests.e2e.test_watch import ASTRONAUT, COPY


def _config(sandbox: Sandbox, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    storage = '[storage]\nurl = "consentry.db"\n'
    path.write_text(storage + sandbox.discord_section(blocklist_refresh_seconds=0.2))
    return path


async def test_the_bot_process_acts_on_cli_blocklist_edits_and_stops_on_sigterm(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = _config(sandbox, tmp_path)
    (tmp_path / "known.jpg").write_bytes(ASTRONAUT)
    async with await open_storage(f"sqlite:///{tmp_path / 'consentry.db'}") as storage:
        await storage.settings.set_override(world.guild_id, "alert_channel_id", world.mod_alerts_id)
    env = bot_env(sandbox)
    bot = await start_bot(config, env, stdout=asyncio.subprocess.PIPE)
    try:
        await sandbox.wait_until_connected(timeout=30)
        await sandbox.wait_for_request("PUT", "/applications/{application_id}/commands", timeout=30)
        # The CLI, another process, adds the hash; the running bot picks it up on its refresh.
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "blocklist",
            "add",
            "--config",
            str(config),
            str(tmp_path / "known.jpg"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(cli.wait(), 60) == 0
        assert await _posted_copy_is_deleted(sandbox, world), "the bot never applied the CLI's edit"
        bot.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(bot.communicate(), 30)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    assert bot.returncode == 0, stderr.decode()
    assert "consentry: stopped" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    # A clean close (1000) ends the gateway session: Discord shows the bot offline at once.
    assert list(sandbox.gateway_stats.close_codes)[-1:] == [1000]


async def _posted_copy_is_deleted(sandbox: Sandbox, world: DemoWorld) -> bool:
    # The bot polls storage for blocklist changes; until its next poll a copy is still allowed,
    # so post again until one is deleted (bounded: about 10 s).
    for _ in range(5):
        message = await sandbox.post_message(
            world.general_id, world.member_ids[0], attachments=[("p.jpg", COPY)]
        )
        route = f"/channels/{world.general_id}/messages/{message['id']}"
        try:
            await sandbox.wait_for_request("DELETE", route, timeout=2)
        except TimeoutError:
            continue
        return True
    return False

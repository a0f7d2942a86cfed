"""End to end: scan workers (``consentry worker``) beside a gateway process on one database.

While a worker beats, the gateway records each new message as due and the worker claims it,
fetches it over REST, scans it, and deletes and alerts through REST. A worker killed mid-scan
loses its lease, and another worker takes the message over: nothing is lost.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.core.verdict import Action
from bot.sandbox import DemoWorld, Sandbox
from bot.storage import Storage, WorkState
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.process_support import bot_env
from tests.e2e.test_watch import ASTRONAUT, COFFEE, COPY, MESSAGE_ROUTE
from tests.e2e.worker_support import (
    live_workers,
    running_worker,
    start_worker_process,
    with_workers,
    worker_config_file,
)
from tests.postgres_support import ScratchDatabases

TIMEOUT = 15.0


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = TIMEOUT) -> None:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.05)


async def _known_fake(consentry: Harness) -> None:
    await consentry.configure(alert_channel_id=consentry.world.mod_alerts_id)
    await consentry.blocklist(ASTRONAUT)


async def test_with_a_worker_alive_the_gateway_hands_scans_to_it_and_it_acts_over_rest(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, url: str
) -> None:
    config = with_workers(
        sandbox_config(sandbox, tmp_path, storage_url=url, blocklist_refresh_seconds=0.5)
    )
    async with (
        running_bot(sandbox, world, config) as consentry,
        running_worker(sandbox, config) as worker,
    ):
        await _until(lambda: _handing_off(consentry), "the gateway never saw the worker")
        await _known_fake(consentry)
        engine = worker.worker.engine
        storage = consentry.engine.storage
        await _until(
            lambda: _same_revision(engine.blocklist_revision, storage),
            "the blocklist never reached the worker",
        )
        fake = await sandbox.post_message(
            world.general_id, world.member_ids[0], attachments=[("p.jpg", COPY)]
        )
        clean = await sandbox.post_message(
            world.general_id, world.member_ids[1], attachments=[("c.png", COFFEE)]
        )
        route = MESSAGE_ROUTE.format(channel_id=world.general_id, message_id=fake["id"])
        await sandbox.wait_for_request("DELETE", route, timeout=TIMEOUT)
        await _until(lambda: _finished(storage, world, int(clean["id"])), "clean not done")
        await _until(_async(lambda: int(fake["id"]) in worker.handled), "never handled")
        # The worker scanned both; the gateway scanned neither.
        incident = worker.handled[int(fake["id"])]
        assert incident is not None and incident.decision.action is Action.QUARANTINE
        assert worker.handled[int(clean["id"])] is not None
        assert int(fake["id"]) not in consentry._handled
        # Its alert is in #mod-alerts, with the case's review buttons.
        await _until(lambda: _alerted(consentry), "no alert posted")
        case = await storage.cases.find_by_message(world.guild_id, int(fake["id"]))
        assert case is not None and "confirm" in consentry.buttons(case.alert_message_id or 0)
        # A moderator's press on the worker's alert reaches the gateway, which decides.
        alert = next(a for a in consentry.alerts() if int(a["id"]) == case.alert_message_id)
        await consentry.click(alert, "confirm", world.moderator_id)
        decided = await storage.cases.get(case.id)
        assert decided is not None and decided.status.value == "confirmed"


async def test_a_worker_killed_mid_scan_loses_nothing(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, scratch_databases: ScratchDatabases
) -> None:
    async with scratch_databases.shared() as dsn:
        config = with_workers(
            sandbox_config(sandbox, tmp_path, storage_url=dsn, blocklist_refresh_seconds=0.5)
        )
        async with running_bot(sandbox, world, config) as consentry:
            storage = consentry.engine.storage
            await _known_fake(consentry)
            path = worker_config_file(sandbox, tmp_path / "worker.toml", dsn)
            doomed = await start_worker_process(path, bot_env(sandbox))
            try:
                await live_workers(storage, 1, timeout=60)
                await _until(lambda: _handing_off(consentry), "the gateway never saw the worker")
                sandbox.slow_cdn(60)  # the worker's download hangs: it is mid-scan
                fake = await sandbox.post_message(
                    world.general_id, world.member_ids[0], attachments=[("p.jpg", COPY)]
                )
                message_id = int(fake["id"])
                await _until(lambda: _claimed(storage, world, message_id), "never claimed")
                doomed.send_signal(signal.SIGKILL)
                await doomed.wait()
            finally:
                if doomed.returncode is None:
                    doomed.kill()
                    await doomed.wait()
            sandbox.slow_cdn(0)
            # Killed holding the message: not acted on, still waiting for its scan.
            assert sandbox.message(world.general_id, message_id) is not None
            left = await storage.work.get(world.guild_id, message_id)
            assert left is not None and left.state is WorkState.SCAN and left.attempts == 1
            # Another worker takes the message over once the dead one's lease runs out.
            async with running_worker(sandbox, config) as heir:
                route = MESSAGE_ROUTE.format(channel_id=world.general_id, message_id=message_id)
                await sandbox.wait_for_request("DELETE", route, timeout=TIMEOUT)
                await _until(lambda: _finished(storage, world, message_id), "record not done")
                await _until(_async(lambda: message_id in heir.handled), "never handled")
                assert heir.handled[message_id] is not None
            case = await storage.cases.find_by_message(world.guild_id, message_id)
            assert case is not None and case.action == "quarantine"


async def _handing_off(consentry: Harness) -> bool:
    return consentry.bot.hand_off()


async def _same_revision(seen: int | None, storage: Storage) -> bool:
    return seen is not None and seen == await storage.blocklist.revision()


async def _finished(storage: Storage, world: DemoWorld, message_id: int) -> bool:
    item = await storage.work.get(world.guild_id, message_id)
    return item is not None and item.state is WorkState.DONE


async def _claimed(storage: Storage, world: DemoWorld, message_id: int) -> bool:
    item = await storage.work.get(world.guild_id, message_id)
    return item is not None and item.attempts >= 1


async def _alerted(consentry: Harness) -> bool:
    return bool(consentry.alerts())


async def test_on_postgresql_a_global_rate_limit_met_by_one_process_holds_every_process_back(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, scratch_databases: ScratchDatabases
) -> None:
    async with scratch_databases.shared() as dsn:
        config = with_workers(sandbox_config(sandbox, tmp_path, storage_url=dsn))
        async with (
            running_bot(sandbox, world, config) as consentry,
            running_worker(sandbox, config) as worker,
        ):
            # Discord answers the gateway process's next request: global limit, 2 s.
            sandbox.fail_next("GET", "/users/{user_id}", 429, retry_after=2.0, global_=True)
            member = world.member_ids[0]
            hit = asyncio.create_task(consentry.bot.fetch_user(member))
            limit = worker.worker.global_limit
            await _until(_async(lambda: limit.pauses == 1), "the worker was never told", 2.0)
            # The worker's own next request waits for the limit to pass, though Discord never
            # refused the worker itself.
            started = time.monotonic()
            await worker.worker.client.fetch_user(member)
            waited = time.monotonic() - started
            assert waited > 1.0, f"the worker did not wait ({waited:.2f} s)"
            assert (await hit).id == member  # the gateway retried after the limit, as usual


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def checked() -> bool:
        return check()

    return checked

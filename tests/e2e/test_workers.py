"""End to end: scan workers (``consentry worker``) beside gateway processes on one database.

While a worker beats, the gateways record each new message as due and the workers claim it,
scan it from what the gateway handed over (no fetch), and delete and alert through REST. With
two gateways (one shard each) and two worker processes on PostgreSQL: a hash confirmed in a
server on shard 0 blocks the same image in a server on shard 1 within 2 s, and a worker killed
mid-scan loses its lease to the other worker, which takes the message over: nothing is lost.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bot.core.blocklist import Algorithm, NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.verdict import Action
from bot.sandbox import DemoWorld, Sandbox
from bot.storage import Storage, WorkState
from tests.e2e.harness import (
    Harness,
    on_shard,
    running_bot,
    sandbox_config,
    worlds_on_two_shards,
)
from tests.e2e.process_support import bot_env
from tests.e2e.test_metrics import free_port
from tests.e2e.test_watch import ASTRONAUT, COFFEE, COPY, MESSAGE_ROUTE
from tests.e2e.worker_support import (
    QUICK,
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


async def test_with_a_worker_alive_the_gateway_hands_scans_to_it_and_it_acts_over_rest(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, url: str
) -> None:
    config = with_workers(
        sandbox_config(sandbox, tmp_path, storage_url=url, blocklist_refresh_seconds=0.5)
    )
    port = free_port()
    async with (
        running_bot(sandbox, world, config) as consentry,
        running_worker(sandbox, config, metrics_port=port) as worker,
    ):
        await _until(lambda: _handing_off(consentry), "the gateway never saw the worker")
        await consentry.configure(alert_channel_id=world.mod_alerts_id)
        # Posted before the picture is known: scanned clean, and forwarded once it is known.
        original = await sandbox.post_message(
            world.art_id, world.member_ids[2], attachments=[("o.jpg", COPY)]
        )
        storage = consentry.engine.storage
        await _until(lambda: _finished(storage, world, int(original["id"])), "not scanned")
        await consentry.blocklist(ASTRONAUT)
        engine = worker.worker.engine
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
        forward = await sandbox.forward_message(
            world.general_id, world.member_ids[1], world.art_id, int(original["id"])
        )
        forwarded = MESSAGE_ROUTE.format(channel_id=world.general_id, message_id=forward["id"])
        await sandbox.wait_for_request("DELETE", forwarded, timeout=TIMEOUT)
        await _until(lambda: _finished(storage, world, int(clean["id"])), "clean not done")
        # The gateway handed each message over with its media: the worker fetched none again.
        assert sandbox.find_requests("GET", MESSAGE_ROUTE) == []
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
        # The worker's own metrics count its scans, and the processes of the cluster.
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as scrape,
        ):
            text = await scrape.text()
        assert 'consentry_scans_total{action="quarantine",media_type="jpeg"} 2.0' in text
        assert 'consentry_processes{role="worker"} 1.0' in text
        assert 'consentry_processes{role="gateway"} 1.0' in text
        # A moderator's press on the worker's alert reaches the gateway, which decides.
        alert = next(a for a in consentry.alerts() if int(a["id"]) == case.alert_message_id)
        await consentry.click(alert, "confirm", world.moderator_id)
        decided = await storage.cases.get(case.id)
        assert decided is not None and decided.status.value == "confirmed"


async def test_two_gateways_and_two_workers_share_confirmations_and_lose_nothing_to_a_kill(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, scratch_databases: ScratchDatabases
) -> None:
    worlds = worlds_on_two_shards(sandbox, world)
    async with scratch_databases.shared() as dsn:
        base = with_workers(sandbox_config(sandbox, tmp_path, storage_url=dsn))

        async with (
            running_bot(sandbox, worlds[0], on_shard(base, 0)) as first,
            running_bot(sandbox, worlds[1], on_shard(base, 1)) as second,
        ):
            storage = first.engine.storage
            for harness, w in ((first, worlds[0]), (second, worlds[1])):
                await harness.bot.guild_settings.set(
                    w.guild_id, "alert_channel_id", w.mod_alerts_id
                )
                await harness.bot.guild_settings.set(w.guild_id, "share_confirmed", True)
            # Two worker processes, each scanning one message at a time.
            path = worker_config_file(sandbox, tmp_path / "worker.toml", dsn)
            env = bot_env(sandbox)
            workers = [
                await start_worker_process(path, env, tmp_path / f"worker-{n}.log")
                for n in range(2)
            ]
            try:
                await live_workers(storage, 2, timeout=60)
                for harness in (first, second):
                    await _until(lambda h=harness: _handing_off(h), "a gateway never saw them")
                await _confirmed_on_shard_0_blocks_on_shard_1(first, worlds, storage)
                await _a_worker_killed_mid_scan_loses_nothing(sandbox, worlds, storage, workers)
            finally:
                sandbox.release_downloads()
                for process in workers:
                    if process.returncode is None:
                        process.kill()
                        await process.wait()


async def _confirmed_on_shard_0_blocks_on_shard_1(
    first: Harness, worlds: dict[int, DemoWorld], storage: Storage
) -> None:
    # A moderator on shard 0 confirms the picture: its hashes become server 0's entries.
    config = first.engine.config
    hashes = fingerprint(ASTRONAUT, config.limits, config.matching.pdq_min_quality).hashes
    confirmed = [
        NewEntry(a, v, worlds[0].guild_id, "case") for a, v in hashes if a is Algorithm.PDQ
    ]
    confirmed_at = time.monotonic()
    await storage.blocklist.add(confirmed)
    # Copies go on being posted in the server on shard 1 until one is removed: the first one
    # removed must have been posted within 2 s of the confirmation.
    channel = worlds[1].general_id
    while True:
        posted_at = time.monotonic()
        assert posted_at - confirmed_at < 2.0, "not blocked on shard 1 within 2 s"
        copy = await sandbox_post(first.sandbox, worlds[1], COPY)
        route = MESSAGE_ROUTE.format(channel_id=channel, message_id=copy)
        try:
            await first.sandbox.wait_for_request("DELETE", route, timeout=1.0)
        except TimeoutError:
            continue
        break


async def _a_worker_killed_mid_scan_loses_nothing(
    sandbox: Sandbox,
    worlds: dict[int, DemoWorld],
    storage: Storage,
    workers: list[asyncio.subprocess.Process],
) -> None:
    sandbox.hold_downloads()  # every worker's download hangs: each is mid-scan
    posts = [(w, await sandbox_post(sandbox, w, COPY)) for w in worlds.values()]
    for w, message_id in posts:  # each worker took one (one scan at a time each)
        await _until(lambda w=w, m=message_id: _claimed(storage, w, m), "never claimed")
    await asyncio.sleep(QUICK.lease_seconds * 1.5)  # held past a lease: renewed, not retaken
    for w, message_id in posts:
        item = await storage.work.get(w.guild_id, message_id)
        assert item is not None and item.attempts == 1, item
    workers[0].send_signal(signal.SIGKILL)
    await workers[0].wait()
    for w, message_id in posts:  # killed holding one: nothing acted on yet
        assert sandbox.message(w.general_id, message_id) is not None
    sandbox.release_downloads()
    # The other worker finishes its own, then takes the dead one's over once its lease ran out.
    for w, message_id in posts:
        route = MESSAGE_ROUTE.format(channel_id=w.general_id, message_id=message_id)
        await sandbox.wait_for_request("DELETE", route, timeout=TIMEOUT)
        await _until(lambda w=w, m=message_id: _finished(storage, w, m), "record not done")
        # Its own case, or, as a copy in a raid, the case of the first copy.
        item = await storage.work.get(w.guild_id, message_id)
        assert item is not None and item.case_id is not None
        case = await storage.cases.get(item.case_id)
        assert case is not None and case.action == "quarantine"


async def sandbox_post(sandbox: Sandbox, world: DemoWorld, data: bytes) -> int:
    message = await sandbox.post_message(
        world.general_id, world.member_ids[0], attachments=[("p.jpg", data)]
    )
    return int(message["id"])


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

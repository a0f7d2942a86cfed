"""Storage, every backend: leases on background jobs, so that of several processes on one
database each job runs in one at a time, and a process that died is taken over from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage import Storage, open_storage
from bot.storage.base_jobs import ProcessBeat

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def test_a_job_is_held_by_one_process_until_its_lease_runs_out(
    storage: Storage, url: str
) -> None:
    async with await open_storage(url) as other:  # a second process on the same database
        jobs, theirs = storage.jobs, other.jobs
        until = T0 + timedelta(minutes=2)
        assert await jobs.claim("purge", "a", until=until, now=T0)
        assert not await theirs.claim("purge", "b", until=until, now=T0 + timedelta(seconds=30))
        assert await theirs.claim("feeds", "b", until=until, now=T0)  # another job: free
        # The holder renews its own lease; the other still may not take it.
        later = T0 + timedelta(minutes=1)
        assert await jobs.claim("purge", "a", until=later + timedelta(minutes=2), now=later)
        assert not await theirs.claim("purge", "b", until=until, now=T0 + timedelta(minutes=2))
        # "a" dies: once its lease runs out, "b" takes the job over.
        gone = T0 + timedelta(minutes=4)
        assert await theirs.claim("purge", "b", until=gone + timedelta(minutes=2), now=gone)
        assert not await jobs.claim("purge", "a", until=gone, now=gone)


async def test_a_released_job_is_free_at_once(storage: Storage) -> None:
    until = T0 + timedelta(minutes=10)
    assert await storage.jobs.claim("purge", "a", until=until, now=T0)
    await storage.jobs.release("purge", "b")  # not b's to give up
    assert not await storage.jobs.claim("purge", "b", until=until, now=T0)
    await storage.jobs.release("purge", "a")
    assert await storage.jobs.claim("purge", "b", until=until, now=T0)


def _beat(holder: str, role: str, at: datetime, *, detail: str = "") -> ProcessBeat:
    return ProcessBeat(holder, role, detail, "0.1.0", T0, at, at + timedelta(seconds=15))


async def test_processes_are_alive_until_their_heartbeat_runs_out(
    storage: Storage, url: str
) -> None:
    async with await open_storage(url) as other:
        await storage.jobs.beat(_beat("gw", "gateway", T0, detail="0,1"))
        await other.jobs.beat(_beat("w1", "worker", T0))
        await other.jobs.beat(_beat("w2", "worker", T0 + timedelta(seconds=10)))
        alive = await storage.jobs.processes(T0 + timedelta(seconds=5))
        assert [(p.holder, p.role, p.detail) for p in alive] == [
            ("gw", "gateway", "0,1"),
            ("w1", "worker", ""),
            ("w2", "worker", ""),
        ]
        # w1 stops beating: 15 s after its last beat it no longer counts; w2 beat later.
        later = T0 + timedelta(seconds=20)
        assert [p.holder for p in await storage.jobs.processes(later, role="worker")] == ["w2"]
        # A beat replaces the last one; a process that stops is gone at once.
        await other.jobs.beat(_beat("w1", "worker", later))
        assert len(await storage.jobs.processes(later, role="worker")) == 2
        await other.jobs.leave("w1")
        assert [p.holder for p in await storage.jobs.processes(later)] == ["w2"]


async def test_the_rows_of_processes_dead_for_a_day_are_deleted(storage: Storage) -> None:
    await storage.jobs.beat(_beat("dead", "worker", T0))
    day = T0 + timedelta(days=1, minutes=1)
    await storage.jobs.beat(_beat("new", "worker", day))
    # Looking back to T0, only the new process's row is left.
    assert [p.holder for p in await storage.jobs.processes(T0)] == ["new"]

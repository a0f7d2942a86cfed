"""Storage, every backend: leases on background jobs, so that of several processes on one
database each job runs in one at a time, and a process that died is taken over from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage import Storage, open_storage

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

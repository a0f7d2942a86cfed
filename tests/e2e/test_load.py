"""The load test, one minute of it (``make load`` runs ten): two gateway processes and two scan
workers on PostgreSQL, 1,000 image messages a minute over 10 servers, a mix of clean, known,
explicit (stand-in model) and corrupt media. Asserted: nothing is lost, every process stops
cleanly. Its speed and memory are reported by ``make load``, not asserted here."""

from __future__ import annotations

from pathlib import Path

from bench.load import run_load
from tests.postgres_support import ScratchDatabases


async def test_one_minute_of_load_on_two_gateways_and_two_workers_loses_nothing(
    tmp_path: Path, scratch_databases: ScratchDatabases
) -> None:
    async with scratch_databases.shared() as dsn:
        results = await run_load(dsn, tmp_path, seconds=60)
    assert results["messages_posted"] == 1000
    assert results["lost"] == {
        "unfinished_records": 0,
        "known_or_explicit_not_deleted": 0,
        "clean_deleted": 0,
    }, results
    assert set(results["exit_codes"].values()) == {0}, results["exit_codes"]
    # Every kind of message ended as it should: nothing given up.
    assert "failed" not in results["records_by_state"], results["records_by_state"]

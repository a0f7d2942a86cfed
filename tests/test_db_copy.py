"""`consentry db copy` and `consentry status`: an instance moves from SQLite to PostgreSQL with
its ids, evidence and audit chain, and the copy works as the original did."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.blocklist import Algorithm, NewEntry
from bot.storage import CaseStatus, NewFeed, NewWork, StorageError, open_storage
from bot.storage.base_jobs import ProcessBeat
from bot.storage.copy import copy_database
from tests.postgres_support import ScratchDatabases
from tests.storage_support import GUILD, new_case, new_evidence


async def _instance(url: str) -> dict[str, object]:
    """A small instance: entries, a case with evidence and a decision, settings, a feed."""
    async with await open_storage(url) as storage:
        await storage.blocklist.add([NewEntry(Algorithm.PDQ, "ab" * 32, None, "cli", "fake")])
        case = await storage.cases.open(
            new_case(7), seal=lambda case_id: [new_evidence(1)], audit=("case.opened", {"n": 1})
        )
        await storage.cases.transition(
            case.id,
            expected=(CaseStatus.OPEN,),
            status=CaseStatus.CONFIRMED,
            actor="user:9",
            note="confirmed",
            entries=[NewEntry(Algorithm.MD5, "cd" * 16, GUILD, "case")],
            audit=("case.confirmed", {"note": "confirmed"}),
        )
        await storage.settings.set_override(GUILD, "dry_run", True)
        await storage.feeds.subscribe(NewFeed(None, "https://lists.example/a", "a"))
        await storage.audit.append(
            guild_id=GUILD, actor="cli", action="test.note", subject="x", details={"é": [1, 2.5]}
        )
        head = (await storage.audit.verify()).head
        return {"case": case.id, "head": head}


async def test_an_instance_copies_to_postgresql_with_its_ids_evidence_and_audit_chain(
    tmp_path: Path, scratch_databases: ScratchDatabases
) -> None:
    source = f"sqlite://{(tmp_path / 'old.db').as_posix()}"
    made = await _instance(source)
    async with scratch_databases.shared() as target:
        copied = await copy_database(source, target)
        assert copied["blocklist"] == 2 and copied["cases"] == 1 and copied["evidence"] == 1
        async with await open_storage(target) as storage:
            verification = await storage.audit.verify()
            assert verification.ok and verification.head == made["head"]
            case = await storage.cases.get(int(str(made["case"])))
            assert case is not None and case.status is CaseStatus.CONFIRMED
            [evidence] = await storage.evidence.for_case(case.id)
            assert evidence.ciphertext == new_evidence(1).ciphertext
            assert await storage.settings.get_overrides(GUILD) == {"dry_run": True}
            assert [f.url for f in await storage.feeds.list(None)] == ["https://lists.example/a"]
            # The copy goes on where the original stopped: new ids follow the copied ones.
            added = await storage.blocklist.add([NewEntry(Algorithm.MD5, "ef" * 16, None, "cli")])
            assert added.added[0].id == 3
            await storage.audit.append(
                guild_id=None, actor="cli", action="after.copy", subject="x", details={}
            )
            assert (await storage.audit.verify()).ok
        with pytest.raises(StorageError, match="already holds an instance"):
            await copy_database(source, target)  # never merges two instances


async def test_only_sqlite_to_postgresql_is_copied(tmp_path: Path) -> None:
    sqlite = f"sqlite://{(tmp_path / 'a.db').as_posix()}"
    with pytest.raises(StorageError, match="moves a SQLite instance to PostgreSQL"):
        await copy_database(sqlite, f"sqlite://{(tmp_path / 'b.db').as_posix()}")


def test_db_migrate_brings_the_configured_database_to_this_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text('detectors = []\n[storage]\nurl = "c.db"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["db", "migrate"]) == 0
    assert "this version's schema" in capsys.readouterr().out
    assert (tmp_path / "c.db").exists()


def test_consentry_status_reads_the_instance_from_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text('detectors = []\n[storage]\nurl = "c.db"\n')
    monkeypatch.chdir(tmp_path)
    asyncio.run(_instance(f"sqlite://{(tmp_path / 'c.db').as_posix()}"))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "sqlite database" in out and "work: 0 to scan" in out
    assert "blocklist: 2 blocking entries, 0 allow-list" in out
    assert (
        "feed #1 a <https://lists.example/a>" in out and "audit chain: 4 records, verifies" in out
    )
    assert "Processes: 0 gateway, 0 scan worker(s) beating" in out
    assert "models: dlib-face (" in out  # likeness is on by default; no detectors here


def test_consentry_status_lists_the_processes_beating_with_their_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text('detectors = []\n[storage]\nurl = "c.db"\n')
    monkeypatch.chdir(tmp_path)

    async def beating() -> None:
        async with await open_storage(f"sqlite://{(tmp_path / 'c.db').as_posix()}") as storage:
            now = datetime.now(UTC)
            later = now + timedelta(seconds=15)
            for holder, role, detail in (("gw:1:a", "gateway", "0,1"), ("wk:2:b", "worker", "")):
                await storage.jobs.beat(ProcessBeat(holder, role, detail, "0.1.0", now, now, later))
            await storage.work.seen(NewWork(1, 2, 3, ("https://cdn/x.png",)), lease_until=later)

    asyncio.run(beating())
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Processes: 1 gateway, 1 scan worker(s) beating" in out
    assert "gateway gw:1:a, shards 0,1: version 0.1.0" in out and "worker wk:2:b: version" in out
    assert "1 to scan" in out and "1 held under a lease or waiting to retry" in out

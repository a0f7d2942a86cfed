"""Storage: one suite for every backend (the ``url`` fixture), plus SQLite-specific checks."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.core.blocklist import Algorithm, NewEntry
from bot.storage import (
    ALL,
    CaseStatus,
    NewCase,
    Storage,
    StorageError,
    open_storage,
)
from bot.storage._migrations import load_migrations
from bot.storage._url import parse_url
from bot.storage.sqlite._schema import split_statements

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from bot.core.blocklist import BlocklistEntry

# Every backend the shared tests run on: a factory turning a per-test temporary folder into the
# URL of a fresh, empty database. A PostgreSQL entry would create a scratch database here (and
# skip when no server is configured).
BACKENDS: list[object] = [
    pytest.param(lambda tmp: f"sqlite://{(tmp / 'data' / 'consentry.db').as_posix()}", id="sqlite"),
]

GUILD = 1234567890123456789
OTHER_GUILD = 987654321098765432


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    factory: Callable[[Path], str] = request.param
    return factory(tmp_path)


@pytest.fixture
async def storage(url: str) -> AsyncIterator[Storage]:
    async with await open_storage(url) as opened:
        yield opened


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "consentry.db"


def md5(n: int) -> str:
    return f"{n:032x}"


def pdq(n: int) -> str:
    return f"{n:064x}"


def entry(n: int, **kwargs: object) -> NewEntry:
    return NewEntry(Algorithm.MD5, md5(n), **kwargs)  # type: ignore[arg-type]


def new_case(message_id: int = 1, guild_id: int = GUILD) -> NewCase:
    return NewCase(
        guild_id=guild_id,
        channel_id=42,
        message_id=message_id,
        author_id=7,
        sha256="ab" * 32,
        action="quarantine",
        verdict={"action": "quarantine", "reasons": [{"signal": "blocklist", "distance": 3}]},
    )


def assert_recent_utc(moment: datetime) -> None:
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


# --- settings ---------------------------------------------------------------------------------


async def test_settings_start_without_overrides(storage: Storage) -> None:
    assert await storage.settings.get_overrides(GUILD) == {}


async def test_settings_overrides_round_trip_json_values(storage: Storage) -> None:
    values = {"dry_run": True, "threshold": 0.82, "channel": 42, "name": "mods ✓", "off": None}
    values |= {"roles": [1, 2], "nested": {"a": [1.5, "x"]}}
    for key, value in values.items():
        await storage.settings.set_override(GUILD, key, value)
    assert await storage.settings.get_overrides(GUILD) == values


async def test_settings_override_replaces_previous_value(storage: Storage) -> None:
    await storage.settings.set_override(GUILD, "threshold", 0.5)
    await storage.settings.set_override(GUILD, "threshold", 0.9)
    assert await storage.settings.get_overrides(GUILD) == {"threshold": 0.9}


async def test_settings_overrides_are_per_guild(storage: Storage) -> None:
    await storage.settings.set_override(GUILD, "dry_run", True)
    assert await storage.settings.get_overrides(OTHER_GUILD) == {}


async def test_clear_override_says_whether_there_was_one(storage: Storage) -> None:
    await storage.settings.set_override(GUILD, "dry_run", True)
    assert await storage.settings.clear_override(GUILD, "dry_run") is True
    assert await storage.settings.clear_override(GUILD, "dry_run") is False
    assert await storage.settings.get_overrides(GUILD) == {}


async def test_clear_all_removes_one_guilds_overrides_only(storage: Storage) -> None:
    await storage.settings.set_override(GUILD, "a", 1)
    await storage.settings.set_override(GUILD, "b", 2)
    await storage.settings.set_override(OTHER_GUILD, "a", 3)
    assert await storage.settings.clear_all(GUILD) == 2
    assert await storage.settings.get_overrides(GUILD) == {}
    assert await storage.settings.get_overrides(OTHER_GUILD) == {"a": 3}


async def test_set_override_refuses_values_that_are_not_json(storage: Storage) -> None:
    with pytest.raises(TypeError):
        await storage.settings.set_override(GUILD, "bad", object())
    with pytest.raises(ValueError):
        await storage.settings.set_override(GUILD, "bad", float("nan"))
    assert await storage.settings.get_overrides(GUILD) == {}


# --- blocklist --------------------------------------------------------------------------------


async def test_blocklist_add_returns_stored_entries(storage: Storage) -> None:
    new = NewEntry(Algorithm.PDQ, pdq(1).upper(), source="stopncii", reason="fake", added_by="op")
    result = await storage.blocklist.add([new])
    assert result.duplicates == []
    [stored] = result.added
    assert (stored.algorithm, stored.value, stored.guild_id) == (Algorithm.PDQ, pdq(1), None)
    assert (stored.source, stored.reason, stored.added_by, stored.allow) == (
        "stopncii",
        "fake",
        "op",
        False,
    )
    assert_recent_utc(stored.added_at)
    assert await storage.blocklist.get(stored.id) == stored


async def test_blocklist_add_reports_duplicates_stored_or_repeated(storage: Storage) -> None:
    await storage.blocklist.add([entry(1)])
    result = await storage.blocklist.add([entry(1), entry(2), entry(2, reason="again")])
    assert [e.value for e in result.added] == [md5(2)]
    assert result.duplicates == [entry(1), entry(2, reason="again")]
    assert len(await storage.blocklist.list()) == 2


async def test_same_hash_in_another_scope_or_as_allow_entry_is_not_a_duplicate(
    storage: Storage,
) -> None:
    variants = [entry(1), entry(1, guild_id=GUILD), entry(1, allow=True)]
    variants += [entry(1, guild_id=GUILD, allow=True), NewEntry(Algorithm.PHASH, "0" * 15 + "1")]
    result = await storage.blocklist.add(variants)
    assert len(result.added) == 5 and result.duplicates == []
    assert (await storage.blocklist.add(variants)).duplicates == variants


async def test_blocklist_add_nothing_changes_nothing(storage: Storage) -> None:
    result = await storage.blocklist.add([])
    assert (result.added, result.duplicates) == ([], [])
    assert await storage.blocklist.revision() == 0


async def test_blocklist_remove_returns_the_entry_once(storage: Storage) -> None:
    [stored] = (await storage.blocklist.add([entry(1)])).added
    assert await storage.blocklist.remove(stored.id) == stored
    assert await storage.blocklist.get(stored.id) is None
    assert await storage.blocklist.remove(stored.id) is None


async def test_blocklist_list_paginates_by_id(storage: Storage) -> None:
    added = (await storage.blocklist.add([entry(n) for n in range(7)])).added
    pages, after = [], 0
    while page := await storage.blocklist.list(limit=3, after_id=after):
        pages.append(page)
        after = page[-1].id
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e for p in pages for e in p] == added


async def test_blocklist_list_filters_by_scope(storage: Storage) -> None:
    await storage.blocklist.add(
        [entry(1), entry(2, guild_id=GUILD), entry(3, guild_id=OTHER_GUILD)]
    )
    assert [e.value for e in await storage.blocklist.list(guild_id=None)] == [md5(1)]
    assert [e.value for e in await storage.blocklist.list(guild_id=GUILD)] == [md5(2)]
    assert len(await storage.blocklist.list(guild_id=ALL)) == 3


async def test_allow_entries_are_kept_apart_from_blocking_ones(storage: Storage) -> None:
    await storage.blocklist.add([entry(1), entry(2, allow=True, reason="false positive")])
    listed = {e.value: e.allow for e in await storage.blocklist.list()}
    assert listed == {md5(1): False, md5(2): True}


@pytest.mark.parametrize("count", [0, 6, 7])
async def test_iter_all_yields_every_entry_in_id_order(storage: Storage, count: int) -> None:
    added = (await storage.blocklist.add([entry(n) for n in range(count)])).added
    assert [e async for e in storage.blocklist.iter_all(batch_size=3)] == added


async def test_storage_is_usable_between_items_of_iter_all(storage: Storage) -> None:
    await storage.blocklist.add([entry(n) for n in range(5)])
    seen = []
    async for item in storage.blocklist.iter_all(batch_size=2):
        seen.append(item.id)
        assert await storage.blocklist.get(item.id) == item  # would deadlock if a lock were held
    assert len(seen) == 5


async def test_count_reports_every_algorithm_and_allow_entries(storage: Storage) -> None:
    assert await storage.blocklist.count() == {
        "pdq": 0,
        "phash": 0,
        "sha256": 0,
        "md5": 0,
        "allow": 0,
    }
    await storage.blocklist.add(
        [entry(1), entry(2, guild_id=GUILD), entry(3, allow=True), NewEntry(Algorithm.PDQ, pdq(1))]
    )
    counts = await storage.blocklist.count()
    assert counts == {"pdq": 1, "phash": 0, "sha256": 0, "md5": 2, "allow": 1}


async def test_revision_moves_with_every_change_but_not_with_pure_duplicates(
    storage: Storage,
) -> None:
    assert await storage.blocklist.revision() == 0
    [stored] = (await storage.blocklist.add([entry(1)])).added
    assert await storage.blocklist.revision() == 1
    await storage.blocklist.add([entry(1)])
    assert await storage.blocklist.revision() == 1
    await storage.blocklist.remove(stored.id)
    assert await storage.blocklist.revision() == 2
    await storage.blocklist.remove(stored.id)
    assert await storage.blocklist.revision() == 2


async def test_revision_change_is_seen_by_another_storage(storage: Storage, url: str) -> None:
    async with await open_storage(url) as cli:
        before = await storage.blocklist.revision()
        await cli.blocklist.add([entry(1)])
        assert await storage.blocklist.revision() == before + 1


async def test_blocklist_refuses_bad_pages(storage: Storage) -> None:
    with pytest.raises(ValueError):
        await storage.blocklist.list(limit=0)
    with pytest.raises(ValueError):
        [e async for e in storage.blocklist.iter_all(batch_size=0)]


# --- cases ------------------------------------------------------------------------------------


async def test_open_case_starts_open_with_an_opened_event(storage: Storage) -> None:
    case = await storage.cases.open(new_case())
    assert case.status is CaseStatus.OPEN
    assert (case.guild_id, case.channel_id, case.message_id, case.author_id) == (GUILD, 42, 1, 7)
    assert case.verdict == new_case().verdict and case.action == "quarantine"
    assert case.created_at == case.updated_at
    assert_recent_utc(case.created_at)
    assert await storage.cases.get(case.id) == case
    [opened] = await storage.cases.events(case.id)
    assert (opened.status, opened.previous, opened.actor) == (CaseStatus.OPEN, None, "consentry")


async def test_case_opened_by_a_reporter_names_them(storage: Storage) -> None:
    case = await storage.cases.open(new_case(), actor="user:55")
    assert [e.actor for e in await storage.cases.events(case.id)] == ["user:55"]


async def test_set_status_updates_the_case_and_its_timeline(storage: Storage) -> None:
    case = await storage.cases.open(new_case())
    confirmed = await storage.cases.set_status(
        case.id, CaseStatus.CONFIRMED, actor="mod:9", note="clear match"
    )
    assert confirmed is not None and confirmed.status is CaseStatus.CONFIRMED
    assert confirmed.updated_at >= case.updated_at and confirmed.created_at == case.created_at
    await storage.cases.set_status(case.id, CaseStatus.RESTORED, actor="mod:10")
    events = await storage.cases.events(case.id)
    assert [(e.previous, e.status, e.actor, e.note) for e in events] == [
        (None, CaseStatus.OPEN, "consentry", ""),
        (CaseStatus.OPEN, CaseStatus.CONFIRMED, "mod:9", "clear match"),
        (CaseStatus.CONFIRMED, CaseStatus.RESTORED, "mod:10", ""),
    ]
    assert all(e.case_id == case.id for e in events)
    assert_recent_utc(events[-1].at)


async def test_unknown_case_is_none_everywhere(storage: Storage) -> None:
    assert await storage.cases.get(999) is None
    assert await storage.cases.set_status(999, CaseStatus.DISMISSED, actor="mod") is None
    assert await storage.cases.events(999) == []


async def test_case_list_is_newest_first_filtered_and_paged(storage: Storage) -> None:
    ids = [(await storage.cases.open(new_case(n))).id for n in range(5)]
    await storage.cases.open(new_case(99, guild_id=OTHER_GUILD))
    await storage.cases.set_status(ids[1], CaseStatus.DISMISSED, actor="mod")
    assert [c.id for c in await storage.cases.list(GUILD)] == ids[::-1]
    assert [c.id for c in await storage.cases.list(GUILD, limit=2, offset=1)] == [ids[3], ids[2]]
    dismissed = await storage.cases.list(GUILD, status=CaseStatus.DISMISSED)
    assert [c.id for c in dismissed] == [ids[1]]
    assert len(await storage.cases.list(GUILD, status=CaseStatus.OPEN)) == 4


# --- audit log --------------------------------------------------------------------------------


async def append(storage: Storage, n: int, guild_id: int | None = GUILD) -> None:
    await storage.audit.append(
        guild_id=guild_id, actor=f"mod:{n}", action="case.confirm", subject=f"case:{n}", details={}
    )


async def test_audit_append_chains_each_record_to_the_previous(storage: Storage) -> None:
    first = await storage.audit.append(
        guild_id=None, actor="cli", action="blocklist.add", subject="md5", details={"n": (1, 2)}
    )
    second = await storage.audit.append(
        guild_id=GUILD, actor="mod:1", action="case.confirm", subject="case:1", details={"é": 1.5}
    )
    assert first.prev_hash == "0" * 64 and second.prev_hash == first.hash
    assert first.details == {"n": [1, 2]}  # as it reads back: JSON has no tuples
    assert_recent_utc(second.at)
    assert await storage.audit.list() == [first, second]


async def test_audit_list_filters_by_scope_and_paginates(storage: Storage) -> None:
    for n in range(4):
        await append(storage, n)
    await append(storage, 9, guild_id=None)
    await append(storage, 8, guild_id=OTHER_GUILD)
    assert [r.subject for r in await storage.audit.list(guild_id=None)] == ["case:9"]
    page = await storage.audit.list(guild_id=GUILD, limit=3)
    assert [r.subject for r in page] == ["case:0", "case:1", "case:2"]
    rest = await storage.audit.list(guild_id=GUILD, after_id=page[-1].id)
    assert [r.subject for r in rest] == ["case:3"]
    assert len(await storage.audit.list(guild_id=ALL)) == 6


async def test_audit_verify_accepts_an_empty_or_intact_chain(storage: Storage) -> None:
    empty = await storage.audit.verify()
    assert (empty.ok, empty.checked, empty.first_bad_id) == (True, 0, None)
    for n in range(5):
        await append(storage, n)
    result = await storage.audit.verify()
    assert (result.ok, result.checked, result.first_bad_id) == (True, 5, None)
    assert result.head == (await storage.audit.list())[-1].hash


async def test_two_storages_appending_at_once_keep_one_chain(storage: Storage, url: str) -> None:
    async with await open_storage(url) as other:
        await asyncio.gather(*(append(s, n) for n in range(40) for s in (storage, other)))
    records = await storage.audit.list(limit=1000)
    assert [r.id for r in records] == list(range(1, 81))
    assert (await storage.audit.verify()).ok


async def test_two_processes_appending_at_once_keep_one_chain(storage: Storage, url: str) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        from bot.storage import open_storage

        async def main():
            async with await open_storage(sys.argv[1]) as storage:
                for n in range(30):
                    await storage.audit.append(
                        guild_id=None, actor="cli", action="x", subject=str(n), details={}
                    )

        asyncio.run(main())
        """
    )
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, url)
    await asyncio.gather(child.wait(), *(append(storage, n) for n in range(30)))
    assert child.returncode == 0
    result = await storage.audit.verify()
    assert (result.ok, result.checked) == (True, 60)


async def test_two_storages_opening_a_new_database_at_once_both_work(url: str) -> None:
    first, second = await asyncio.gather(open_storage(url), open_storage(url))
    async with first, second:
        await first.settings.set_override(GUILD, "a", 1)
        assert await second.settings.get_overrides(GUILD) == {"a": 1}


# --- persistence ------------------------------------------------------------------------------


async def test_everything_survives_closing_and_reopening(url: str) -> None:
    async with await open_storage(url) as storage:
        await storage.settings.set_override(GUILD, "dry_run", True)
        added = (await storage.blocklist.add([entry(1), entry(2, allow=True)])).added
        case = await storage.cases.open(new_case())
        case = await storage.cases.set_status(case.id, CaseStatus.CONFIRMED, actor="mod") or case
        await append(storage, 1)
        records = await storage.audit.list()
    async with await open_storage(url) as storage:
        assert await storage.settings.get_overrides(GUILD) == {"dry_run": True}
        assert await storage.blocklist.list() == added
        assert await storage.blocklist.revision() == 1
        assert await storage.cases.get(case.id) == case
        assert len(await storage.cases.events(case.id)) == 2
        assert await storage.audit.list() == records
        assert (await storage.audit.verify()).ok


# --- SQLite specifics ---------------------------------------------------------------------------


@pytest.fixture
def empty_file(db_path: Path) -> Path:
    db_path.touch()  # an existing, empty file is a valid (empty) SQLite database
    return db_path


@pytest.fixture
def garbage_file(db_path: Path) -> Path:
    db_path.write_bytes(os.urandom(4096))
    return db_path


@pytest.fixture
def unreadable_file(db_path: Path) -> Path:
    db_path.write_bytes(b"")
    db_path.chmod(0)
    return db_path


async def test_sqlite_migrates_an_empty_file_and_reopening_is_a_no_op(empty_file: Path) -> None:
    db_path = empty_file
    async with await open_storage(str(db_path)):
        pass
    with sqlite3.connect(db_path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        first = raw.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
    assert {
        "guild_settings",
        "blocklist",
        "counters",
        "cases",
        "case_events",
        "audit_log",
    } <= tables
    assert [(v, n) for v, n, _ in first] == [(m.version, m.name) for m in load_migrations("sqlite")]
    async with await open_storage(str(db_path)):
        pass
    with sqlite3.connect(db_path) as raw:
        assert (
            raw.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
            == first
        )


async def test_sqlite_refuses_a_newer_schema(db_path: Path) -> None:
    async with await open_storage(str(db_path)):
        pass
    with sqlite3.connect(db_path) as raw:
        raw.execute("INSERT INTO schema_migrations VALUES (999, 'future', '2099-01-01')")
    latest = load_migrations("sqlite")[-1].version
    message = (
        f"database schema version 999 is newer than this Consentry ({latest}); upgrade Consentry"
    )
    with pytest.raises(StorageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await open_storage(str(db_path))


async def test_sqlite_refuses_a_file_that_is_not_a_database(garbage_file: Path) -> None:
    with pytest.raises(StorageError, match="not a database") as caught:
        await open_storage(str(garbage_file))
    assert str(garbage_file) in str(caught.value)


async def test_sqlite_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="directory") as caught:
        await open_storage(str(tmp_path))
    assert str(tmp_path) in str(caught.value)


async def test_sqlite_reports_an_uncreatable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot create the folder"):
        await open_storage(str(blocker / "sub" / "consentry.db"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
async def test_sqlite_reports_permission_denied(unreadable_file: Path) -> None:
    with pytest.raises(StorageError, match="unable to open") as caught:
        await open_storage(str(unreadable_file))
    assert str(unreadable_file) in str(caught.value)


async def test_sqlite_reports_permission_denied_on_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs even as root (where chmod cannot deny anything): the OS error must become StorageError.
    def deny(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", deny)
    with pytest.raises(StorageError, match="Permission denied"):
        await open_storage(str(tmp_path / "new" / "consentry.db"))


async def test_sqlite_connection_settings(db_path: Path) -> None:
    async with await open_storage(f"sqlite://{db_path.as_posix()}") as storage:
        db = storage._db  # type: ignore[attr-defined]
        settings = {
            name: (await db.fetchone(f"PRAGMA {name}"))[0]
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert settings == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "synchronous": 1,
    }


async def test_sqlite_iter_all_fetches_one_batch_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with await open_storage(":memory:") as storage:
        await storage.blocklist.add([entry(n) for n in range(7)])
        real_list, fetched = storage.blocklist.list, []

        async def spy(**kwargs: Any) -> list[BlocklistEntry]:
            page = await real_list(**kwargs)
            fetched.append(len(page))
            return page

        monkeypatch.setattr(storage.blocklist, "list", spy)
        assert len([e async for e in storage.blocklist.iter_all(batch_size=3)]) == 7
    assert fetched == [3, 3, 1]


async def test_sqlite_add_is_all_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    async with await open_storage(":memory:") as storage:
        monkeypatch.setattr("bot.storage.sqlite.blocklist._bump_revision", fail)
        with pytest.raises(StorageError, match="disk I/O error"):
            await storage.blocklist.add([entry(1), entry(2)])
        monkeypatch.undo()
        assert await storage.blocklist.list() == []
        assert len((await storage.blocklist.add([entry(1)])).added) == 1  # still usable


async def test_sqlite_memory_database_works() -> None:
    async with await open_storage(":memory:") as storage:
        await storage.blocklist.add([entry(1)])
        assert (await storage.blocklist.count())["md5"] == 1


async def test_sqlite_relative_url_creates_folders_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await open_storage("sqlite:data/nested/consentry.db"):
        pass
    assert (tmp_path / "data" / "nested" / "consentry.db").is_file()


def tamper(db_path: Path, sql: str, *params: object) -> None:
    """What an attacker with file access does: drop the append-only guards, then edit."""
    with sqlite3.connect(db_path) as raw:
        raw.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        raw.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        raw.execute(sql, params)


@pytest.mark.parametrize(
    ("sql", "bad_id"),
    [
        ("UPDATE audit_log SET details = '{\"n\":2}' WHERE id = 3", 3),
        ("UPDATE audit_log SET actor = 'someone else' WHERE id = 2", 2),
        ("UPDATE audit_log SET details = 'not json' WHERE id = 4", 4),
        ("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000+00:00' WHERE id = 1", 1),
        ("DELETE FROM audit_log WHERE id = 3", 4),  # the next record's prev_hash no longer fits
    ],
)
async def test_sqlite_audit_verify_finds_a_tampered_row(
    db_path: Path, sql: str, bad_id: int
) -> None:
    async with await open_storage(str(db_path)) as storage:
        for n in range(5):
            await append(storage, n)
        tamper(db_path, sql)
        result = await storage.audit.verify()
    assert (result.ok, result.first_bad_id) == (False, bad_id)
    assert result.checked == bad_id - (0 if "DELETE" not in sql else 1)


async def test_sqlite_audit_log_refuses_plain_updates_and_deletes(db_path: Path) -> None:
    async with await open_storage(str(db_path)) as storage:
        await append(storage, 1)
    with (
        sqlite3.connect(db_path) as raw,
        pytest.raises(sqlite3.IntegrityError, match="append-only"),
    ):
        raw.execute("UPDATE audit_log SET actor = 'x'")
    with (
        sqlite3.connect(db_path) as raw,
        pytest.raises(sqlite3.IntegrityError, match="append-only"),
    ):
        raw.execute("DELETE FROM audit_log")


def test_sql_scripts_split_on_statement_ends_only() -> None:
    script = """
        -- a comment; with a semicolon
        CREATE TABLE t (x TEXT DEFAULT 'a;b');
        CREATE TRIGGER g BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no'); END;
        INSERT INTO t VALUES ('c'); INSERT INTO t VALUES ('d');
        -- trailing comment
    """
    statements = list(split_statements(script))
    assert len(statements) == 4
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END")


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("sqlite:///var/lib/consentry/db.sqlite", "/var/lib/consentry/db.sqlite"),
        ("sqlite:////var/lib/consentry/db.sqlite", "/var/lib/consentry/db.sqlite"),
        ("sqlite:data/consentry.db", "data/consentry.db"),
        ("data/consentry.db", "data/consentry.db"),
        ("/abs/consentry.db", "/abs/consentry.db"),
        (":memory:", ":memory:"),
        ("sqlite::memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("~/consentry.db", str(Path("~/consentry.db").expanduser())),
    ],
)
def test_storage_urls_name_a_sqlite_location(url: str, location: str) -> None:
    assert parse_url(url).location == location


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@h/db", "postgresql is not supported yet"),
        ("postgres://u@h/db", "postgresql is not supported yet"),
        ("postgresql+asyncpg://u@h/db", "postgresql is not supported yet"),
        ("mysql://u@h/db", "unsupported storage URL scheme 'mysql'"),
        ("sqlite://host/db", "sqlite:///absolute/path.db"),
        ("", "no storage URL"),
    ],
)
async def test_unsupported_urls_raise_storage_error(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message.replace("+", r"\+")):
        await open_storage(url)

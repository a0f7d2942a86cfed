"""Opening storage: URLs, migrations, errors, connection settings, persistence across reopening."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.storage import CaseStatus, StorageError, open_storage
from bot.storage._migrations import load_migrations
from bot.storage._url import parse_url
from bot.storage.sqlite._schema import split_statements
from tests.storage_support import GUILD, append, entry, new_case, new_evidence


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
        case = await storage.cases.set_legal_hold(case.id, True, actor="mod") or case
        evidence = await storage.evidence.put(case.id, [new_evidence()])
        await storage.cursors.advance(GUILD, 42, 1000)
        await append(storage, 1)
        records = await storage.audit.list()
    async with await open_storage(url) as storage:
        assert await storage.settings.get_overrides(GUILD) == {"dry_run": True}
        assert await storage.blocklist.list() == added
        assert await storage.blocklist.revision() == 1
        assert await storage.cases.get(case.id) == case
        assert len(await storage.cases.events(case.id)) == 3
        assert await storage.evidence.for_case(case.id) == evidence
        assert await storage.cursors.get(GUILD) == {42: 1000}
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
        "evidence",
        "channel_cursors",
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


async def test_sqlite_upgrades_a_schema_1_database_keeping_its_cases(db_path: Path) -> None:
    [first, *_] = load_migrations("sqlite")
    stamp = "2024-01-01T00:00:00.000000+00:00"
    with sqlite3.connect(db_path) as raw:
        raw.execute(
            "CREATE TABLE schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for statement in split_statements(first.sql):
            raw.execute(statement)
        raw.execute("INSERT INTO schema_migrations VALUES (1, ?, '2024-01-01')", (first.name,))
        raw.execute(
            "INSERT INTO cases (guild_id, channel_id, message_id, author_id, sha256, action,"
            " verdict, status, created_at, updated_at) VALUES (?, 42, 1, 7, ?, 'flag', '{}',"
            " 'open', ?, ?)",
            (GUILD, "ab" * 32, stamp, stamp),
        )
    async with await open_storage(str(db_path)) as storage:
        [case] = await storage.cases.list(GUILD)
        assert (case.sha256, case.action, case.status) == ("ab" * 32, "flag", CaseStatus.OPEN)
        assert case.media == [] and case.legal_hold is False
        assert (case.alert_channel_id, case.alert_message_id) == (None, None)
        assert await storage.evidence.put(case.id, [new_evidence()])
        assert await storage.evidence.due_for_purge(datetime.max.replace(tzinfo=UTC)) != []
    with sqlite3.connect(db_path) as raw:
        versions = [v for (v,) in raw.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in load_migrations("sqlite")]


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
        ("postgresql+psycopg://u@h/db", "unsupported PostgreSQL driver 'psycopg'"),
        ("mysql://u@h/db", "unsupported storage URL scheme 'mysql'"),
        ("sqlite://host/db", "sqlite:///absolute/path.db"),
        ("", "no storage URL"),
    ],
)
async def test_unsupported_urls_raise_storage_error(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message.replace("+", r"\+")):
        await open_storage(url)


async def test_a_new_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "new.db"
    async with await open_storage(f"sqlite:///{path}") as storage:
        await storage.settings.set_override(1, "k", 1)  # writes the WAL too
        for file in (path, path.with_name("new.db-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file

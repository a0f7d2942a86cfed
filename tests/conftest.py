"""Shared fixtures. The storage ones run every storage test on each backend in ``BACKENDS``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.storage import Storage, open_storage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

# The support modules hold assertions: have pytest rewrite them, so failures there explain
# themselves as they do in the tests (this must run before the test modules import them).
pytest.register_assert_rewrite("tests.storage_support", "tests.media_support")

from tests.postgres_support import ScratchDatabases  # noqa: E402 (after the rewrite hook)

# Every backend the shared storage tests run on. PostgreSQL uses a scratch database, emptied
# before each test, on the server CONSENTRY_TEST_POSTGRES names (a DSN; unset: the local server
# when one answers; "off": none); its tests skip, saying why, when there is none.
BACKENDS: list[object] = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql"),
]


@pytest.fixture(scope="session")
def scratch_databases() -> Iterator[ScratchDatabases]:
    """The PostgreSQL server the tests use, and the databases made on it this session."""
    databases = ScratchDatabases.from_environment()
    yield databases
    databases.drop_all()


@pytest.fixture(params=BACKENDS)
async def url(
    request: pytest.FixtureRequest, tmp_path: Path, scratch_databases: ScratchDatabases
) -> AsyncIterator[str]:
    """The URL of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite://{(tmp_path / 'data' / 'consentry.db').as_posix()}"
        return
    async with scratch_databases.shared() as dsn:
        yield dsn


@pytest.fixture
async def storage(url: str) -> AsyncIterator[Storage]:
    async with await open_storage(url) as opened:
        yield opened


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "consentry.db"

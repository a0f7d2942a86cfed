"""Shared fixtures. The storage ones run every storage test on each backend in ``BACKENDS``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.storage import Storage, open_storage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

# The support modules hold assertions: have pytest rewrite them, so failures there explain
# themselves as they do in the tests (this must run before the test modules import them).
pytest.register_assert_rewrite("tests.storage_support", "tests.media_support")

# Every backend the shared tests run on: a factory turning a per-test temporary folder into the
# URL of a fresh, empty database. A PostgreSQL entry would create a scratch database here (and
# skip when no server is configured).
BACKENDS: list[object] = [
    pytest.param(lambda tmp: f"sqlite://{(tmp / 'data' / 'consentry.db').as_posix()}", id="sqlite"),
]


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

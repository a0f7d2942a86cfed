"""Structured logs: JSON lines with case ids, never the token."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure


@pytest.fixture(autouse=True)
def root_logger() -> Iterator[None]:
    """The root logger as it was: configure() replaces its handlers."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]


def test_logs_are_json_lines_with_case_ids_and_the_token_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "MTIzNDU2Nzg5.abcdef.secret-token-value"
    configure(verbose=False, json_lines=True, secrets=(token,))
    log = logging.getLogger("bot.test")
    log.info("case stored", extra={"case_id": 7, "guild_id": 42})
    log.warning("login with %s failed", token)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("detector failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "case stored" and lines[0]["case_id"] == 7
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "bot.test"
    assert lines[1]["message"] == "login with [redacted] failed"
    assert "ValueError: boom" in lines[2]["error"]
    assert all(token not in json.dumps(line) for line in lines)

"""The command line contract of `consentry feed`: keys, publishing and subscriptions."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bot.core.signed_feed import load_public_key, verify
from tests.config_support import NO_MODELS
from tests.test_cli import _run


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = (
        NO_MODELS
        + '[storage]\nurl = "consentry.db"\n[feeds]\nallowed_hosts = ["feeds.example.org"]\n'
    )
    (tmp_path / "config.toml").write_text(config)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONSENTRY_CONFIG", raising=False)
    return tmp_path


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "feed", "keygen", "feed.key")
    assert code == 0 and "keep it secret" in out
    assert stat.S_IMODE((workspace / "feed.key").stat().st_mode) == 0o600
    public = out.split("public key (give it to subscribers): ")[1].strip()
    load_public_key(public)
    code, _, err = _run(capsys, "feed", "keygen", "feed.key")
    assert code == 2 and "exists: not overwritten" in err


def test_publish_writes_a_feed_that_verifies_with_the_printed_key(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _run(capsys, "feed", "keygen", "feed.key")
    public = out.split("subscribers): ")[1].strip()
    (workspace / "list.txt").write_text(f"pdq {'ab' * 32}\n")
    assert _run(capsys, "blocklist", "import", "--source", "cli", "list.txt")[0] == 0
    code, out, _ = _run(capsys, "feed", "publish", "--key", "feed.key", "-o", "feed.json")
    assert code == 0 and "published 1 hashes and 0 removals to feed.json" in out
    payload = json.loads(verify((workspace / "feed.json").read_text(), load_public_key(public)))
    assert [e["hash"] for e in payload["entries"]] == ["ab" * 32]
    assert not (workspace / "feed.json.tmp").exists()
    code, _, err = _run(capsys, "feed", "publish", "--key", "list.txt", "-o", "x.json")
    assert code == 2 and "not a PEM private key" in err


def test_subscriptions_are_listed_refused_off_the_allowed_hosts_and_ended(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "feed", "subscribe", "https://elsewhere.org/list.json")
    assert code == 2 and "elsewhere.org is not in [feeds] allowed_hosts" in err
    code, _, err = _run(capsys, "feed", "subscribe", "--key", "nope", "https://feeds.example.org/a")
    assert code == 2 and "not an Ed25519 public key" in err
    url = "https://feeds.example.org/a.json"
    code, out, _ = _run(capsys, "feed", "subscribe", "--guild", "42", "--every", "30", url)
    assert (
        code == 0 and "#1 feeds.example.org" in out and "server 42, unsigned, every 30 min" in out
    )
    assert _run(capsys, "feed", "subscribe", "--guild", "42", url)[0] == 2  # already
    code, out, _ = _run(capsys, "feed", "list")
    assert code == 0 and "never refreshed yet" in out
    code, out, _ = _run(capsys, "feed", "unsubscribe", "1")
    assert code == 0 and "its 0 entries are removed" in out
    assert _run(capsys, "feed", "list")[1].strip() == "no subscriptions"
    assert _run(capsys, "feed", "unsubscribe", "1")[0] == 1

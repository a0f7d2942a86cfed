"""A victim's own hashes: `consentry hash` on their machine, the file it writes, and the
registrations behind `/protect media` (shared entries, withdrawal)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bot.core import own_hashes
from bot.core.blocklist import Algorithm
from bot.storage import Storage
from tests.config_support import NO_MODELS
from tests.imagery import encode, photo
from tests.test_cli import _run


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A member's folder, with a config that loads no model (hashing needs none)."""
    (tmp_path / "config.toml").write_text(NO_MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONSENTRY_CONFIG", raising=False)
    return tmp_path


def test_consentry_hash_writes_only_hashes_readable_by_its_owner(
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (workspace / "mine").mkdir()
    (workspace / "mine" / "holiday-photo.jpg").write_bytes(encode(photo("astronaut")))
    (workspace / "mine" / "notes.txt").write_text("not media")
    code, out, err = _run(capsys, "hash", "mine")
    assert code == 1 and "notes.txt: not hashed" in err  # the others are still written
    assert "hashed 1 files (1 pictures, 0 videos)" in out and "never left this machine" in out
    written = workspace / "consentry-hashes.json"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    text = written.read_text()
    assert "holiday" not in text and "mine" not in text
    [item] = own_hashes.loads(text)
    assert item.kind == "image" and len(item.pdq) == 1
    assert _run(capsys, "hash", "mine/notes.txt")[0] == 2  # nothing could be hashed


def test_a_hashes_file_is_checked_item_by_item() -> None:
    good = {"kind": "image", "md5": "a" * 32, "sha256": "b" * 64, "pdq": ["c" * 64]}
    document = {"format": "consentry-own-hashes", "version": 1, "items": [good]}
    assert own_hashes.loads(json.dumps(document))[0].hashes[2] == (Algorithm.PDQ, "c" * 64)
    for items, why in (
        ([], "holds no items"),
        ([5], "item 1: must be an object"),
        ([{**good, "md5": "xyz"}], "item 1: md5 hash must be 32 hex digits"),
        ([{**good, "pdq": "c" * 64}], "item 1: pdq must be a list"),
        ([good] * (own_hashes.MAX_ITEMS + 1), f"at most {own_hashes.MAX_ITEMS} a file"),
    ):
        with pytest.raises(own_hashes.OwnHashesError, match=why):
            own_hashes.loads(json.dumps({**document, "items": items}))
    with pytest.raises(own_hashes.OwnHashesError, match="made by `consentry hash`"):
        own_hashes.loads('{"format": "consentry-blocklist"}')


async def test_two_members_share_an_entry_until_the_last_one_withdraws(storage: Storage) -> None:
    hashes = [(Algorithm.MD5, "a" * 32), (Algorithm.PDQ, "c" * 64)]
    assert await storage.own_media.register(7, 1, hashes) == (2, 0)
    assert await storage.own_media.register(7, 2, hashes[1:]) == (1, 0)
    assert await storage.own_media.register(7, 1, hashes) == (0, 2)
    assert await storage.own_media.counts(7) == (2, 2)
    entries = await storage.blocklist.list()
    assert len(entries) == 2 and {e.source for e in entries} == {"member"}
    assert await storage.own_media.withdraw(7, 1, actor="user:1") == 2
    [left] = await storage.blocklist.list()
    assert left.value == "c" * 64  # still member 2's
    assert [e.value for e in await storage.own_media.listing(7, 2)] == ["c" * 64]
    assert await storage.own_media.withdraw(7, 2, actor="user:2") == 1
    assert await storage.blocklist.list() == []
    assert await storage.own_media.withdraw(7, 2, actor="user:2") == 0

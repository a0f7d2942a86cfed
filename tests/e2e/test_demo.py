"""`consentry demo` runs the real bot against the sandbox and narrates what happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.demo import run_demo
from tests.imagery import encode, photo


async def test_the_demo_shows_each_verdict_action_and_alert() -> None:
    lines: list[str] = []
    assert await run_demo(write=lines.append) == 0
    text = "\n".join(lines)
    assert "Setup complete: alerts go to #mod-alerts" in text
    assert "attachment sunset.jpg: ALLOW" in text
    assert "attachment repost.jpg: QUARANTINE" in text
    assert "matches blocklist entry 2 (pdq, distance" in text
    assert text.count("→ Message deleted.") == 2  # the copy in #art and the mirrored one
    # The mirrored copy is the same known picture: it joins the first case and its alert.
    assert text.count("alert in #mod-alerts: Quarantined: known abusive media") == 1
    assert "(a copy of the media in case 1: counted on its alert)" in text
    assert "attachment photo.jpg: UNSCANNABLE" in text
    assert "alert in #mod-alerts: Could not scan media" in text
    assert lines[-1].startswith("\nDone.")


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

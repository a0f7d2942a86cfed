"""Starting `consentry run` as a real process against the sandbox."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import IO

from bot.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]


def bot_env(sandbox: Sandbox) -> dict[str, str]:
    """The environment of a bot process pointed at ``sandbox`` (its token, this checkout)."""
    return {**os.environ, "DISCORD_TOKEN": sandbox.token, "PYTHONPATH": str(REPO)}


async def start_bot(
    config: Path, env: dict[str, str], *, stdout: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """`consentry run --config CONFIG`, with stderr piped for the test to read."""
    return await start_command("run", config, env, stdout=stdout)


async def start_command(
    command: str,
    config: Path,
    env: dict[str, str],
    *,
    stdout: int = asyncio.subprocess.DEVNULL,
    stderr: int | IO[bytes] = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:
    """`consentry COMMAND --config CONFIG` as a process of its own."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        command,
        "--config",
        str(config),
        env=env,
        stdout=stdout,
        stderr=stderr,
    )

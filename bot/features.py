"""The ``[bot]`` section: which features (cogs) a process loads, and an operator's own.

Every public module of ``cogs/`` is one feature, named after its file (``sweep``, ``report``,
``feeds``...). ``cogs = ["all"]`` (the default) loads every one; a list loads those named, plus
the ones the bot cannot work without (:data:`REQUIRED`). ``extensions`` names an operator's own
modules (importable, each with an ``async def setup(bot)``, as a cog): they may subscribe to typed
case events (``bot.cases.events``, :mod:`bot.case_events`) and must not change Discord or cases
themselves. ``webhook_url`` turns on the shipped forwarder of those events (``cogs/webhook``).
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from functools import cache

import cogs

REQUIRED = ("watch", "review", "setup")
"""Loaded whatever the list says: watching messages, the alert buttons, ``/consentry``."""


class ExtensionError(Exception):
    """An operator's extension could not be loaded; the message says which and why."""


@cache
def shipped() -> tuple[str, ...]:
    """Every feature this version ships (the public modules of ``cogs/``)."""
    names = (m.name for m in pkgutil.iter_modules(cogs.__path__))
    return tuple(sorted(n for n in names if not n.startswith("_")))


@dataclass(frozen=True, slots=True)
class BotConfig:
    """What this process loads."""

    cogs: tuple[str, ...] = ("all",)
    extensions: tuple[str, ...] = ()
    webhook_url: str = ""
    """Where case events are forwarded as JSON (an https:// URL on ``[feeds] allowed_hosts``;
    empty: not forwarded)."""

    def __post_init__(self) -> None:
        unknown = [c for c in self.cogs if c != "all" and c not in shipped()]
        if unknown:
            raise ValueError(
                f"cogs: unknown {', '.join(unknown)} (known: all, {', '.join(shipped())})"
            )
        if self.webhook_url and not self.webhook_url.startswith("https://"):
            raise ValueError("webhook_url must be an https:// URL")

    def loaded(self) -> tuple[str, ...]:
        """The features to load, in a stable order."""
        if "all" in self.cogs:
            return shipped()
        return tuple(c for c in shipped() if c in self.cogs or c in REQUIRED)

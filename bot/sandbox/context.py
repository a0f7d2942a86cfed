"""The shared context every part of the sandbox works with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.sandbox.config import Config, Urls
from bot.sandbox.gateway import Gateway
from bot.sandbox.media import Signer
from bot.sandbox.recorder import FailurePlan, RequestLog
from bot.sandbox.state import World


@dataclass
class Context:
    """World, gateway, URLs and bookkeeping, passed to route handlers and services."""

    world: World
    gateway: Gateway
    urls: Urls
    config: Config
    signer: Signer
    log: RequestLog
    failures: FailurePlan
    cdn_gate: asyncio.Event | None = None
    """While set to an unset event, the CDN holds every download until it is set (a stalled
    CDN); None: downloads are answered at once."""

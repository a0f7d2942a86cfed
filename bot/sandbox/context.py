"""The shared context every part of the sandbox works with."""

from __future__ import annotations

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
    cdn_delay_seconds: float = 0.0
    """How long the CDN waits before it answers (a slow or congested CDN)."""

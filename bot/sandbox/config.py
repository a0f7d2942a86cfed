"""Where the sandbox listens and how it behaves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Urls:
    """Where the sandbox listens; filled in once its ports are bound."""

    api_base: str = ""
    gateway_url: str = ""
    resume_gateway_url: str = ""
    cdn_base: str = ""
    media_base: str = ""


@dataclass
class Config:
    """Behaviour knobs (defaults are Discord's values)."""

    heartbeat_interval_ms: int = 41250
    interaction_deadline: float = 3.0  # seconds to send the initial interaction response
    interaction_token_ttl: float = 15 * 60.0  # follow-ups and @original edits after that fail
    upload_limit: int = 10 * 1024 * 1024  # bytes per message, the free-tier limit
    resume_buffer: int = 5000  # dispatches kept per session for RESUME

"""The ``[feeds]`` section: which hosts hash lists may come from, and the bounds of a fetch."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

MIN_REFRESH_SECONDS = 300
"""The shortest refresh interval a subscription may ask for (a publisher is not hammered)."""


@dataclass(frozen=True, slots=True)
class FeedLimits:
    """Where feeds may be fetched from, and how much of them."""

    allowed_hosts: tuple[str, ...] = ()
    """The only hosts (``host`` or ``host:port``; ``*.example.org`` for its subdomains) hash lists
    are fetched from. Empty: no subscription can be made."""
    max_bytes: int = 64 * 1024 * 1024
    """A feed larger than this is refused (its last good copy stays)."""
    timeout_seconds: float = 60.0
    """The whole fetch of one feed, at most."""
    refresh_minutes: int = 60
    """How often a subscription is refreshed unless it asks otherwise."""
    ca_file: str = ""
    """A PEM file of extra certificate authorities to trust (a private CA); empty: the system's."""

    def __post_init__(self) -> None:
        if self.max_bytes < 1024:
            raise ValueError("max_bytes must be at least 1024")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        if self.refresh_minutes * 60 < MIN_REFRESH_SECONDS:
            raise ValueError(f"refresh_minutes must be at least {MIN_REFRESH_SECONDS // 60}")
        for host in self.allowed_hosts:
            if not host or "/" in host or host != host.strip().lower():
                raise ValueError(f"allowed_hosts: {host!r} is not a lowercase host[:port]")

    def refuses(self, url: str) -> str | None:
        """Why ``url`` may not be fetched, or None when it may."""
        parts = urlsplit(url)
        if parts.scheme != "https":
            return "only https:// feeds are fetched"
        host = (parts.hostname or "").lower()
        netloc = f"{host}:{parts.port}" if parts.port else host
        for allowed in self.allowed_hosts:
            if allowed in (host, netloc):
                return None
            if allowed.startswith("*.") and host.endswith(allowed[1:]):
                return None
        if not self.allowed_hosts:
            return "no feed host is allowed on this instance ([feeds] allowed_hosts is empty)"
        return f"{netloc or url} is not in [feeds] allowed_hosts"

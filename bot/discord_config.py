"""The ``[discord]`` section of the config: where Discord is, what the bot asks of it, and the
bounds on what it fetches and queues (part of :mod:`bot.config`, which re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    token_env: str = "DISCORD_TOKEN"
    """The environment variable holding the bot token (a token never goes in the file)."""
    api_base: str = "https://discord.com/api/v10"
    """REST base URL: point it at a rate-limit-sharing proxy, or at the sandbox."""
    gateway_url: str = "wss://gateway.discord.gg/"
    cdn_base: str = "https://cdn.discordapp.com"
    """Where discord.py builds asset URLs (stickers, avatars): Discord's CDN, or the sandbox's."""
    media_hosts: tuple[str, ...] = (
        "cdn.discordapp.com",
        "media.discordapp.net",
        "images-ext-1.discordapp.net",
        "images-ext-2.discordapp.net",
    )
    """The only hosts media is downloaded from (host or host:port). Discord serves uploads from
    the first two and link-preview images through its external-media proxies, the last two."""
    download_timeout_seconds: float = 20.0
    """The whole download of one file, at most."""
    download_min_kib_per_second: float = 32.0
    """After its first 2 s, a download averaging slower than this is abandoned (0: no minimum)."""
    blocklist_refresh_seconds: float = 30.0
    """How often the bot checks storage for blocklist changes made elsewhere (e.g. the CLI)."""
    message_content_intent: bool = True
    """Ask for the privileged Message Content intent. Without it Discord hides attachments from
    bots, so only "Report as NCII" and the commands work (nothing is watched)."""
    members_intent: bool = True
    """Ask for the privileged Server Members intent: without it Discord does not say when a
    member leaves, so a protected member who left stays protected until they withdraw."""
    catch_up_messages: int = 200
    """After a restart, at most this many missed messages per channel are scanned..."""
    catch_up_hours: float = 24.0
    """...and none older than this."""
    queue_size: int = 5000
    """Messages waiting to be scanned; beyond it new ones wait in the work record, and the
    backlog queues them as room frees up (counted in logs and /consentry status)."""
    queue_workers: int = 16
    shard_count: int = 0
    """Discord shards in all, for a bot sharded over several processes (0: one connection, not
    sharded; ``consentry run --shard-count``)."""
    shard_ids: tuple[int, ...] = ()
    """The shards this process runs (empty: all of ``shard_count``; ``--shard-ids``)."""

    def __post_init__(self) -> None:
        if not self.token_env:
            raise ValueError("token_env must name an environment variable")
        if not self.api_base.startswith(("http://", "https://")):
            raise ValueError("api_base must be an http(s) URL")
        if not self.gateway_url.startswith(("ws://", "wss://")):
            raise ValueError("gateway_url must be a ws(s) URL")
        if not self.cdn_base.startswith(("http://", "https://")):
            raise ValueError("cdn_base must be an http(s) URL")
        if min(self.catch_up_messages, self.queue_size, self.queue_workers) < 1:
            raise ValueError("catch_up_messages, queue_size and queue_workers must be >= 1")
        if self.catch_up_hours <= 0:
            raise ValueError("catch_up_hours must be > 0")
        if self.download_min_kib_per_second < 0:
            raise ValueError("download_min_kib_per_second must be >= 0")
        if self.shard_count < 0 or any(not 0 <= i < self.shard_count for i in self.shard_ids):
            raise ValueError(
                f"shard_ids must lie in 0..shard_count-1 (shard_count {self.shard_count}, "
                f"shard_ids {list(self.shard_ids)})"
            )
        if self.download_timeout_seconds <= 0 or self.blocklist_refresh_seconds <= 0:
            raise ValueError("download_timeout_seconds and blocklist_refresh_seconds must be > 0")

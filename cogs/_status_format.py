"""`/consentry status` lines about the process: version, shards, models, index, feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.cluster import describe, version
from bot.storage import Feed

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot


async def process_lines(bot: ConsentryBot) -> list[str]:
    """What this process is and runs, and the other processes sharing its database."""
    sharding = bot.engine.config.discord
    shards = (
        f"shards {', '.join(map(str, sharding.shard_ids or range(sharding.shard_count)))} of "
        f"{sharding.shard_count}"
        if sharding.shard_count
        else "not sharded"
    )
    models = ", ".join(d.name for d in bot.engine.scanner.detectors) or "none (hash lists only)"
    matcher = bot.engine.matcher
    now = datetime.now(UTC)
    storage = bot.engine.storage
    held = await storage.work.held(now)
    return [
        f"Consentry {version()}; this process: {shards}, latency {bot.latency * 1000:.0f} ms",
        *describe(await storage.jobs.processes(now), now),
        f"Work held under a lease or waiting to retry (all servers): {held}",
        f"Models loaded: {models}",
        f"Blocklist index: {len(matcher.snapshot)} entries, generation {matcher.generation}, "
        f"{matcher.kind}",
    ]


def feed_lines(feeds: list[Feed]) -> list[str]:
    """The last refresh of each subscription that applies here."""
    lines = []
    for feed in feeds:
        if feed.last_error:
            state = f"last refresh failed: {feed.last_error[:150]}"
        elif feed.last_ok_at is not None:
            state = f"refreshed {feed.last_ok_at:%Y-%m-%d %H:%M} UTC"
        else:
            state = "not fetched yet"
        scope = "instance" if feed.guild_id is None else "this server"
        lines.append(f"Feed #{feed.id} {feed.name} ({scope}): {feed.entry_count} entries, {state}")
    return lines

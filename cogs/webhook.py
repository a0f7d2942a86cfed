"""Forwards case events to the operator's HTTPS webhook (``[bot] webhook_url``), when set.

The shipped example of the extension point: it only listens to ``bot.cases.events``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from bot.forwarding import WebhookForwarder

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot


class Webhook(commands.Cog):
    """Holds the forwarder (the bot stops it on close, after the last events are out)."""

    def __init__(self, forwarder: WebhookForwarder) -> None:
        self.forwarder = forwarder


async def setup(bot: ConsentryBot) -> None:
    """Forward case events when ``[bot] webhook_url`` is set; nothing otherwise."""
    url = bot.engine.config.bot.webhook_url
    if not url or bot.feeds is None:
        return
    forwarder = WebhookForwarder(bot.feeds.fetcher, url)
    bot.cases.events.subscribe(forwarder.hear)
    forwarder.start()
    bot.webhook = forwarder
    await bot.add_cog(Webhook(forwarder))

"""Run a standalone sandbox with the demo world: ``python -m bot.sandbox [--heartbeat-ms N]``.

Prints the addresses and token a bot process needs (one ``KEY=value`` per line) and serves
until interrupted. World building and user actions need the in-process API (:class:`Sandbox`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from bot.sandbox.demo import demo_world
from bot.sandbox.server import Sandbox


async def _serve(heartbeat_ms: int) -> None:
    async with Sandbox(heartbeat_interval_ms=heartbeat_ms) as sandbox:
        world = demo_world(sandbox)
        print(f"SANDBOX_API_BASE={sandbox.api_base}")
        print(f"SANDBOX_GATEWAY_URL={sandbox.gateway_url}")
        print(f"SANDBOX_CDN_BASE={sandbox.cdn_base}")
        print(f"SANDBOX_MEDIA_HOSTS={sandbox.cdn_host},{sandbox.media_host}")
        print(f"SANDBOX_TOKEN={sandbox.token}")
        print(f"SANDBOX_GUILD_ID={world.guild_id}")
        print("serving; Ctrl-C stops", flush=True)
        await asyncio.Event().wait()  # until cancelled by Ctrl-C


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("--heartbeat-ms", type=int, default=41250)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.heartbeat_ms))


if __name__ == "__main__":
    main()

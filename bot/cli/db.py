"""``consentry db``: migrate the database, or move an instance from SQLite to PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.config import Config
from bot.storage import open_storage


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "db",
        help="migrate the database, or copy an instance from SQLite to PostgreSQL",
        description="`migrate` brings the configured database ([storage] url) to this "
        "version's schema (the bot does it at start too). `copy` moves a whole instance from "
        "SQLite to PostgreSQL, ids, evidence, enrolments and the audit chain included, then "
        "checks the chain on the copy. Stop the bot first: a copy taken while it writes misses "
        "what comes after.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    migrate = actions.add_parser("migrate", parents=[common], help="migrate the database")
    migrate.set_defaults(handler=cmd_migrate)
    copy = actions.add_parser("copy", help="copy a SQLite instance into an empty PostgreSQL one")
    copy.add_argument("--from", dest="source", required=True, metavar="URL", help="sqlite:///...")
    copy.add_argument("--to", dest="target", required=True, metavar="URL", help="postgresql://...")
    copy.set_defaults(handler=cmd_copy)


async def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    async with await open_storage(config.storage_url) as storage:
        verification = await storage.audit.verify()
    print(f"database at this version's schema; audit chain: {verification.checked} records")
    return 0


async def cmd_copy(args: argparse.Namespace, config: Config) -> int:
    from bot.storage.copy import copy_database

    copied = await copy_database(
        args.source,
        args.target,
        on_table=lambda table, rows: print(f"{table}: {rows} rows", file=sys.stderr),
    )
    async with await open_storage(args.target) as storage:
        verification = await storage.audit.verify()
    if not verification.ok:
        print(
            f"consentry: error: the copy's audit chain does not verify (record "
            f"{verification.first_bad_id})",
            file=sys.stderr,
        )
        return 1
    total = sum(copied.values())
    print(
        f"copied {total} rows in {len(copied)} tables; the audit chain verifies "
        f"({verification.checked} records, head {verification.head})"
    )
    return 0

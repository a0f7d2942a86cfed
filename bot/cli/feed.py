"""``consentry feed``: signed feeds to publish, and hash lists to subscribe to."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.config import Config
from bot.core import blocklist_io
from bot.core.signed_feed import FeedError, generate_key, load_private_key, load_public_key
from bot.feeds.fetch import FeedFetcher
from bot.feeds.limits import MIN_REFRESH_SECONDS
from bot.feeds.publish import REMOVALS_DAYS, SHARED_SOURCES, publish
from bot.feeds.refresh import FeedRefresher, describe
from bot.feeds.stopncii import API_FORMAT, KEYS_ENV
from bot.storage import ALL, NewFeed, open_storage


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "feed",
        help="publish signed hash feeds and subscribe to hash lists",
        description="Hash lists that travel between instances. `keygen` makes a signing key, "
        "`publish` writes this instance's confirmed hashes as a feed signed with it (serve the "
        "file from any static web server), and `subscribe` makes the whole instance (or one "
        "server) match a list at an HTTPS URL, refreshed on a schedule. Feed hosts must be in "
        "[feeds] allowed_hosts.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    keygen = actions.add_parser(
        "keygen",
        help="make an Ed25519 signing key",
        description="Writes a new private key (PEM, readable only by you) to FILE and prints "
        "the public key subscribers pin. Refuses to overwrite an existing file.",
    )
    keygen.add_argument("file", metavar="FILE")
    keygen.set_defaults(handler=cmd_keygen)

    pub = actions.add_parser(
        "publish",
        parents=[common],
        help="write the confirmed hashes as a signed feed",
        description="Writes every blocking hash of the given sources (default: "
        f"{', '.join(SHARED_SOURCES)}: what moderators confirmed or added, never lists received "
        "from elsewhere), each once, and the hashes removed in the last --removals-days days, "
        "as a feed signed with KEY. Only hashes, a label and timestamps are written: no media, "
        "reasons, user or server ids. clip embeddings are never published.",
    )
    pub.add_argument("--key", required=True, metavar="KEY", help="the private key from keygen")
    pub.add_argument("--output", "-o", required=True, metavar="FILE")
    pub.add_argument("--publisher", default=socket.gethostname(), help="your name, as shown")
    pub.add_argument("--label", default="ncii", help="the label of every entry (default: ncii)")
    pub.add_argument("--source", action="append", metavar="NAME", help="publish this source")
    pub.add_argument("--removals-days", type=int, default=REMOVALS_DAYS, metavar="DAYS")
    pub.set_defaults(handler=cmd_publish)

    sub = actions.add_parser(
        "subscribe",
        parents=[common],
        help="match a hash list at an HTTPS URL",
        description="Subscribes the instance (or, with --guild, one server) to a list, fetched "
        "at once by the running bot and then every --every minutes. With --key, only a feed "
        "signed by that public key is accepted; a list without a signature (StopNCII records, "
        "ThreatExchange rows, CSV...) needs no key.",
    )
    sub.add_argument("url")
    sub.add_argument("--key", default="", help="the publisher's public key (base64)")
    sub.add_argument("--name", help="shown in listings (default: the URL's host)")
    sub.add_argument("--guild", type=int, metavar="ID", help="for this server only")
    sub.add_argument(
        "--format",
        choices=("auto", *blocklist_io.IMPORT_FORMATS, API_FORMAT),
        default="auto",
        help="the list's format (default: recognised from its content); stopncii-api: URL is "
        f"the base of a StopNCII-style hash API, fetched as deltas with the keys in ${KEYS_ENV}",
    )
    sub.add_argument("--every", type=int, metavar="MINUTES", help="refresh interval")
    sub.add_argument(
        "--pdq-distance",
        type=int,
        metavar="BITS",
        help="demand PDQ matches this close for this list's entries (a noisy source; default: "
        "[matching] pdq_max_distance)",
    )
    sub.add_argument("--phash-distance", type=int, metavar="BITS", help="the same for pHash")
    sub.set_defaults(handler=cmd_subscribe)

    feedback = actions.add_parser(
        "feedback",
        parents=[common],
        help="what moderators said of entries from lists (to tell their publishers)",
        description="Prints every confirmation and dispute of entries, with the entry's source, "
        "hash and note, as JSON lines (no user or server ids).",
    )
    feedback.add_argument("--source", help="only this source (e.g. feed:3)")
    feedback.set_defaults(handler=cmd_feedback)

    listing = actions.add_parser("list", parents=[common], help="list subscriptions")
    listing.set_defaults(handler=cmd_list)

    unsub = actions.add_parser(
        "unsubscribe", parents=[common], help="end a subscription and remove its entries"
    )
    unsub.add_argument("id", type=int)
    unsub.set_defaults(handler=cmd_unsubscribe)

    refresh = actions.add_parser(
        "refresh", parents=[common], help="refresh subscriptions now (default: every one)"
    )
    refresh.add_argument("ids", type=int, nargs="*", metavar="ID")
    refresh.set_defaults(handler=cmd_refresh)


async def cmd_keygen(args: argparse.Namespace, config: Config) -> int:
    target = Path(args.file)
    pem, public = generate_key()
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"consentry: error: {target} exists: not overwritten", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"consentry: error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    print(f"private key written to {target} (keep it secret)")
    print(f"public key (give it to subscribers): {public}")
    return 0


async def cmd_publish(args: argparse.Namespace, config: Config) -> int:
    try:
        key = load_private_key(Path(args.key).read_bytes())
    except OSError as exc:
        print(f"consentry: error: cannot read {args.key}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except FeedError as exc:
        print(f"consentry: error: {args.key}: {exc}", file=sys.stderr)
        return 2
    if args.removals_days < 1:
        print("consentry: error: --removals-days must be at least 1", file=sys.stderr)
        return 2
    async with await open_storage(config.storage_url) as storage:
        text, entries, removed = await publish(
            storage,
            key,
            publisher=args.publisher,
            label=args.label,
            sources=tuple(args.source or SHARED_SOURCES),
            removals_days=args.removals_days,
        )
    temporary = Path(f"{args.output}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(args.output)  # a web server never serves half a feed
    except OSError as exc:
        print(
            f"consentry: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    print(f"published {entries} hashes and {removed} removals to {args.output}")
    return 0


async def cmd_subscribe(args: argparse.Namespace, config: Config) -> int:
    refused = config.feeds.refuses(args.url)
    if refused is not None:
        print(f"consentry: error: {args.url}: {refused}", file=sys.stderr)
        return 2
    if args.key:
        try:
            load_public_key(args.key)
        except FeedError as exc:
            print(f"consentry: error: --key: {exc}", file=sys.stderr)
            return 2
    minutes = args.every or config.feeds.refresh_minutes
    if minutes * 60 < MIN_REFRESH_SECONDS:
        print(
            f"consentry: error: --every must be at least {MIN_REFRESH_SECONDS // 60}",
            file=sys.stderr,
        )
        return 2
    for name, value, top in (
        ("--pdq-distance", args.pdq_distance, 256),
        ("--phash-distance", args.phash_distance, 64),
    ):
        if value is not None and not 0 <= value <= top:
            print(f"consentry: error: {name} must be 0 to {top}", file=sys.stderr)
            return 2
    new = NewFeed(
        args.guild,
        args.url,
        args.name or urlsplit(args.url).hostname or args.url,
        args.key,
        args.format,
        minutes * 60,
        "cli",
        args.pdq_distance,
        args.phash_distance,
    )
    async with await open_storage(config.storage_url) as storage:
        feed = await storage.feeds.subscribe(new)
    if feed is None:
        print(f"consentry: error: already subscribed to {args.url} there", file=sys.stderr)
        return 2
    print(f"subscribed: {describe(feed)}")
    return 0


async def cmd_list(args: argparse.Namespace, config: Config) -> int:
    async with await open_storage(config.storage_url) as storage:
        feeds = await storage.feeds.list(ALL)
    for feed in feeds:
        print(describe(feed))
    if not feeds:
        print("no subscriptions")
    return 0


async def cmd_unsubscribe(args: argparse.Namespace, config: Config) -> int:
    async with await open_storage(config.storage_url) as storage:
        feed = await storage.feeds.unsubscribe(args.id, actor="cli")
    if feed is None:
        print(f"consentry: error: no subscription {args.id}", file=sys.stderr)
        return 1
    print(f"unsubscribed from {feed.url}; its {feed.entry_count} entries are removed")
    return 0


async def cmd_refresh(args: argparse.Namespace, config: Config) -> int:
    async with await open_storage(config.storage_url) as storage:
        chosen = [f for f in await storage.feeds.list(ALL) if not args.ids or f.id in args.ids]
        missing = set(args.ids) - {f.id for f in chosen}
        async with aiohttp.ClientSession() as session:
            refresher = FeedRefresher(storage, FeedFetcher(session, config.feeds), _inline)
            outcomes = [await refresher.refresh(feed) for feed in chosen]
    for outcome in outcomes:
        print(outcome.text)
    for feed_id in sorted(missing):
        print(f"consentry: error: no subscription {feed_id}", file=sys.stderr)
    failed = missing or any("refresh failed" in o.text for o in outcomes)
    return 1 if failed else 0


async def cmd_feedback(args: argparse.Namespace, config: Config) -> int:
    async with await open_storage(config.storage_url) as storage:
        given = await storage.reviews.feedback(args.source)
    for item in given:
        record = {
            "source": item.source,
            "algorithm": item.algorithm,
            "hash": item.value,
            "opinion": item.opinion,
            "note": item.note,
            "at": item.at.isoformat(),
        }
        print(json.dumps(record, ensure_ascii=False))
    return 0


async def _inline(function: Any, *args: Any) -> Any:
    return function(*args)  # the CLI has nothing else to do meanwhile

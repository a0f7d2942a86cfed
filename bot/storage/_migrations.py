"""Discovery of the numbered SQL migrations shipped as package data, one folder per backend."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``NNNN_name.sql``."""

    version: int
    name: str
    sql: str


def load_migrations(backend: str) -> list[Migration]:
    """The migrations of ``backend`` (a folder under ``bot/storage/migrations``), by version.

    Versions must run 1, 2, 3... without gaps or repeats: a gap usually means a file was lost in
    packaging, and applying the rest would build a schema nobody tested.
    """
    folder = files("bot.storage") / "migrations" / backend
    migrations: list[Migration] = []
    for item in folder.iterdir():
        match = _NAME.match(item.name)
        if match is None:
            continue
        version, name = int(match.group(1)), match.group(2)
        migrations.append(Migration(version, name, item.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"{backend} migrations are not numbered 1..N: {versions}")
    return migrations

"""Benchmark of a big hash-list import: the rows of a plain PDQ list read, checked and stored
in one transaction, as ``consentry blocklist import`` does (1M rows by default).

Run alone with ``python -m bench.import_bench [rows]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.cli.blocklist import import_report
from bot.core import blocklist_io
from bot.storage import open_storage


async def _measure(rows: int, folder: Path) -> dict[str, Any]:
    text = "".join(os.urandom(32).hex() + "\n" for _ in range(rows))
    started = time.perf_counter()
    parsed = blocklist_io.parse(text, "pdq-list", default_source="import:bench", added_by="bench")
    parsed_s = time.perf_counter() - started
    async with await open_storage(str(folder / "bench.db")) as storage:
        stored = time.perf_counter()
        result = await storage.blocklist.apply(parsed.entries, parsed.removals)
        stored_s = time.perf_counter() - stored
        import_report("bench", "pdq-list", parsed, result)
        total = time.perf_counter() - started
        # The same file again: every row is already present, so each is found and named.
        again = time.perf_counter()
        repeat = await storage.blocklist.apply(parsed.entries, [])
        again_s = time.perf_counter() - again
    assert result.added == rows and len(repeat.duplicates) == rows
    return {
        "rows": rows,
        "parse_s": round(parsed_s, 2),
        "store_s": round(stored_s, 2),
        "total_s": round(total, 2),
        "reimport_all_duplicates_s": round(again_s, 2),
    }


def run(rows: int = 1_000_000) -> dict[str, Any]:
    """Import ``rows`` random PDQ hashes into a new database in a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(_measure(rows, Path(folder)))


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=2))

"""Turning PATH arguments into the files they name."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path


def existing_paths(args: Sequence[str]) -> list[Path] | None:
    """The arguments as paths, or None (after saying which on stderr) if any does not exist."""
    paths = [Path(p) for p in args]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"consentry: error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return None
    return paths


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The given files, and every file under the given folders, in sorted order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path

"""``make bench``: measure the scanning pipeline and the blocklist index, write JSON.

Usage: python -m bench [--quick] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import index as index_bench
from bench import pipeline as pipeline_bench

# (result path, target, unit) checked after the run; targets from the foundation issue, 2 cores.
TARGETS = [
    (("pipeline", "jpeg_1024x768", "total_ms", "p50"), 40.0, "ms"),
    (("pipeline", "jpeg_4000x3000", "total_ms", "p50"), 80.0, "ms"),
    (("index", "10000000", "query_single_ms", "p50"), 15.0, "ms"),
    (("index", "10000000", "index_bytes"), 400 * 1024 * 1024, "bytes"),
]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "pillow", "pdqhash", "imagehash", "faiss-cpu", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def _lookup(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small index sizes (a smoke run)")
    parser.add_argument("--output", default="bench/results.json", help="where to write the JSON")
    args = parser.parse_args(argv)
    sizes = (100_000,) if args.quick else (1_000_000, 10_000_000)
    started = time.time()
    print("pipeline: decode and hashes ...", file=sys.stderr)
    pipeline = pipeline_bench.run()
    print(f"index: sizes {sizes} ...", file=sys.stderr)
    index = index_bench.run(sizes=sizes)
    results: dict[str, Any] = {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "pipeline": pipeline,
        "index": index,
    }
    checks = []
    for path, target, unit in TARGETS:
        value = _lookup(results, path)
        status = "not measured" if value is None else ("met" if value <= target else "MISSED")
        checks.append(
            {
                "metric": ".".join(path),
                "value": value,
                "target": target,
                "unit": unit,
                "status": status,
            }
        )
    results["targets"] = checks
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    for check in checks:
        target = f"target <= {check['target']} {check['unit']}"
        print(f"{check['status']:>12}  {check['metric']} = {check['value']} ({target})")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

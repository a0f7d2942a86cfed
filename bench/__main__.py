"""``make bench``: measure the scanning pipeline and the blocklist index, write JSON.

Usage: python -m bench [--quick] [--only PART ...] [--output FILE]
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

from bench import (
    cluster_bench,
    edit_recall,
    embeddings_bench,
    faces_bench,
    full_pipeline,
    import_bench,
    models_bench,
    sandbox_bench,
)
from bench import index as index_bench
from bench import pipeline as pipeline_bench

# (result path, "<=" or ">=", target, unit), checked after the run; the targets come from the
# issues and are for 2 cores.
TARGETS = [
    (("pipeline", "jpeg_1024x768", "total_ms", "p50"), "<=", 40.0, "ms"),
    (("pipeline", "jpeg_4000x3000", "total_ms", "p50"), "<=", 80.0, "ms"),
    (("index", "10000000", "query_single_ms", "p50"), "<=", 15.0, "ms"),
    # Issue "An index for 10M+ entries": multi-index hashing against python-threatexchange's
    # PDQIndex measured in the same run (a frame's 8 variants), in 1 GB, built in 5 s.
    (("index", "10000000", "ratio_to_peer", "query_frame_ms_p50"), "<=", 0.25, "x"),
    (("index", "10000000", "index_bytes"), "<=", 1_000_000_000, "bytes"),
    (("index", "10000000", "build_s"), "<=", 5.0, "s"),
    # Issue "Nothing lost, nothing let back in": a change is live within 1 s at 10M entries.
    (("index", "10000000", "time_to_live_ms", "max"), "<=", 1000.0, "ms"),
    # Issue "Hash lists that travel": a 1M-row import in 20 s or less.
    (("import", "total_s"), "<=", 20.0, "s"),
    (("discord", "message_to_delete_ms", "p50"), "<=", 50.0, "ms"),
    (("discord", "messages_per_second"), ">=", 40.0, "messages/s"),
    # Decode, hashes, NudeNet and CLIP through the bot's Scanner, against the sum of the two
    # models' own inference times measured in the same run.
    (("full_pipeline", "jpeg_1024x768", "ratio_to_models"), "<=", 1.15, "x"),
    (("full_pipeline", "video_30s_720p", "total_ms", "p50"), "<=", 3000.0, "ms"),
    # With every shipped model loaded (NudeNet, open_nsfw, CLIP and the face model): issue 5's
    # 600 MB was for the three detectors, the likeness issue allows 700 MB with faces.
    (("full_pipeline", "bot_rss_mb"), "<=", 700.0, "MB"),
    # Issue "Catch new deepfakes of the people a server protects".
    (("faces", "stage_ms", "blazeface", "p50"), "<=", 150.0, "ms"),
    (("faces", "match_ms", "one_face", "p50"), "<=", 1.0, "ms"),
    (("faces", "enrol_ms", "p50"), "<=", 2000.0, "ms"),
    # Issue "Edited copies of known media": borders, screenshots, captions, crops, mirrors and
    # recompression of known pictures still match, and no distractor does.
    (("edit_recall", "current", "recall"), ">=", 0.95, "recall"),
    (("edit_recall", "current", "false_matches"), "<=", 0, "matches"),
    # Issue "Beyond one process": a change reaches every other process within 2 s, and under
    # the load test (two gateways, two workers, 1,000 image messages a minute) the p95 from
    # message to action stays under 1 s.
    (("cluster", "notification", "blocklist_ms", "p95"), "<=", 2000.0, "ms"),
    (("cluster", "load", "message_to_delete_ms", "p95"), "<=", 1000.0, "ms"),
]
PARTS = (
    "pipeline",
    "index",
    "import",
    "lookalikes",
    "models",
    "full_pipeline",
    "faces",
    "discord",
    "edit_recall",
    "cluster",
)


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
    versions: dict[str, str | None] = {}
    for package in ("numpy", "pillow", "pdqhash", "imagehash", "faiss-cpu", "onnxruntime", "av"):
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
    parser.add_argument(
        "--only", nargs="+", choices=PARTS, default=PARTS, help="measure only these parts"
    )
    args = parser.parse_args(argv)
    sizes = (100_000,) if args.quick else (1_000_000, 10_000_000)
    started = time.time()
    measured: dict[str, Any] = {}
    if "pipeline" in args.only:
        print("pipeline: decode and hashes ...", file=sys.stderr)
        measured["pipeline"] = pipeline_bench.run()
    if "index" in args.only:
        print(f"index: sizes {sizes} ...", file=sys.stderr)
        measured["index"] = index_bench.run(sizes=sizes)
    if "import" in args.only:
        rows = 100_000 if args.quick else 1_000_000
        print(f"import: a plain PDQ list of {rows} rows ...", file=sys.stderr)
        measured["import"] = import_bench.run(rows)
    if "lookalikes" in args.only:
        print("lookalikes: CLIP embedding entries, 10k and 100k ...", file=sys.stderr)
        measured["lookalikes"] = embeddings_bench.run(queries=20 if args.quick else 50)
    if "models" in args.only:
        print("models: fetched ones, 1 and 2 threads ...", file=sys.stderr)
        measured["models"] = models_bench.run(runs=5 if args.quick else 20)
    if "full_pipeline" in args.only:
        print("full_pipeline: scans with NudeNet and CLIP, bot memory ...", file=sys.stderr)
        measured["full_pipeline"] = (
            full_pipeline.run(runs=5, video_runs=2) if args.quick else full_pipeline.run()
        )
    if "faces" in args.only:
        print("faces: face stage, matching 10k members, enrolment ...", file=sys.stderr)
        measured["faces"] = faces_bench.run(runs=3 if args.quick else 10)
    if "discord" in args.only:
        print("discord: the bot process against the sandbox ...", file=sys.stderr)
        measured["discord"] = (
            sandbox_bench.run(latency_samples=10, burst=50, extra_entries=1_000)
            if args.quick
            else sandbox_bench.run()
        )
    if "edit_recall" in args.only:
        print("edit_recall: edited copies of known pictures, and distractors ...", file=sys.stderr)
        measured["edit_recall"] = edit_recall.run(runs=10 if args.quick else 30)
    if "cluster" in args.only:
        print(
            "cluster: notifications, scan workers, the load test on PostgreSQL ...", file=sys.stderr
        )
        measured["cluster"] = (
            cluster_bench.run(burst=60, load_seconds=60) if args.quick else cluster_bench.run()
        )
    results: dict[str, Any] = {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        **measured,
    }
    checks = []
    for path, sign, target, unit in TARGETS:
        if path[0] not in measured:
            continue
        value = _lookup(results, path)
        ok = value is not None and (value <= target if sign == "<=" else value >= target)
        status = "not measured" if value is None else ("met" if ok else "MISSED")
        checks.append(
            {
                "metric": ".".join(path),
                "value": value,
                "target": f"{sign} {target} {unit}",
                "status": status,
            }
        )
    results["targets"] = checks
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    for check in checks:
        print(f"{check['status']:>12}  {check['metric']} = {check['value']} ({check['target']})")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

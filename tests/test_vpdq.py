"""vPDQ video hash lists: reading both upstream serialisations, choosing the frames to store, and
proof that a list made for a clip blocks a re-encoded copy of it.

Sample lines are copied from facebook/ThreatExchange ``vpdq/sample-hashes/chair-19-sd-bar.txt``
(hashes of a benign test video). Clips are generated here with PyAV from scikit-image photos.
"""

from __future__ import annotations

import io
import json
import re
from functools import cache
from pathlib import Path

import av
import numpy as np
import pdqhash
import pytest
from PIL import Image

from bot.core import blocklist_io, vpdq
from bot.core.vpdq import Feature
from tests.config_support import NO_MODELS
from tests.imagery import photo
from tests.test_cli import _run
from tests.test_video import clip

# The first lines of an upstream sample hash file: older files write timestamps unpadded.
UPSTREAM = (
    "0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0\n"
    "1,100,c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c,0.0319\n"
    "2,100,c0f10b78372c6aacc5dea25b748fb7d22f434c89c9a9db249772b6216c8d855c,0.0638\n"
)
A = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
B = "c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c"


def _flip(hex_hash: str, bits: int) -> str:
    """``hex_hash`` with its lowest ``bits`` bits inverted: exactly ``bits`` bits away."""
    return f"{int(hex_hash, 16) ^ ((1 << bits) - 1):064x}"


# ---------------------------------------------------------------- reading


def test_the_reference_hash_file_reads_as_one_feature_per_line() -> None:
    parsed = vpdq.parse(UPSTREAM)
    assert parsed.errors == []
    assert parsed.features[:2] == [Feature(A, 100, 0.0, 0), Feature(B, 100, 0.0319, 1)]
    assert len(parsed.features) == 3


def test_python_threatexchanges_json_list_of_compact_features_reads_too() -> None:
    # VPDQSignal's serialisation: "pdq_hex,quality,timestamp", timestamps to 3 significant digits.
    signal = json.dumps([f"{A},100,0.0", f"{B},87,1.23e+03"])
    parsed = vpdq.parse(signal)
    assert parsed.errors == []
    assert parsed.features == [Feature(A, 100, 0.0), Feature(B, 87, 1230.0)]


def test_blank_lines_comments_crlf_a_bom_and_upper_case_hex_are_tolerated() -> None:
    text = f"\ufeff# made by vpdq-hash-video\r\n\r\n0,100,{A.upper()},0.000\r\n  \r\n{B},90,1.000"
    parsed = vpdq.parse(text)
    assert parsed.errors == []
    assert parsed.features == [Feature(A, 100, 0.0, 0), Feature(B, 90, 1.0)]


def test_each_bad_line_is_reported_by_number_and_the_good_ones_are_kept() -> None:
    lines = [
        f"0,100,{A},0.000",
        f"1,100,{A}",  # frame number and no timestamp: three fields, read as compact
        f"2,100,{A[:-1]},2.000",
        f"3,101,{A},3.000",
        f"4,high,{A},4.000",
        f"5,-1,{A},5.000",
        f"-6,100,{A},6.000",
        f"7,100,{A},-7",
        f"8,100,{A},nan",
        f"9,100,{A},9.000,extra",
        f"10,100,{B},10.000",
    ]
    parsed = vpdq.parse("\n".join(lines))
    assert [str(e) for e in parsed.errors] == [
        "line 2: PDQ hash must be 64 hex digits, got '1'",
        f"line 3: PDQ hash must be 64 hex digits, got '{A[:-1]}'",
        "line 4: quality must be a whole number from 0 to 100, got '101'",
        "line 5: quality must be a whole number from 0 to 100, got 'high'",
        "line 6: quality must be a whole number from 0 to 100, got '-1'",
        "line 7: frame number must be a whole number >= 0, got '-6'",
        "line 8: timestamp must be a number of seconds >= 0, got '-7'",
        "line 9: timestamp must be a number of seconds >= 0, got 'nan'",
        "line 10: expected frame_number,quality,pdq_hex,timestamp (or pdq_hex,quality,timestamp),"
        " got 5 fields",
    ]
    assert [f.frame_number for f in parsed.features] == [0, 10]


def test_bad_json_lists_are_reported_by_entry() -> None:
    assert str(vpdq.parse('["abc",').errors[0]).startswith("line 1: not valid JSON")
    parsed = vpdq.parse(json.dumps([f"{A},100,0", {"hash": B}, f"0,100,{B},1.0"]))
    assert [str(e) for e in parsed.errors] == [
        'entry 2: must be text like "pdq_hex,quality,timestamp"',
        'entry 3: expected "pdq_hex,quality,timestamp", got 4 fields',
    ]
    assert len(parsed.features) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (UPSTREAM, "vpdq"),
        (f"# list\n\n{A},100,0.000\n", "vpdq"),
        (json.dumps([f"{A},100,0.0"]), "vpdq"),
        (f"algorithm,hash\npdq,{A}\n", "csv"),
        (f'[{{"algorithm": "pdq", "hash": "{A}"}}]', "json"),
        ('{"format": "consentry-blocklist", "version": 1, "entries": []}', "json"),
        ("", "csv"),
    ],
)
def test_format_detection_tells_vpdq_lists_from_the_export_formats(
    text: str, expected: str
) -> None:
    assert blocklist_io.detect_format(text) == expected


# ---------------------------------------------------------------- choosing frames


def test_frames_below_the_quality_floor_are_dropped() -> None:
    features = [Feature(A, 49, 0.0, 0), Feature(B, 50, 1.0, 1)]
    chosen = vpdq.select(features)
    assert vpdq.DEFAULT_MIN_QUALITY == 50  # the scanner's own PDQ quality floor
    assert chosen.kept == [features[1]] and chosen.low_quality == 1


def test_frames_close_to_the_last_kept_frame_are_pruned_and_drift_is_not_followed() -> None:
    # Each second moves 5 bits from the one before: measured against the last *kept* frame
    # (as vPDQ's README prunes), the third frame is 10 bits out and starts a new entry.
    drift = [A, _flip(A, 5), _flip(A, 10), _flip(A, 15)]
    features = [Feature(h, 100, float(i), i) for i, h in enumerate(drift)]
    chosen = vpdq.select(features, prune_distance=8)
    assert [f.frame_number for f in chosen.kept] == [0, 2]
    assert chosen.pruned == 2
    assert vpdq.select(features, prune_distance=0).kept == features


def test_a_still_shot_collapses_to_one_entry_and_a_repeated_scene_is_stored_once() -> None:
    other = _flip(A, 100)
    seconds = [A] * 300 + [other] * 200 + [A] * 100  # ten minutes at one frame a second
    features = [Feature(h, 100, float(i), i) for i, h in enumerate(seconds)]
    chosen = vpdq.select(features)
    assert [f.pdq for f in chosen.kept] == [A, other]
    assert (chosen.pruned, chosen.repeated) == (299 + 199 + 99, 1)


def test_out_of_range_selection_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="quality floor must be between 0 and 100"):
        vpdq.select([], min_quality=101)
    with pytest.raises(ValueError, match="prune distance must be between 0 and 256"):
        vpdq.select([], prune_distance=-1)


# ---------------------------------------------------------------- writing


def test_written_lists_use_the_reference_tools_line_format_and_read_back() -> None:
    features = [Feature(A, 100, 0.0, 0), Feature(B, 98, 1.0, 30), Feature(A, 80, 2.0)]
    text = vpdq.dumps(features)
    assert text.splitlines() == [f"0,100,{A},0.000", f"30,98,{B},1.000", f"2,80,{A},2.000"]
    assert vpdq.parse(text).features == [*features[:2], Feature(A, 80, 2.0, 2)]


# ---------------------------------------------------------------- end to end


@cache
def _scene(name: str) -> np.ndarray:
    return np.asarray(photo(name).resize((400, 300)))


def _scenes(scenes: tuple[tuple[str, int, int], ...], fps: int):
    """A drawer for ``clip``: each ``(photo, seconds, pixels panned per frame)`` in turn."""
    starts = np.cumsum([0] + [seconds * fps for _, seconds, _ in scenes])

    def draw(index: int) -> np.ndarray:
        at = int(np.searchsorted(starts, index, side="right")) - 1
        name, _, pan = scenes[at]
        step = (index - int(starts[at])) * pan
        return np.ascontiguousarray(_scene(name)[step // 2 : step // 2 + 240, step : step + 320])

    return draw


def reference_vpdq(video: bytes) -> str:
    """The hash file ``vpdq-hash-video`` writes for ``video`` at its default of one frame a second:
    every ``fps``-th decoded frame, hashed whole by PDQ (pdqhash's bits packed most significant
    first, as python-threatexchange writes hex), as ``frame,quality,hex,seconds`` lines."""
    lines = []
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        fps = round(float(stream.average_rate or 0))
        for number, frame in enumerate(container.decode(stream)):
            if number % fps == 0:
                bits, quality = pdqhash.compute(frame.to_ndarray(format="rgb24"))
                pdq = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()
                lines.append(f"{number},{int(quality)},{pdq},{number / fps:.3f}\n")
    return "".join(lines)


def reencode(video: bytes, size: tuple[int, int], crf: int) -> bytes:
    """``video`` decoded and encoded again at another size and a much lower quality."""
    buffer = io.BytesIO()
    with av.open(io.BytesIO(video)) as source, av.open(buffer, "w", format="mp4") as target:
        stream = target.add_stream(
            "h264", rate=10, options={"preset": "ultrafast", "crf": str(crf)}
        )
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for frame in source.decode(video=0):
            image = frame.to_image().resize(size, Image.Resampling.BILINEAR)
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)
    return buffer.getvalue()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "config.toml").write_text(NO_MODELS + '[storage]\nurl = "consentry.db"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONSENTRY_CONFIG", raising=False)
    return tmp_path


def test_an_imported_vpdq_list_quarantines_a_re_encoded_copy_and_nothing_else(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fps = 10
    # A still shot (which pruning collapses) and two pans: 7 seconds.
    scenes = (("astronaut", 3, 0), ("chelsea", 2, 2), ("rocket", 2, 3))
    original = clip(seconds=7, fps=fps, draw=_scenes(scenes, fps))
    listed = reference_vpdq(original)
    assert len(listed.splitlines()) == 7  # one frame a second
    (workspace / "known-fake.vpdq.txt").write_text(listed)

    code, out, err = _run(capsys, "blocklist", "import", "known-fake.vpdq.txt")
    assert code == 0, err
    counts = re.search(r"note: (\d+) vPDQ frames read, (\d+) kept as PDQ entries", err)
    assert counts is not None, err
    assert int(counts[1]) == 7 and 3 <= int(counts[2]) < 7
    assert "of the previous kept frame dropped" in err
    _, listing, _ = _run(capsys, "blocklist", "list")
    pdq_rows = [line for line in listing.splitlines() if " pdq " in line]
    assert pdq_rows and all("instance" in row for row in pdq_rows)
    assert all("vPDQ known-fake.vpdq.txt frame" in row for row in pdq_rows)
    assert f"{len(pdq_rows)} entries added" in out

    copy = reencode(original, (256, 192), crf=38)
    assert copy != original and len(copy) < len(original)
    unrelated = clip(
        seconds=6, fps=fps, draw=_scenes((("coffee", 3, 2), ("hubble_deep_field", 3, 0)), fps)
    )
    (workspace / "copy.mp4").write_bytes(copy)
    (workspace / "unrelated.mp4").write_bytes(unrelated)
    code, out, _ = _run(capsys, "scan", "--json", "copy.mp4", "unrelated.mp4")
    assert code == 0
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    assert rows["copy.mp4"]["action"] == "quarantine"
    matches = rows["copy.mp4"]["matches"]
    assert matches and all(m["algorithm"] == "pdq" and m["distance"] <= 31 for m in matches)
    assert rows["unrelated.mp4"]["action"] == "allow"
    assert rows["unrelated.mp4"]["matches"] == []

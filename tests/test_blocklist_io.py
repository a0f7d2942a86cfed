"""Blocklist files: CSV and JSON export and import."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from bot.core import blocklist_io, embeddings
from bot.core.blocklist import Algorithm, BlocklistEntry

PDQ = "f" * 64
LOOK_ALIKE = embeddings.encode([(-1.0) ** i * (i + 1) for i in range(embeddings.EMBED_DIM)])
ENTRIES = [
    BlocklistEntry(
        1,
        Algorithm.PDQ,
        PDQ,
        None,
        "cli",
        "known fake",
        "cli:mod",
        datetime(2026, 1, 2, tzinfo=UTC),
    ),
    BlocklistEntry(
        2,
        Algorithm.MD5,
        "0" * 32,
        42,
        "import",
        'comma, "quote"',
        "cli:admin",
        datetime(2026, 1, 3, tzinfo=UTC),
        allow=True,
    ),
    BlocklistEntry(
        3,
        Algorithm.CLIP,
        LOOK_ALIKE,
        42,
        "case",
        "confirmed in case 9",
        "user:7",
        datetime(2026, 1, 4, tzinfo=UTC),
    ),
]


def _export(fmt: str) -> str:
    stream = io.StringIO()
    writer = blocklist_io.writer(fmt, stream)
    for entry in ENTRIES:
        writer.write(entry)
    writer.close()
    return stream.getvalue()


@pytest.mark.parametrize("fmt", blocklist_io.OWN_FORMATS)
def test_an_export_imports_back_to_the_same_entries(fmt: str) -> None:
    text = _export(fmt)
    assert blocklist_io.detect_format(text) == fmt
    parsed = blocklist_io.parse(text, fmt, default_source="x", added_by="y")
    assert parsed.errors == []
    assert [
        (e.algorithm, e.value, e.guild_id, e.allow, e.source, e.reason, e.added_by)
        for e in parsed.entries
    ] == [
        (x.algorithm, x.value, x.guild_id, x.allow, x.source, x.reason, x.added_by) for x in ENTRIES
    ]


def test_bad_csv_rows_are_reported_by_line_and_skipped() -> None:
    text = (
        "algorithm,hash,scope\n"
        f"pdq,{PDQ},instance\n"
        "pdq,xyz,instance\n"
        f"sha1,{'0' * 40},\n"
        f"md5,{'1' * 32},guild\n"
        f"PHASH,{'A' * 16},123\n"
    )
    parsed = blocklist_io.parse(text, "csv", default_source="file", added_by="me")
    assert [str(e) for e in parsed.errors] == [
        "line 3: pdq hash must be 64 hex digits, got 'xyz'",
        "line 4: unknown hash algorithm 'sha1' (expected one of: pdq, phash, sha256, md5, clip)",
        "line 5: scope must be 'instance' or a server id, got 'guild'",
    ]
    assert [(e.algorithm, e.value, e.guild_id) for e in parsed.entries] == [
        (Algorithm.PDQ, PDQ, None),
        (Algorithm.PHASH, "a" * 16, 123),
    ]
    assert all(e.source == "file" and e.added_by == "me" for e in parsed.entries)


def test_a_csv_without_the_required_columns_is_refused_whole() -> None:
    parsed = blocklist_io.parse("hash\nabc\n", "csv", default_source="f", added_by="")
    assert parsed.entries == []
    assert "algorithm and hash" in str(parsed.errors[0])


def test_bad_json_documents_and_entries_are_reported() -> None:
    assert "not valid JSON" in str(
        blocklist_io.parse("[{", "json", default_source="", added_by="").errors[0]
    )
    foreign = blocklist_io.parse('{"format": "other"}', "json", default_source="", added_by="")
    assert "not a Consentry blocklist" in str(foreign.errors[0])
    parsed = blocklist_io.parse(
        f'[{{"algorithm": "pdq", "hash": "{PDQ}"}}, 5, {{"algorithm": "pdq"}}]',
        "json",
        default_source="",
        added_by="",
    )
    assert [str(e) for e in parsed.errors] == [
        "entry 2: must be an object",
        "entry 3: missing hash",
    ]
    assert len(parsed.entries) == 1


# A vPDQ hash file: one `frame_number,quality,pdq_hex,timestamp` line per second of video.
FRAME_0 = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
FRAME_1 = "0f" * 32
VPDQ_LIST = (
    f"0,100,{FRAME_0},0.000\n"
    f"30,20,{'a' * 64},1.000\n"  # too featureless to match: dropped
    f"60,100,{FRAME_0},2.000\n"  # the same shot a second later: pruned
    f"90,100,{FRAME_1},3.000\n"
    f"120,100,{FRAME_1[:-2]},4.000\n"  # damaged
)


def test_a_vpdq_list_becomes_pdq_entries_naming_the_video_and_frame_in_the_given_scope() -> None:
    options = blocklist_io.VpdqImport(video="fake.txt", guild_id=42, reason="reported fake")
    parsed = blocklist_io.parse(
        VPDQ_LIST, "vpdq", default_source="import:fake.txt", added_by="me", vpdq_import=options
    )
    assert [str(e) for e in parsed.errors] == [
        f"line 5: PDQ hash must be 64 hex digits, got '{FRAME_1[:-2]}'"
    ]
    assert [(e.algorithm, e.value, e.guild_id, e.allow) for e in parsed.entries] == [
        (Algorithm.PDQ, FRAME_0, 42, False),
        (Algorithm.PDQ, FRAME_1, 42, False),
    ]
    assert [e.reason for e in parsed.entries] == [
        "reported fake (vPDQ fake.txt frame 0 at 0.000 s)",
        "reported fake (vPDQ fake.txt frame 90 at 3.000 s)",
    ]
    assert all(e.source == "import:fake.txt" and e.added_by == "me" for e in parsed.entries)
    assert parsed.notes == [
        "4 vPDQ frames read, 2 kept as PDQ entries",
        "1 frame below PDQ quality 50 dropped (too featureless to match reliably)",
        "1 frame within 8 bits of the previous kept frame dropped",
    ]


def test_a_vpdq_list_is_instance_wide_unless_a_server_is_given() -> None:
    parsed = blocklist_io.parse(VPDQ_LIST, "vpdq", default_source="import", added_by="")
    assert {e.guild_id for e in parsed.entries} == {None}
    assert parsed.entries[0].reason == "vPDQ frame 0 at 0.000 s"


def test_an_empty_vpdq_list_is_an_error_not_a_silent_success() -> None:
    parsed = blocklist_io.parse("# nothing\n\n", "vpdq", default_source="", added_by="")
    assert parsed.entries == []
    assert [str(e) for e in parsed.errors] == ["document: no frame hashes: the vPDQ list is empty"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_quality": 101}, "quality floor must be between 0 and 100"),
        ({"prune_distance": 257}, "prune distance must be between 0 and 256"),
        ({"guild_id": 0}, "server id must be positive"),
        ({"reason": "x" * 301}, "reason is longer than 300 characters"),
    ],
)
def test_vpdq_import_settings_are_checked_before_any_file_is_read(
    options: dict[str, int | str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        blocklist_io.VpdqImport(**options)


def test_vpdq_is_an_import_format_only() -> None:
    assert "vpdq" in blocklist_io.IMPORT_FORMATS and "vpdq" not in blocklist_io.FORMATS


def test_an_allow_listed_look_alike_is_refused_on_import() -> None:
    text = f"algorithm,hash,allow\nclip,{LOOK_ALIKE},true\n"
    parsed = blocklist_io.parse(text, "csv", default_source="x", added_by="y")
    assert parsed.entries == []
    assert [str(e) for e in parsed.errors] == ["line 2: clip entries cannot be allow-list entries"]

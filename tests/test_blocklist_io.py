"""Blocklist files: CSV and JSON export and import."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from bot.core import blocklist_io
from bot.core.blocklist import Algorithm, BlocklistEntry

PDQ = "f" * 64
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
]


def _export(fmt: str) -> str:
    stream = io.StringIO()
    writer = blocklist_io.WRITERS[fmt](stream)
    for entry in ENTRIES:
        writer.write(entry)
    writer.close()
    return stream.getvalue()


@pytest.mark.parametrize("fmt", blocklist_io.FORMATS)
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
        "line 4: unknown hash algorithm 'sha1' (expected one of: pdq, phash, sha256, md5)",
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

"""Hash lists in the ecosystem's formats: StopNCII-style records, ThreatExchange signal rows, HMA
bank exports and plain hash lists; each read back from its own export, each invalid row named."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime

import pytest

from bot.core import blocklist_io, exchange_formats
from bot.core.blocklist import Algorithm, BlocklistEntry
from bot.core.hash_lists import Removal, line_ranges

PDQ = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
MD5 = "0123456789abcdef0123456789abcdef"
SHA = "ab" * 32
PHASH = "c3" * 8
WHEN = datetime(2026, 5, 1, tzinfo=UTC)


def _entry(id_: int, algorithm: Algorithm, value: str, allow: bool = False) -> BlocklistEntry:
    return BlocklistEntry(id_, algorithm, value, None, "cli", "known fake", "me", WHEN, allow)


ENTRIES = [
    _entry(1, Algorithm.PDQ, PDQ),
    _entry(2, Algorithm.MD5, MD5),
    _entry(3, Algorithm.SHA256, SHA),
    _entry(4, Algorithm.PHASH, PHASH),
    _entry(5, Algorithm.PDQ, "f" * 64, allow=True),  # a known false positive: never shared
]
HOLDS = {
    "stopncii": {Algorithm.PDQ, Algorithm.MD5},
    "te": {Algorithm.PDQ, Algorithm.MD5, Algorithm.SHA256, Algorithm.PHASH},
    "hma": {Algorithm.PDQ, Algorithm.MD5, Algorithm.SHA256, Algorithm.PHASH},
    "pdq-list": {Algorithm.PDQ},
    "md5-list": {Algorithm.MD5},
    "sha256-list": {Algorithm.SHA256},
}


def _export(fmt: str) -> tuple[str, int]:
    stream = io.StringIO()
    writer = blocklist_io.writer(fmt, stream)
    written = sum(writer.write(e) for e in ENTRIES)
    writer.close()
    return stream.getvalue(), written


def _parse(text: str, fmt: str, guild_id: int | None = None) -> blocklist_io.ParsedFile:
    return blocklist_io.parse(
        text, fmt, default_source="import:x", added_by="me", guild_id=guild_id
    )


@pytest.mark.parametrize("fmt", exchange_formats.FORMATS)
def test_an_export_in_each_format_reads_back_to_the_hashes_it_can_hold(fmt: str) -> None:
    text, written = _export(fmt)
    held = [e for e in ENTRIES if not e.allow and e.algorithm in HOLDS[fmt]]
    assert written == len(held)
    if fmt not in ("pdq-list", "sha256-list"):  # 64 hex digits: PDQ or SHA-256 cannot be told
        assert blocklist_io.detect_format(text) == fmt
    parsed = _parse(text, fmt, guild_id=42)
    assert parsed.errors == [] and parsed.removals == []
    assert [(e.algorithm, e.value, e.guild_id, e.allow) for e in parsed.entries] == [
        (e.algorithm, e.value, 42, False) for e in held
    ]
    assert len(parsed.entry_lines) == len(parsed.entries)


def test_a_stopncii_page_adds_active_records_and_removes_withdrawn_ones_by_their_status() -> None:
    records = [
        {"signalType": "ImagePDQ", "hashValue": PDQ, "hashStatus": "Active",
         "caseNumbers": {"C-2": "Active", "C-1": "Received"}, "lastModtimestamp": 1},
        {"signalType": "VideoMD5", "hashValue": MD5, "hashStatus": "Withdrawn",
         "caseNumbers": {}, "lastModtimestamp": 2},
        {"signalType": "ImagePDQ", "hashValue": "0f" * 32, "hashStatus": "Deleted"},
        {"signalType": "URL", "hashValue": "https://example.org", "hashStatus": "Active"},
    ]  # fmt: skip
    page = {"count": 4, "hashRecords": records, "nextPageToken": "t", "hasMoreRecords": True}
    parsed = _parse(json.dumps(page), "stopncii")
    assert parsed.errors == []
    [entry] = parsed.entries
    assert (entry.algorithm, entry.value, entry.reason) == (
        Algorithm.PDQ,
        PDQ,
        "StopNCII cases C-1, C-2",
    )
    # The status decides, whatever the hash is (python-threatexchange compares the hash value
    # with the statuses, so a victim's withdrawal never removes anything there).
    assert parsed.removals == [
        Removal(Algorithm.MD5, MD5, None, "import:x"),
        Removal(Algorithm.PDQ, "0f" * 32, None, "import:x"),
    ]
    assert parsed.removal_lines == ["record 2", "record 3"]
    assert [str(s) for s in parsed.skipped] == ["record 4: URL is not a hash Consentry matches"]
    assert any("one FetchHashes page" in note for note in parsed.notes)


def test_stopncii_records_one_per_line_are_read_too() -> None:
    lines = [
        json.dumps({"signalType": "ImagePDQ", "hashValue": PDQ, "hashStatus": "Received"}),
        json.dumps({"signalType": "VideoMD5", "hashValue": MD5, "hashStatus": "Active"}),
    ]
    parsed = _parse("\n".join(lines), "stopncii")
    assert [e.value for e in parsed.entries] == [PDQ, MD5]
    assert parsed.entry_lines == ["line 1", "line 2"]


def test_every_kind_of_bad_stopncii_record_is_named() -> None:
    records = [
        5,
        {"signalType": "ImageSHA1", "hashValue": PDQ, "hashStatus": "Active"},
        {"signalType": "ImagePDQ", "hashValue": 7, "hashStatus": "Active"},
        {"signalType": "ImagePDQ", "hashValue": "xyz", "hashStatus": "Active"},
        {"signalType": "ImagePDQ", "hashValue": PDQ, "hashStatus": "Pending"},
        {"signalType": "VideoMD5", "hashValue": "short", "hashStatus": "Withdrawn"},
    ]
    parsed = _parse(json.dumps(records), "stopncii")
    assert [str(e) for e in parsed.errors] == [
        "record 1: a hash record must be an object",
        "record 2: unknown signalType 'ImageSHA1' (expected ImagePDQ or VideoMD5)",
        "record 3: hashValue must be text",
        "record 4: pdq hash must be 64 hex digits, got 'xyz'",
        "record 5: unknown hashStatus 'Pending' (expected Active, Deleted, Received, Withdrawn)",
        "record 6: md5 hash must be 32 hex digits, got 'short'",
    ]
    assert "not valid JSON" in str(_parse("{oops", "stopncii").errors[0])
    assert "expected a list of records" in str(_parse('{"count": 0}', "stopncii").errors[0])


def test_threatexchange_rows_take_spaces_tabs_or_commas_and_keep_their_tags() -> None:
    text = (
        "signal_type,signal_value,tags\n"
        f"pdq {PDQ} ncii reviewed\n"
        f"video_md5\t{MD5}\n"
        f"photo_md5,{MD5.upper()}\n"
        "url https://example.org\n"
        "# a comment\n"
        "\n"
        f"crc32 {MD5}\n"
        "pdq\n"
    )
    parsed = _parse(text, "te")
    assert [(e.algorithm, e.value, e.reason) for e in parsed.entries] == [
        (Algorithm.PDQ, PDQ, "tags: ncii reviewed"),
        (Algorithm.MD5, MD5, ""),
        (Algorithm.MD5, MD5, ""),
    ]
    assert parsed.entry_lines == ["line 2", "line 3", "line 4"]
    assert [str(s) for s in parsed.skipped] == ["line 5: url is not a hash Consentry matches"]
    assert [e.where for e in parsed.errors] == ["line 8", "line 9"]
    assert "unknown signal type 'crc32'" in parsed.errors[0].message
    assert parsed.errors[1].message == "missing the hash after the signal type"


def _hma_content(content_id: int, disable_until_ts: object, signals: dict[str, str]) -> dict:
    """A bank content as HMA's ``GET /c/bank/<bank>/content/<id>?include_signals=true`` shows
    it."""
    return {
        "id": content_id,
        "disable_until_ts": disable_until_ts,
        "collab_metadata": {},
        "original_media_uri": None,
        "bank": {"name": "NCII_FAKES", "matching_enabled_ratio": 1.0},
        "signals": signals,
    }


def test_hma_bank_contents_as_its_api_shows_them_name_the_source_and_disabled_ones_withdraw() -> (
    None
):
    hour = int(time.time()) + 3600
    contents = [
        _hma_content(1, 1, {"pdq": PDQ, "video_md5": MD5}),
        _hma_content(2, 0, {"pdq": "0f" * 32}),
        _hma_content(3, hour, {"pdq": "1e" * 32}),  # disabled for another hour
        _hma_content(4, 1_600_000_000, {"pdq": "2d" * 32}),  # disabled until 2020: enabled now
        _hma_content(5, 1, {"vpdq": "..."}),
        _hma_content(6, 1, {}),
        _hma_content(7, "soon", {"pdq": "3c" * 32}),
    ]
    parsed = _parse(json.dumps(contents), "hma")
    assert {e.source for e in parsed.entries} == {"hma:NCII_FAKES"}
    assert [(e.algorithm, e.value) for e in parsed.entries] == [
        (Algorithm.PDQ, PDQ),
        (Algorithm.MD5, MD5),
        (Algorithm.PDQ, "2d" * 32),
    ]
    assert parsed.removals == [
        Removal(Algorithm.PDQ, "0f" * 32, None, "hma:NCII_FAKES"),
        Removal(Algorithm.PDQ, "1e" * 32, None, "hma:NCII_FAKES"),
    ]
    assert [str(s) for s in parsed.skipped] == ["content 5: vpdq is not a hash Consentry matches"]
    assert [str(e) for e in parsed.errors] == [
        'content 6: a bank content must be an object with "signals"',
        "content 7: disable_until_ts must be a whole number (0, 1 or a Unix time)",
    ]


def test_a_disabled_hma_bank_withdraws_all_its_contents_and_a_wrapped_bank_is_read_too() -> None:
    content = _hma_content(1, 1, {"pdq": PDQ})
    content["bank"] = {"name": "PAUSED", "matching_enabled_ratio": 0.0}
    parsed = _parse(json.dumps([content]), "hma")
    assert not parsed.entries
    assert parsed.removals == [Removal(Algorithm.PDQ, PDQ, None, "hma:PAUSED")]
    wrapped = {"bank": {"name": "OTHER"}, "contents": [{"enabled": True, "signals": {"pdq": PDQ}}]}
    parsed = _parse(json.dumps(wrapped), "hma")
    assert [(e.source, e.value) for e in parsed.entries] == [("hma:OTHER", PDQ)]


def test_a_plain_list_is_one_hash_a_line_with_comments() -> None:
    text = f"# known fakes\n{MD5}\n\n{MD5[:-1]}  # damaged\n"
    parsed = _parse(text, "md5-list")
    assert [e.value for e in parsed.entries] == [MD5]
    assert [str(e) for e in parsed.errors] == [
        f"line 4: md5 hash must be 32 hex digits, got '{MD5[:-1]}'"
    ]
    assert blocklist_io.detect_format(f"{MD5}\n") == "md5-list"
    # 64 digits may be PDQ or SHA-256: never guessed (read as CSV, which then names the problem).
    assert blocklist_io.detect_format(f"{PDQ}\n") == "csv"
    assert "algorithm and hash" in str(_parse(f"{PDQ}\n", "csv").errors[0])


def test_long_reports_name_every_line_in_ranges() -> None:
    places = ["line 2", "line 3", "line 4", "line 9", "line 11", "line 12", "document"]
    assert line_ranges(places) == "line 2-4, 9, 11-12, document"
    assert line_ranges(["record 1"]) == "record 1"

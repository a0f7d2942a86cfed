"""Provenance: AI-generator metadata and C2PA manifests, read from benign test images."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import pytest
from PIL import PngImagePlugin

from bot.config import Config, LikenessConfig
from bot.core.provenance import read_provenance
from bot.core.verdict import Action
from bot.engine import open_engine
from tests.imagery import encode, photo

XMP_AI = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
    b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
    b'trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>'
)


def _png(**text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value, zip=key == "workflow")
    return encode(photo("coffee").resize((64, 48)), "PNG", pnginfo=info)


def _jpeg_with_segment(marker: int, body: bytes) -> bytes:
    data = encode(photo("rocket").resize((64, 48)))
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
    return data[:2] + segment + data[2:]


def test_a_plain_photo_claims_nothing() -> None:
    found = read_provenance(encode(photo("astronaut")))
    assert not found.ai_generator and not found.c2pa and found.details == ()


@pytest.mark.parametrize(
    "text",
    [
        {"parameters": "a cat, Steps: 20, Sampler: Euler a, CFG scale: 7"},
        {"workflow": '{"nodes": []}'},
        {"Software": "Midjourney"},
        {"Comment": "made with Stable Diffusion XL"},
    ],
)
def test_png_text_written_by_ai_generators_is_found(text: dict[str, str]) -> None:
    found = read_provenance(_png(**text))
    assert found.ai_generator and found.details


def test_ordinary_software_names_are_not_ai_markers() -> None:
    assert not read_provenance(_png(Software="Adobe Photoshop 25.0")).ai_generator


def test_the_iptc_ai_source_type_in_xmp_is_found() -> None:
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + XMP_AI
    found = read_provenance(_jpeg_with_segment(0xE1, xmp))
    assert found.ai_generator
    assert "IPTC digital source type trainedAlgorithmicMedia" in found.details


def test_exif_software_naming_a_generator_is_found() -> None:
    image = photo("chelsea").resize((64, 48))
    exif = image.getexif()
    exif[0x0131] = "DALL-E 3"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    assert read_provenance(buffer.getvalue()).ai_generator


def test_a_c2pa_manifest_is_noticed_in_jpeg_png_and_webp() -> None:
    jumbf = b"JP\x00\x01" + b"\x00\x00\x00\x10jumb" + b"\x00\x00\x00\x20jumdc2pa" + b"\x00" * 16
    assert read_provenance(_jpeg_with_segment(0xEB, jumbf)).c2pa
    png = _png()
    chunk = struct.pack(">I", 8) + b"caBX" + b"c2pa\x00\x00\x00\x00"
    chunk += struct.pack(">I", zlib.crc32(b"caBXc2pa\x00\x00\x00\x00"))
    assert read_provenance(png[:33] + chunk + png[33:]).c2pa
    webp = encode(photo("coffee").resize((64, 48)), "WEBP")
    c2pa = b"C2PA" + struct.pack("<I", 4) + b"c2pa"
    riff = webp[:4] + struct.pack("<I", len(webp) - 8 + len(c2pa)) + webp[8:] + c2pa
    assert read_provenance(riff).c2pa


def test_malformed_metadata_never_raises() -> None:
    rng = random.Random(7)
    samples = [_png(parameters="x"), _jpeg_with_segment(0xE1, b"Exif\x00\x00" + b"\xff" * 40)]
    for sample in samples:
        for _ in range(150):
            data = bytearray(sample)
            for _ in range(4):
                data[rng.randrange(len(data))] = rng.randrange(256)
            read_provenance(bytes(data[: rng.randrange(8, len(data))]))


async def test_every_scan_reports_provenance_as_scores_only(tmp_path: Path) -> None:
    config = Config(
        storage_url=f"sqlite:///{tmp_path / 'db'}",
        detectors=(),
        likeness=LikenessConfig(enabled=False),
    )
    async with open_engine(config) as engine:
        verdict = await engine.scan(_png(parameters="a cat, Steps: 20"))
    assert verdict.scores["provenance.ai_metadata"] == 1.0
    assert verdict.scores["provenance.c2pa"] == 0.0
    assert verdict.action is Action.ALLOW  # a signal, not a verdict: AI art is not abuse

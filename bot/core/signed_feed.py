"""Signed hash feeds between instances: Ed25519 keys, the feed document, its signature.

A published feed is a JSON envelope::

    {"format": "consentry-signed-feed", "version": 1, "key_id": "<16 hex>",
     "signature": "<base64 Ed25519 signature of the payload's UTF-8 bytes>",
     "payload": "<the feed document, as a JSON string>"}

The payload is signed as the exact bytes it travels as, so no canonical form of JSON is needed:
change one character anywhere in it and the signature fails. The feed document itself::

    {"format": "consentry-feed", "version": 1, "publisher": "...", "published_at": "<ISO 8601>",
     "entries": [{"algorithm": "pdq", "hash": "...", "label": "ncii", "added_at": "..."}],
     "removed": [{"algorithm": "pdq", "hash": "...", "removed_at": "..."}]}

Only hashes, labels and timestamps: never media, user or server ids, or reasons (which may name
people). A subscriber pins the publisher's public key (base64 of its 32 raw bytes) and refuses a
feed that is unsigned, signed by another key, or altered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.core.blocklist import Algorithm, normalise_hash
from bot.core.hash_lists import Collector, ParsedFile

ENVELOPE_FORMAT = "consentry-signed-feed"
FEED_FORMAT = "consentry-feed"
VERSION = 1
_LABEL_LIMIT = 64


class FeedError(ValueError):
    """A feed that must not be used: unsigned, signed by another key, altered or malformed."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One hash a feed publishes (or takes back)."""

    algorithm: Algorithm
    value: str
    at: datetime
    """When it was added (or removed)."""
    label: str = ""


def generate_key() -> tuple[bytes, str]:
    """A new signing key: its PEM (keep it secret) and its public key, to give subscribers."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, public_key_text(key.public_key())


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """A signing key from its PEM; FeedError if it is not an Ed25519 private key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise FeedError(f"not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise FeedError("the key is not an Ed25519 key")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    """The form subscribers pin: base64 of the key's 32 raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public_key(text: str) -> Ed25519PublicKey:
    """A pinned public key (base64 of 32 bytes); FeedError if it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise FeedError(f"not an Ed25519 public key (base64 of 32 bytes): {exc}") from None


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of its SHA-256."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(
    key: Ed25519PrivateKey,
    publisher: str,
    entries: list[FeedItem],
    removed: list[FeedItem],
    at: datetime,
) -> str:
    """The signed envelope of a feed of ``entries`` and ``removed``, published at ``at``."""
    document = {
        "format": FEED_FORMAT,
        "version": VERSION,
        "publisher": publisher,
        "published_at": at.isoformat(),
        "entries": [_item(i, "added_at") for i in entries],
        "removed": [_item(i, "removed_at") for i in removed],
    }
    payload = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    signature = key.sign(payload.encode("utf-8"))
    envelope = {
        "format": ENVELOPE_FORMAT,
        "version": VERSION,
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(signature).decode("ascii"),
        "payload": payload,
    }
    return json.dumps(envelope, ensure_ascii=False, indent=1) + "\n"


def _item(item: FeedItem, when: str) -> dict[str, str]:
    out = {"algorithm": item.algorithm.value, "hash": item.value, when: item.at.isoformat()}
    if when == "added_at":
        out["label"] = item.label[:_LABEL_LIMIT]
    return out


def is_signed(text: str) -> bool:
    """Whether ``text`` looks like a signed feed envelope (before it is verified)."""
    return f'"{ENVELOPE_FORMAT}"' in text.lstrip()[:200]


def verify(text: str, pinned: Ed25519PublicKey) -> str:
    """The payload of a signed feed, once its signature by ``pinned`` is checked; FeedError
    says why the feed is refused."""
    unsigned = "unsigned: this is not a signed Consentry feed, and its publisher's key is pinned"
    try:
        envelope = json.loads(text)
    except json.JSONDecodeError:
        raise FeedError(unsigned) from None
    if not isinstance(envelope, dict) or envelope.get("format") != ENVELOPE_FORMAT:
        raise FeedError(unsigned)
    if envelope.get("version") != VERSION:
        raise FeedError(f"unsupported signed feed version {envelope.get('version')!r}")
    payload, signature = envelope.get("payload"), envelope.get("signature")
    if not isinstance(payload, str) or not isinstance(signature, str):
        raise FeedError("malformed: the envelope lacks its payload or signature")
    expected = key_id(pinned)
    if envelope.get("key_id") != expected:
        raise FeedError(f"signed by key {envelope.get('key_id')!r}, not the pinned key {expected}")
    try:
        pinned.verify(base64.b64decode(signature, validate=True), payload.encode("utf-8"))
    except (InvalidSignature, binascii.Error, ValueError):
        raise FeedError("altered: the signature does not match the feed's content") from None
    return payload


def parse_payload(payload: str, out: Collector) -> ParsedFile:
    """A verified feed document's entries and removals, into ``out`` (its source and scope)."""
    try:
        document: Any = json.loads(payload)
    except json.JSONDecodeError as exc:
        out.error("document", f"the signed feed is not valid JSON: {exc.msg}")
        return out.result()
    if not isinstance(document, dict) or document.get("format") != FEED_FORMAT:
        out.error("document", f'not a Consentry feed (expected "format": "{FEED_FORMAT}")')
        return out.result()
    for key, remove in (("entries", False), ("removed", True)):
        items = document.get(key, [])
        if not isinstance(items, list):
            out.error("document", f"{key} must be a list")
            continue
        for i, item in enumerate(items, start=1):
            where = f"{key} {i}"
            if not isinstance(item, dict):
                out.error(where, "must be an object")
                continue
            try:
                algorithm = Algorithm.parse(str(item.get("algorithm", "")))
                value = normalise_hash(algorithm, str(item.get("hash", "")))
            except ValueError as exc:
                out.error(where, str(exc))
                continue
            if algorithm.semantic:
                out.error(where, "clip embeddings are not shared in feeds, only hashes")
                continue
            if remove:
                out.remove(where, algorithm, value)
            else:
                label = item.get("label")
                out.entry(where, algorithm, value, label if isinstance(label, str) else "")
    return out.result()

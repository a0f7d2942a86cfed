"""Evidence encryption: media bytes sealed with AES-256-GCM under a key from the environment.

The key never touches the database or the config file. Each sealed item binds its context (the
case and the media hash) as associated data, so ciphertext moved to another case, or altered in
any way, fails to open instead of yielding wrong evidence.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "CONSENTRY_EVIDENCE_KEY"
_NONCE_BYTES = 12


class EvidenceError(Exception):
    """A key is malformed, or sealed evidence cannot be opened (wrong key, tampered, moved)."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """Encrypted evidence: which key sealed it, the nonce, and ciphertext with its GCM tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


class EvidenceKey:
    """A 256-bit evidence key. ``key_id`` names it without revealing it (for key rotation)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise EvidenceError(f"the evidence key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"consentry-key-id:" + key).hexdigest()[:16]

    @classmethod
    def generate(cls) -> tuple[EvidenceKey, str]:
        """A new random key and its text form (what goes in the environment variable)."""
        raw = secrets.token_bytes(32)
        return cls(raw), base64.urlsafe_b64encode(raw).decode()

    @classmethod
    def parse(cls, text: str) -> EvidenceKey:
        """Read a key written as base64 (standard or URL-safe) or 64 hex digits."""
        text = text.strip()
        try:
            raw = bytes.fromhex(text) if len(text) == 64 else _b64(text)
        except (ValueError, binascii.Error):
            raise EvidenceError(
                "the evidence key is neither base64 nor 64 hex digits "
                "(make one with: consentry evidence-key)"
            ) from None
        return cls(raw)

    @classmethod
    def from_env(cls, name: str = KEY_ENV) -> EvidenceKey | None:
        """The key in environment variable ``name``, or None if it is unset or empty."""
        text = os.environ.get(name, "")
        return cls.parse(text) if text.strip() else None

    def seal(self, plaintext: bytes, context: str) -> Sealed:
        """Encrypt ``plaintext``, bound to ``context`` (e.g. ``case 12 sha256 ab..``)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext, context.encode())
        return Sealed(self.key_id, nonce, ciphertext)

    def open(self, sealed: Sealed, context: str) -> bytes:
        """Decrypt ``sealed``; EvidenceError if another key sealed it or anything was altered."""
        if sealed.key_id != self.key_id:
            raise EvidenceError(
                f"this evidence was sealed with key {sealed.key_id}, not the current key "
                f"{self.key_id}"
            )
        try:
            return self._aead.decrypt(sealed.nonce, sealed.ciphertext, context.encode())
        except InvalidTag:
            raise EvidenceError(
                "the evidence failed its integrity check (altered or moved)"
            ) from None


def evidence_context(case_id: int, sha256: str) -> str:
    """The associated data that binds evidence to its case and media."""
    return f"consentry-evidence:case={case_id}:sha256={sha256}"


def _b64(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    if "-" in text or "_" in text:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)

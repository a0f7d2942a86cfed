"""Gateway transport compression (``compress=zlib-stream`` / ``zstd-stream``).

Discord keeps one compression context for the whole connection and ends every message on a
flush boundary; clients keep one matching decompressor and detect the end of a message by the
``00 00 ff ff`` Z_SYNC_FLUSH suffix (zlib). A fresh context per message would break them.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Any, Protocol


class Encoder(Protocol):
    """Turns one gateway message into what goes on the wire."""

    binary: bool

    def encode(self, text: str) -> bytes: ...


class PlainEncoder:
    """No transport compression: messages go out as text frames."""

    binary = False

    def encode(self, text: str) -> bytes:
        return text.encode()


class ZlibStreamEncoder:
    """One zlib stream per connection, each message flushed with Z_SYNC_FLUSH."""

    binary = True

    def __init__(self) -> None:
        self._context = zlib.compressobj()

    def encode(self, text: str) -> bytes:
        return self._context.compress(text.encode()) + self._context.flush(zlib.Z_SYNC_FLUSH)


class ZstdStreamEncoder:
    """One zstd stream per connection, each message ending a block (needs ``zstandard``)."""

    binary = True

    def __init__(self, module: Any) -> None:
        self._module = module
        self._context = module.ZstdCompressor().compressobj()

    def encode(self, text: str) -> bytes:
        data: bytes = self._context.compress(text.encode())
        flushed: bytes = self._context.flush(self._module.COMPRESSOBJ_FLUSH_BLOCK)
        return data + flushed


class UnsupportedCompression(ValueError):
    """The client asked for a transport compression the sandbox cannot produce."""


def encoder_for(compress: str | None) -> Encoder:
    """The encoder for a ``compress`` query value (None or empty: plain text)."""
    if not compress:
        return PlainEncoder()
    if compress == "zlib-stream":
        return ZlibStreamEncoder()
    if compress == "zstd-stream":
        try:
            module = importlib.import_module("zstandard")
        except ImportError as exc:
            raise UnsupportedCompression(
                "compress=zstd-stream needs the 'zstandard' package in the sandbox's environment"
            ) from exc
        return ZstdStreamEncoder(module)
    raise UnsupportedCompression(f"unknown compress value {compress!r}")

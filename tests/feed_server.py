"""A local HTTPS host for hash lists: a real TLS server (its own certificate authority, made here)
that serves one feed with an ETag and Last-Modified, answers conditional requests with 304, and
can be told to fail, redirect or send too much."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.feeds.limits import FeedLimits


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_tls(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA (its PEM written to ``ca.pem``) and a server context for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("consentry test CA"))
        .issuer_name(_name("consentry test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


@dataclass
class FeedHost:
    """What the host serves at ``/feed`` and what it was asked."""

    body: str = ""
    status: int = 200
    """Answer this instead of the feed (a 500, or 302 with a Location)."""
    pad: int = 0
    """Bytes of spaces sent after the body (a feed that is too large)."""
    port: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)
    ca_file: Path = Path()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/feed"

    def limits(self, **changes: object) -> FeedLimits:
        """Limits that allow this host and trust its CA."""
        values: dict[str, object] = {
            "allowed_hosts": (f"127.0.0.1:{self.port}",),
            "ca_file": str(self.ca_file),
        }
        values.update(changes)
        return FeedLimits(**values)  # type: ignore[arg-type]

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body.encode()).hexdigest()[:16] + '"'

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.headers))
        if self.status == 302:
            raise web.HTTPFound("https://elsewhere.example/feed")
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers={"ETag": self.etag})
        headers = {"ETag": self.etag, "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"}
        return web.Response(text=self.body + " " * self.pad, headers=headers)


@asynccontextmanager
async def serve_tls(app: web.Application, folder: Path) -> AsyncIterator[tuple[int, Path]]:
    """Serve ``app`` over HTTPS on a free local port: (the port, the CA file to trust)."""
    ca_file, context = make_tls(folder)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    try:
        yield server.sockets[0].getsockname()[1], ca_file  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def feed_host(folder: Path) -> AsyncIterator[FeedHost]:
    """A running :class:`FeedHost` on a free local port."""
    host = FeedHost()
    app = web.Application()
    app.router.add_get("/feed", host.handle)
    async with serve_tls(app, folder) as (host.port, host.ca_file):
        yield host

"""A local, faithful imitation of Discord (REST API v10, gateway v10, CDN) for tests and demos.

The real discord.py client connects to it unmodified; see :class:`Sandbox` for how to point it
there, :mod:`bot.sandbox.demo` for a ready-made demo server.
"""

from bot.sandbox.demo import DemoWorld, demo_world
from bot.sandbox.permissions import Overwrite
from bot.sandbox.permissions import P as Permissions
from bot.sandbox.recorder import RecordedRequest, UploadedFile
from bot.sandbox.server import Sandbox

__all__ = [
    "DemoWorld",
    "Overwrite",
    "Permissions",
    "RecordedRequest",
    "Sandbox",
    "UploadedFile",
    "demo_world",
]

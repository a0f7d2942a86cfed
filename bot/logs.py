"""Logs as JSON lines when nobody reads them on a terminal (a container, a service manager).

Each record is one object: ``at`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and
``case_id`` / ``guild_id`` when the code logging it passes them (``extra={"case_id": ...}``), plus
``error`` with the traceback. A :class:`Redact` filter removes given secrets (the bot token)
from every message before it is written. Media bytes are never logged anywhere.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_EXTRAS = ("case_id", "guild_id", "message_id")


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _EXTRAS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class Redact(logging.Filter):
    """Replaces each secret in a record's message (and traceback) with ``[redacted]``."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "[redacted]")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure(
    *, verbose: bool, json_lines: bool | None = None, secrets: tuple[str, ...] = ()
) -> None:
    """Set up the root logger: JSON lines unless stderr is a terminal (or as ``json_lines``
    says), secrets redacted."""
    handler = logging.StreamHandler(sys.stderr)
    as_json = not sys.stderr.isatty() if json_lines is None else json_lines
    handler.setFormatter(
        JsonFormatter() if as_json else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(Redact(*secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)

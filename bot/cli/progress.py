"""Progress on a terminal; silence when output is piped or redirected."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A one-line counter on stderr, redrawn at most every 0.1 s, only when stderr is a tty."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._last = 0.0

    def advance(self, step: int = 1) -> None:
        self.done += step
        now = time.monotonic()
        if self._enabled and (now - self._last >= 0.1 or self.done == self.total):
            self._last = now
            of = f"/{self.total}" if self.total is not None else ""
            self._stream.write(f"\r{self.label}: {self.done}{of}")
            self._stream.flush()

    def close(self) -> None:
        if self._enabled and self.done:
            self._stream.write("\r\033[K")
            self._stream.flush()

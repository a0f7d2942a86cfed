"""What the sandbox saw: every REST request, and the failures queued for upcoming ones."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RouteMatcher = str | re.Pattern[str]


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request (``files[n]``)."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    """A REST request and the sandbox's answer.

    ``route`` is the template (``/channels/{channel_id}/messages/{message_id}``) and ``path`` the
    concrete path, both without the ``/api/v10`` prefix; unknown routes keep ``route == path``.
    """

    method: str
    path: str
    route: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    reason: str | None
    json: Any
    files: list[UploadedFile]
    status: int = 0
    response: Any = None
    time: float = 0.0
    injected: bool = False  # answered by fail_next, not by the handler

    def matches(self, method: str | None, route: RouteMatcher | None) -> bool:
        if method is not None and self.method != method.upper():
            return False
        return route is None or route_matches(route, self.route, self.path)


def route_matches(route: RouteMatcher, template: str, path: str) -> bool:
    """A string matches the template or the concrete path exactly; a pattern searches the path."""
    if isinstance(route, re.Pattern):
        return route.search(path) is not None or route.search(template) is not None
    return route in (template, path)


@dataclass
class _Waiter:
    method: str | None
    route: RouteMatcher | None
    predicate: Callable[[RecordedRequest], bool] | None
    future: asyncio.Future[RecordedRequest]

    def wants(self, request: RecordedRequest) -> bool:
        if not request.matches(self.method, self.route):
            return False
        return self.predicate is None or self.predicate(request)


class RequestLog:
    """A bounded log of requests with event-driven waiting (no polling)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._entries: deque[RecordedRequest] = deque(maxlen=limit)
        self._waiters: list[_Waiter] = []

    def __len__(self) -> int:
        return len(self._entries)

    def all(self) -> list[RecordedRequest]:
        return list(self._entries)

    def add(self, request: RecordedRequest) -> None:
        self._entries.append(request)
        still_waiting: list[_Waiter] = []
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            if waiter.wants(request):
                waiter.future.set_result(request)
            else:
                still_waiting.append(waiter)
        self._waiters = still_waiting

    def find(
        self,
        method: str | None = None,
        route: RouteMatcher | None = None,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        since: int = 0,
    ) -> list[RecordedRequest]:
        found = [r for r in list(self._entries)[since:] if r.matches(method, route)]
        return [r for r in found if predicate is None or predicate(r)]

    async def wait_for(
        self,
        method: str | None,
        route: RouteMatcher | None,
        *,
        within: float,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        since: int = 0,
    ) -> RecordedRequest:
        """The first matching request at index ``since`` or later, waiting ``within`` seconds."""
        existing = self.find(method, route, predicate, since)
        if existing:
            return existing[0]
        future: asyncio.Future[RecordedRequest] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(method, route, predicate, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, within)
        except TimeoutError:
            wanted = f"{method or '*'} {route if route is not None else '*'}"
            raise TimeoutError(f"no request {wanted} within {within}s") from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


@dataclass
class Failure:
    """A queued failure for the next ``times`` requests matching ``method`` and ``route``."""

    method: str | None
    route: RouteMatcher
    status: int
    times: int
    retry_after: float = 0.3
    code: int | None = None
    global_: bool = False
    message: str | None = None
    served: int = field(default=0)


class FailurePlan:
    """Failures waiting to be injected, consumed first-come first-served."""

    def __init__(self) -> None:
        self._pending: list[Failure] = []

    def add(self, failure: Failure) -> None:
        self._pending.append(failure)

    def take(self, method: str, template: str, path: str) -> Failure | None:
        for failure in self._pending:
            if failure.method is not None and failure.method.upper() != method:
                continue
            if not route_matches(failure.route, template, path):
                continue
            failure.served += 1
            if failure.served >= failure.times:
                self._pending.remove(failure)
            return failure
        return None

    def clear(self) -> None:
        self._pending.clear()

    @property
    def pending(self) -> list[Failure]:
        return list(self._pending)

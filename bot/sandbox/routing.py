"""Route declarations shared by the REST modules: what a handler gets and returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.sandbox import errors
from bot.sandbox.context import Context
from bot.sandbox.recorder import UploadedFile

Auth = Literal["bot", "none", "optional"]
Reply = tuple[int, Any]


@dataclass
class Call:
    """One parsed REST request as a handler sees it."""

    ctx: Context
    method: str
    route: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    files: list[UploadedFile] = field(default_factory=list)
    reason: str | None = None

    def snowflake(self, name: str) -> int:
        """A path parameter as an id; Discord answers 400 50035 for one that is not a number."""
        raw = self.params[name]
        if not raw.isdigit():
            raise errors.invalid_form(
                name, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.'
            )
        return int(raw)

    def body(self) -> dict[str, Any]:
        """The JSON object body ({} when there is none)."""
        if self.json is None:
            return {}
        if not isinstance(self.json, dict):
            raise errors.bad_request(50109, "The request body contains invalid JSON.")
        return self.json

    @property
    def bot_id(self) -> int:
        return self.ctx.world.application.bot_user_id


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class RouteSpec:
    method: str
    template: str
    handler: Handler
    auth: Auth


class Routes:
    """A module's route table, filled by the :meth:`route` decorator."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(
        self, method: str, template: str, *, auth: Auth = "bot"
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(RouteSpec(method, template, handler, auth))
            return handler

        return register


NO_CONTENT: Reply = (204, None)

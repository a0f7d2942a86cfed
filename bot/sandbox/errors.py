"""Discord's JSON error responses, raised by handlers and rendered by the REST layer.

Bodies copy Discord's exactly (``{"message": ..., "code": ...}``) because clients branch on the
numeric code: discord.py exposes it as ``HTTPException.code`` and bots test for 50013, 10008...
"""

from __future__ import annotations

from typing import Any


class DiscordError(Exception):
    """An error response: HTTP status, Discord JSON error code and message."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """The JSON body Discord sends for this error."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def unauthorized() -> DiscordError:
    return DiscordError(401, 0, "401: Unauthorized")


def not_found_route() -> DiscordError:
    return DiscordError(404, 0, "404: Not Found")


def method_not_allowed() -> DiscordError:
    return DiscordError(405, 0, "405: Method Not Allowed")


def unknown(kind: str) -> DiscordError:
    """404 for a missing object: ``unknown("Message")`` is code 10008, as Discord numbers them."""
    return DiscordError(404, UNKNOWN_CODES[kind], f"Unknown {kind}")


UNKNOWN_CODES: dict[str, int] = {
    "Account": 10001,
    "Application": 10002,
    "Channel": 10003,
    "Guild": 10004,
    "Member": 10007,
    "Message": 10008,
    "Role": 10011,
    "User": 10013,
    "Emoji": 10014,
    "Webhook": 10015,
    "Ban": 10026,
    "Sticker": 10060,
    "interaction": 10062,
    "application command": 10063,
}


def missing_access() -> DiscordError:
    """403 50001: the channel is not visible to the bot at all."""
    return DiscordError(403, 50001, "Missing Access")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def invalid_form(field: str, code: str, message: str) -> DiscordError:
    """400 50035 with Discord's nested ``errors`` tree for one field (dotted path)."""
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field.split(".")):
        tree = {part: tree}
    return DiscordError(400, 50035, "Invalid Form Body", tree)


def bad_request(code: int, message: str) -> DiscordError:
    return DiscordError(400, code, message)


def forbidden(code: int, message: str) -> DiscordError:
    return DiscordError(403, code, message)


def empty_message() -> DiscordError:
    return DiscordError(400, 50006, "Cannot send an empty message")


def already_acknowledged() -> DiscordError:
    return DiscordError(400, 40060, "Interaction has already been acknowledged.")


def too_large() -> DiscordError:
    return DiscordError(413, 40005, "Request entity too large")

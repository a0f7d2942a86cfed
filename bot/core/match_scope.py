"""Which blocklist matches count for one server, beyond the plain rule of scope.

By default a server sees the instance-wide entries and its own. The safeguards of shared lists
(:mod:`bot.safeguards`) widen or narrow that per match: entries another participating server
confirmed count too (``shared``); entries of a list that demands closer matches than this one
do not (``excluded``); and entries under review only flag (``held``), never remove.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from bot.core.verdict import Action, Match, Reason


@dataclass(frozen=True, slots=True)
class MatchScope:
    """Per-entry exceptions for one server's view of one scan's matches."""

    shared: Mapping[int, int] = field(default_factory=dict)
    """Entry id to the participating server that confirmed it (counted here although it is
    that server's entry)."""
    excluded: frozenset[int] = frozenset()
    """Entries whose list demands a closer match than this one."""
    held: Mapping[int, str] = field(default_factory=dict)
    """Entry id to why it only flags for now (a flood of matches, a moderator's dispute)."""

    def counts(self, match: Match, guild_id: int | None) -> bool:
        """Whether ``match`` counts for server ``guild_id``."""
        if match.entry_id in self.excluded:
            return False
        return match.guild_id in (None, guild_id) or (
            not match.allow and match.entry_id in self.shared
        )

    def adjust(self, reasons: Iterable[Reason]) -> list[Reason]:
        """Blocklist reasons as this scope has them: a shared entry says where it comes from,
        and a held one flags instead of removing, saying why."""
        out = []
        for reason in reasons:
            entry = reason.entry_id
            if entry is not None and entry in self.shared:
                shared = f"{reason.message}, confirmed in server {self.shared[entry]} and shared"
                reason = replace(reason, message=shared)
            if entry is not None and entry in self.held and reason.action is Action.QUARANTINE:
                held = f"{reason.message}; only flagged: {self.held[entry]}"
                reason = replace(reason, action=Action.FLAG, message=held)
            out.append(reason)
        return out


DEFAULT_SCOPE = MatchScope()

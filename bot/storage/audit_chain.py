"""The audit log's hash chain, shared by every backend so that they all hash the same bytes.

Each record's ``hash`` is ``sha256(prev_hash || canonical_json(fields))`` where ``prev_hash`` is the
previous record's hash as 64 lowercase hex ASCII characters (:data:`GENESIS_HASH` for the first
record) and ``fields`` are the record's ``id``, ``at`` (ISO-8601 UTC, microseconds), ``guild_id``,
``actor``, ``action``, ``subject`` and ``details``. Canonical JSON: sorted keys, no whitespace,
UTF-8, no NaN/Infinity. Anyone holding an export of the log can recompute the chain by these rules.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from bot.storage.records import AuditRecord, AuditVerification

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically; TypeError/ValueError if it is not plain JSON."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def normalise_details(details: dict[str, Any]) -> dict[str, Any]:
    """Return ``details`` as it will read back from storage (tuples become lists, keys strings...).

    Hashing the normalised form means a record hashes the same before and after a round trip.
    """
    result = json.loads(canonical_json(details))
    if not isinstance(result, dict):  # pragma: no cover - json of a dict is a dict
        raise TypeError("audit details must be a JSON object")
    return result


def timestamp_text(at: datetime) -> str:
    """The one textual form of a timestamp that enters a hash."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(
    prev_hash: str,
    *,
    id: int,
    at: datetime,
    guild_id: int | None,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
) -> str:
    """Compute a record's hash from its predecessor's hash and its own fields."""
    fields = {
        "id": id,
        "at": timestamp_text(at),
        "guild_id": guild_id,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    payload = prev_hash.encode("ascii") + canonical_json(fields).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def expected_hash(record: AuditRecord) -> str:
    """The hash ``record`` should carry given its fields and its stored ``prev_hash``."""
    return record_hash(
        record.prev_hash,
        id=record.id,
        at=record.at,
        guild_id=record.guild_id,
        actor=record.actor,
        action=record.action,
        subject=record.subject,
        details=record.details,
    )


class ChainVerifier:
    """Walks records in id order and remembers the first one that breaks the chain.

    Backends feed it one record at a time, in batches they fetch (so a long log is never loaded
    at once), and stop at the first record :meth:`check` rejects.
    """

    def __init__(self) -> None:
        self.head = GENESIS_HASH
        self.checked = 0
        self.bad: int | None = None

    def check(self, record: AuditRecord) -> bool:
        """Check the next record; return False (and remember it) if it breaks the chain."""
        # A wrong prev_hash means a record was removed, inserted or reordered before this one;
        # a wrong hash means this record's own fields were edited.
        if record.prev_hash != self.head or expected_hash(record) != record.hash:
            self.reject(record.id)
            return False
        self.checked += 1
        self.head = record.hash
        return True

    def reject(self, record_id: int) -> None:
        """Mark ``record_id`` bad without checking it (a backend could not even parse it)."""
        self.checked += 1
        self.bad = record_id

    def result(self) -> AuditVerification:
        """The verification so far."""
        return AuditVerification(
            ok=self.bad is None, checked=self.checked, first_bad_id=self.bad, head=self.head
        )

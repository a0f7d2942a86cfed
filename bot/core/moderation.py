"""What to do about one message, given the verdicts on each piece of its media."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.policy import BLOCKLIST_SIGNAL, LIKENESS_SIGNAL, NEAR_DUPLICATE_SIGNAL
from bot.core.verdict import Action, Verdict


@dataclass(frozen=True, slots=True)
class Decision:
    """The message-level outcome: remove it or not, and whether moderators hear about it."""

    action: Action
    """The most severe action asked for (after the setup and unscannable rules below)."""
    alert: bool
    """Whether moderators should be alerted."""
    verdicts: tuple[Verdict, ...]
    """The verdicts that justify the action (those at the decided action's severity or above)."""

    @property
    def remove(self) -> bool:
        return self.action is Action.QUARANTINE


def is_known_abuse(verdict: Verdict) -> bool:
    """True when a blocklist hash match (not a model's judgement, nor a mere look-alike of
    confirmed media) asks for quarantine."""
    return any(
        r.action is Action.QUARANTINE
        and r.signal.startswith(BLOCKLIST_SIGNAL)
        and r.signal != NEAR_DUPLICATE_SIGNAL
        for r in verdict.reasons
    )


def protects_member(verdict: Verdict) -> bool:
    """True when a protected member's face on explicit media asks for quarantine."""
    return any(
        r.action is Action.QUARANTINE and r.signal == LIKENESS_SIGNAL for r in verdict.reasons
    )


def protected_members(verdicts: Sequence[Verdict]) -> tuple[int, ...]:
    """The protected members whose likeness made a verdict quarantine, once each."""
    found = (
        r.member_id
        for v in verdicts
        for r in v.reasons
        if r.signal == LIKENESS_SIGNAL and r.action is Action.QUARANTINE and r.member_id
    )
    return tuple(dict.fromkeys(found))


def decide(
    verdicts: Sequence[Verdict], *, setup_complete: bool, alert_unscannable: bool
) -> Decision:
    """Combine per-media verdicts into one decision for the message.

    Until a server has finished setup (no alert channel yet), only known abusive media (a
    blocklist match) and explicit media showing a protected member are acted on: the first
    needs no judgement, the second was asked for by the member; other model scores wait. Unscannable
    media alerts only where the server asked for it, since until video support lands every video
    is unscannable.
    """
    if not setup_complete:
        known = tuple(v for v in verdicts if is_known_abuse(v) or protects_member(v))
        return Decision(Action.QUARANTINE if known else Action.ALLOW, bool(known), known)
    action = max((v.action for v in verdicts), key=lambda a: a.severity, default=Action.ALLOW)
    if action is Action.UNSCANNABLE and not alert_unscannable:
        return Decision(Action.ALLOW, False, ())
    relevant = tuple(v for v in verdicts if v.action.severity >= action.severity)
    return Decision(
        action, action is not Action.ALLOW, relevant if action is not Action.ALLOW else ()
    )

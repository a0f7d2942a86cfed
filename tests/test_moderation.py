"""Message-level decisions from per-media verdicts."""

from __future__ import annotations

from bot.core.moderation import decide
from bot.core.verdict import Action, Reason, Verdict


def _verdict(action: Action, signal: str = "model.positive") -> Verdict:
    reasons = () if action is Action.ALLOW else (Reason(signal, action, "why"),)
    return Verdict(action, reasons, "a" * 64, "b" * 32)


BLOCKLISTED = _verdict(Action.QUARANTINE, "blocklist.pdq")
SCORED = _verdict(Action.QUARANTINE, "model.positive")
FLAGGED = _verdict(Action.FLAG)
CLEAN = _verdict(Action.ALLOW)
BROKEN = _verdict(Action.UNSCANNABLE, "intake")


def test_the_most_severe_media_decides_for_the_whole_message() -> None:
    decision = decide([CLEAN, FLAGGED, BLOCKLISTED], setup_complete=True, alert_unscannable=False)
    assert decision.action is Action.QUARANTINE and decision.remove and decision.alert
    assert decision.verdicts == (BLOCKLISTED,)


def test_clean_media_needs_no_alert() -> None:
    decision = decide([CLEAN, CLEAN], setup_complete=True, alert_unscannable=True)
    assert decision.action is Action.ALLOW and not decision.alert and decision.verdicts == ()


def test_a_flag_alerts_without_removing() -> None:
    decision = decide([CLEAN, FLAGGED], setup_complete=True, alert_unscannable=False)
    assert decision.action is Action.FLAG and decision.alert and not decision.remove


def test_before_setup_only_known_abusive_media_is_acted_on() -> None:
    assert (
        decide([SCORED, FLAGGED], setup_complete=False, alert_unscannable=True).action
        is Action.ALLOW
    )
    decision = decide([SCORED, BLOCKLISTED], setup_complete=False, alert_unscannable=False)
    assert decision.remove and decision.verdicts == (BLOCKLISTED,)


def test_unscannable_media_alerts_only_when_the_server_asks() -> None:
    assert not decide([BROKEN], setup_complete=True, alert_unscannable=False).alert
    decision = decide([BROKEN, CLEAN], setup_complete=True, alert_unscannable=True)
    assert decision.action is Action.UNSCANNABLE and decision.alert and not decision.remove

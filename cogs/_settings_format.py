"""`/settings` helpers: what ``show`` prints, and the checks on a ladder and on thresholds."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bot.core.detectors.manifest import ModelManifest
from bot.core.evidence import KEY_ENV
from bot.core.policy import (
    LIKENESS_OFF_KEY,
    MODELS_OFF_KEY,
    NEAR_DUPLICATE_SIGNAL,
    Policy,
    PolicyError,
    Rule,
)
from bot.core.verdict import Action
from bot.guild_settings import GuildSettings

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

THRESHOLDS_KEY = "policy.thresholds"
"""The raw settings-store key of a server's score thresholds (read by ``Policy.with_overrides``)."""
MAX_TIMEOUT_MINUTES = 40320  # 28 days: the longest timeout Discord allows
MAX_LADDER_STEPS = 10
_TIMEOUT = re.compile(r"timeout\s*:\s*(\d+)")

SETUP_REMINDER = "Setup is still missing an alert channel: run `/settings alert-channel`."
SETUP_MISSING = (
    "**Setup missing**\n"
    "No alert channel is set. Until there is one, Consentry only removes known abusive media "
    "(blocklist matches) and tells the owner by DM; model scores are not acted on.\n"
    "Run `/settings alert-channel` and pick a channel only moderators can see "
    "(the same as `/consentry setup`)."
)

_LABELS = {
    "alert_channel_id": "Alert channel",
    "moderator_role_id": "Moderator role",
    "exempt_channel_ids": "Exempt channels",
    "exempt_role_ids": "Exempt roles",
    "scan_bots": "Scan other bots' media",
    "scan_webhooks": "Scan webhook posts",
    "alert_unscannable": "Alert on unscannable media",
    "dry_run": "Dry run (alert only, never delete or punish)",
    "retention_days": "Evidence retention",
    "action_ladder": "Action ladder",
}
"""Every setting a manager can change, in the order ``show`` lists them (internal flags such as
``setup_notice_sent`` are not settings)."""


async def show_text(bot: ConsentryBot, guild_id: int) -> str:
    """The whole ``/settings show`` reply for server ``guild_id``."""
    settings = await bot.guild_settings.get(guild_id)
    overrides = await bot.engine.storage.settings.get_overrides(guild_id)
    thresholds = overrides.get(THRESHOLDS_KEY)
    overridden = thresholds if isinstance(thresholds, Mapping) else {}
    defaults = GuildSettings()
    lines = ["**Consentry settings**"]
    for key, label in _LABELS.items():
        value = getattr(settings, key)
        marker = "default" if value == getattr(defaults, key) else "set here"
        lines.append(f"{label}: {_value(key, value)} ({marker})")
    lines.append("**Policy in this server**")
    try:
        policy = await bot.engine.policy_for(guild_id)
        lines.extend(f"- {rule_text(rule, overridden)}" for rule in policy.rules)
    except PolicyError as exc:  # an override written by hand: say so rather than fail
        lines.append(f"The stored policy override is unusable: {exc}")
    off = overrides.get(MODELS_OFF_KEY)
    ignored = ", ".join(map(str, off)) if isinstance(off, list) and off else ""
    lines.append(
        f"Models ignored here: {ignored} (set here)"
        if ignored
        else "Models ignored here: none (default)"
    )
    likeness_off = overrides.get(LIKENESS_OFF_KEY) is True
    lines.append(
        "Likeness matching of protected members: off (set here)"
        if likeness_off
        else "Likeness matching of protected members: on (default)"
    )
    if bot.cases.keeps_evidence:
        lines.append(f"Evidence: encrypted copies kept for {settings.retention_days} days.")
    else:
        lines.append(f"Evidence: hashes only (no evidence key: the operator sets {KEY_ENV}).")
    if not settings.setup_complete:
        lines.append(SETUP_MISSING)
    return "\n".join(lines)


def _value(key: str, value: Any) -> str:
    if value is None or value in (frozenset(), ()):
        empty = {"alert_channel_id": "not set", "action_ladder": "none (no action against authors)"}
        return empty.get(key, "none")
    if isinstance(value, bool):
        return "on" if value else "off"
    if key == "alert_channel_id":
        return f"<#{value}>"
    if key == "moderator_role_id":
        return f"<@&{value}>"
    if key == "exempt_channel_ids":
        return ", ".join(f"<#{i}>" for i in sorted(value))
    if key == "exempt_role_ids":
        return ", ".join(f"<@&{i}>" for i in sorted(value))
    if key == "retention_days":
        return f"{value} days"
    if key == "action_ladder":
        return " → ".join(value) + " (the last step repeats)"
    return str(value)


def rule_text(rule: Rule, overridden: Mapping[str, Any] | None = None) -> str:
    """One rule as a line: ``redness.red ≥ 0.50 → flag (set here)``."""
    if rule.is_match:
        within = f" within distance {rule.max_distance}" if rule.max_distance is not None else ""
        what = (
            "look-alike of confirmed media"
            if rule.signal == NEAR_DUPLICATE_SIGNAL
            else "protected member's face"
            if rule.is_likeness
            else "match"
        )
        text = f"{rule.signal} {what}{within} → {rule.action.value}"
    else:
        text = f"{rule.signal} ≥ {rule.min_score:.2f} → {rule.action.value}"
    levels = (overridden or {}).get(rule.signal)
    if isinstance(levels, Mapping) and rule.action.value in levels:
        text += " (set here)"
    return text


def parse_ladder(text: str) -> tuple[str, ...]:
    """Steps from ``"timeout:60, kick, ban"``; ``"none"`` alone clears the ladder.

    Raises ValueError naming the first bad step.
    """
    parts = [p.strip().lower() for p in text.split(",")]
    if parts == ["none"]:
        return ()
    if len(parts) > MAX_LADDER_STEPS:
        raise ValueError(f"a ladder has at most {MAX_LADDER_STEPS} steps (got {len(parts)})")
    steps: list[str] = []
    for number, part in enumerate(parts, start=1):
        timeout = _TIMEOUT.fullmatch(part)
        if part in ("none", "kick", "ban"):
            steps.append(part)
        elif timeout is not None and 1 <= int(timeout[1]) <= MAX_TIMEOUT_MINUTES:
            steps.append(f"timeout:{int(timeout[1])}")
        elif timeout is not None:
            raise ValueError(
                f"step {number} ({part}): a timeout lasts 1 to {MAX_TIMEOUT_MINUTES} minutes"
            )
        else:
            raise ValueError(
                f"step {number} ({part or 'empty'}) is not one of: none, "
                "timeout:<minutes>, kick, ban"
            )
    return tuple(steps)


def score_signals(manifests: Iterable[ModelManifest]) -> list[str]:
    """Every ``<model>.<label>`` a threshold can name on this instance."""
    return [f"{m.name}.{label}" for m in manifests for label in m.output.labels]


def levels_of(policy: Policy, signal: str) -> dict[str, float]:
    """The score at which ``signal`` flags and quarantines under ``policy`` (absent: never)."""
    return {
        rule.action.value: rule.min_score
        for rule in policy.rules
        if rule.signal == signal and rule.min_score is not None
    }


def plan_thresholds(
    policy: Policy,
    overrides: Mapping[str, Any],
    signal: str,
    flag: float | None,
    quarantine: float | None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """A server's new ``policy.thresholds`` after setting ``signal``'s levels (neither given:
    back to the instance's), and the levels that then apply to it.

    Raises ValueError (or PolicyError) saying why the change is refused.
    """
    given = {"flag": flag, "quarantine": quarantine}
    if any(v is not None and not 0 <= v <= 1 for v in given.values()):
        raise ValueError("thresholds are scores from 0 to 1")
    stored = overrides.get(THRESHOLDS_KEY)
    thresholds: dict[str, Any] = dict(stored) if isinstance(stored, Mapping) else {}
    if flag is None and quarantine is None:
        thresholds.pop(signal, None)
    else:
        levels = dict(thresholds.get(signal) or {})
        levels.update({k: v for k, v in given.items() if v is not None})
        thresholds[signal] = levels
    # Checked on the policy that would result: a new flag level must also stay at or below the
    # quarantine level it keeps (the instance's or one set earlier), and vice versa.
    after = levels_of(policy.with_overrides({**overrides, THRESHOLDS_KEY: thresholds}), signal)
    if after.get("flag", 0.0) > after.get("quarantine", 1.0):
        raise ValueError(
            f"{signal} would flag at {after['flag']:.2f}, above its quarantine level "
            f"{after['quarantine']:.2f} (flag must not be higher)"
        )
    return thresholds, after


def levels_text(levels: Mapping[str, float]) -> str:
    """``flag at 0.50, quarantine at 0.95`` (or ``no score rules``)."""
    shown = [
        f"{action.value} at {levels[action.value]:.2f}"
        for action in (Action.FLAG, Action.QUARANTINE)
        if action.value in levels
    ]
    return ", ".join(shown) or "no score rules"


def jsonable(value: Any) -> Any:
    """A setting's value as the audit log stores it (sets sorted, tuples as lists)."""
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value

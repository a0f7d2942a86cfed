"""Policy: declarative rules that turn findings into a verdict for one server."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.core.blocklist import Algorithm
from bot.core.detectors.manifest import ModelManifest
from bot.core.faces.face import SYNTHETIC_PREFIX, LikenessMatch
from bot.core.findings import DETECTOR_FAILED, Findings
from bot.core.match_scope import DEFAULT_SCOPE, MatchScope
from bot.core.verdict import Action, Match, Reason, Verdict

BLOCKLIST_SIGNAL = "blocklist"
MODELS_OFF_KEY = "policy.models_off"
"""The server override naming models whose scores no rule acts on in that server."""
NEAR_DUPLICATE_SIGNAL = f"{BLOCKLIST_SIGNAL}.{Algorithm.CLIP.value}"
"""Matches of the media's CLIP embeddings against confirmed media: a hint, so its own signal."""
LIKENESS_SIGNAL = "likeness"
"""A protected member's face on a frame an explicit-content model flagged."""
LIKENESS_SYNTHETIC_SIGNAL = "likeness.synthetic"
"""A protected member's face on a non-explicit frame with a high AI-generated score (opt-in)."""
LIKENESS_OFF_KEY = "policy.likeness_off"
"""The server override that turns protected members' likeness matching off in that server."""
_RULE_ACTIONS = (Action.FLAG, Action.QUARANTINE)


class PolicyError(ValueError):
    """A rule or override is malformed; the message names the offending part."""


@dataclass(frozen=True, slots=True)
class Rule:
    """When ``signal`` fires, ask for ``action``.

    ``signal`` is ``blocklist`` (any hash match: sha256, md5, PDQ, pHash), ``blocklist.<algorithm>``
    (matches by one algorithm; ``blocklist.clip`` is the only way to act on semantic
    near-duplicates), ``likeness`` (a protected member's face on explicit media),
    ``likeness.synthetic`` (their face on strongly AI-generated media), or
    ``<detector>.<label>`` (a model score). Likeness rules may narrow the face distance with
    ``max_distance``. Score rules fire at ``min_score``
    and above; blocklist rules may narrow the index's distance with ``max_distance`` (bits, or
    cosine distance for ``blocklist.clip``). A flag rule below a quarantine rule on the same score
    forms the abstain band: those scores alert, never delete.
    """

    signal: str
    action: Action
    min_score: float | None = None
    max_distance: float | None = None
    also: tuple[tuple[str, float], ...] = ()
    """Further score signals that must all reach their thresholds too (combined signals)."""
    name: str = ""
    """What moderators read for a combined rule, e.g. ``likely synthetic explicit``."""
    age_restricted: bool = True
    """Whether the rule applies in age-restricted channels (explicit-only rules do not)."""

    @property
    def requirements(self) -> tuple[tuple[str, float], ...]:
        """Every (signal, threshold) this score rule needs."""
        return ((self.signal, self.min_score or 0.0), *self.also)

    def fires(self, scores: Mapping[str, float]) -> bool:
        return all(s in scores and scores[s] >= t for s, t in self.requirements)

    @property
    def is_blocklist(self) -> bool:
        return self.signal == BLOCKLIST_SIGNAL or self.signal.startswith(BLOCKLIST_SIGNAL + ".")

    @property
    def is_likeness(self) -> bool:
        return self.signal in (LIKENESS_SIGNAL, LIKENESS_SYNTHETIC_SIGNAL)

    @property
    def is_match(self) -> bool:
        """Whether the rule acts on matches (blocklist, likeness) rather than on a score."""
        return self.is_blocklist or self.is_likeness

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str = "rule") -> Rule:
        """Build a rule from a config table; raise PolicyError naming ``where`` on bad input."""
        keys = {"signal", "action", "min_score", "max_distance", "also", "name", "age_restricted"}
        unknown = sorted(set(raw) - keys)
        if unknown:
            raise PolicyError(f"{where}: unknown key {unknown[0]!r}")
        signal = raw.get("signal")
        if not isinstance(signal, str) or not signal:
            raise PolicyError(f"{where}: 'signal' must be a non-empty string")
        try:
            action = Action(raw.get("action"))
        except ValueError:
            raise PolicyError(f"{where}: 'action' must be 'flag' or 'quarantine'") from None
        if action not in _RULE_ACTIONS:
            raise PolicyError(f"{where}: 'action' must be 'flag' or 'quarantine'")
        rule = cls(
            signal,
            action,
            raw.get("min_score"),
            raw.get("max_distance"),
            _also(raw.get("also", {}), where),
            str(raw.get("name", "")),
            bool(raw.get("age_restricted", True)),
        )
        if rule.signal.startswith(LIKENESS_SIGNAL + ".") and not rule.is_likeness:
            raise PolicyError(f"{where}: likeness signals are 'likeness' and 'likeness.synthetic'")
        if rule.is_match:
            if rule.min_score is not None or rule.also:
                raise PolicyError(f"{where}: match rules take max_distance, not min_score or also")
            semantic = rule.signal == NEAR_DUPLICATE_SIGNAL or rule.is_likeness
            if rule.max_distance is not None and not _valid_distance(rule.max_distance, semantic):
                raise PolicyError(
                    f"{where}: 'max_distance' must be "
                    + ("a distance from 0 to 2" if semantic else "a whole number >= 0")
                )
        else:
            if "." not in signal:
                raise PolicyError(f"{where}: score signals are written '<detector>.<label>'")
            if not isinstance(rule.min_score, int | float) or not 0 <= rule.min_score <= 1:
                raise PolicyError(f"{where}: 'min_score' must be a number between 0 and 1")
            if rule.max_distance is not None:
                raise PolicyError(f"{where}: only blocklist and likeness rules take max_distance")
        return rule

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"signal": self.signal, "action": self.action.value}
        if self.min_score is not None:
            out["min_score"] = self.min_score
        if self.max_distance is not None:
            out["max_distance"] = self.max_distance
        if self.also:
            out["also"] = dict(self.also)
        if self.name:
            out["name"] = self.name
        if not self.age_restricted:
            out["age_restricted"] = False
        return out


def _valid_distance(value: Any, semantic: bool) -> bool:
    if isinstance(value, bool):
        return False
    if semantic:
        return isinstance(value, int | float) and 0 <= value <= 2
    return isinstance(value, int) and value >= 0


def _also(raw: Any, where: str) -> tuple[tuple[str, float], ...]:
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and "." in k and isinstance(v, int | float) and 0 <= v <= 1
        for k, v in raw.items()
    ):
        raise PolicyError(f"{where}: 'also' maps '<detector>.<label>' signals to scores 0..1")
    return tuple((str(k), float(v)) for k, v in raw.items())


@dataclass(frozen=True, slots=True)
class Policy:
    """An ordered set of rules; the verdict takes the most severe action any rule asks for."""

    rules: tuple[Rule, ...]
    models_off: frozenset[str] = frozenset()
    """Models whose scores this server ignores: a likeness match on a frame only they flagged
    does not count either."""

    @classmethod
    def default(
        cls,
        manifests: Iterable[ModelManifest] = (),
        *,
        likeness: bool = False,
        likeness_synthetic: bool = False,
    ) -> Policy:
        """The default policy for the loaded models.

        Blocklist matches quarantine, everywhere; semantic near-duplicates of confirmed media
        (CLIP embedding matches) flag, since different pictures can look alike. Each model
        flags in its abstain band and quarantines above it; explicit-content models do neither
        in age-restricted channels.
        With an explicit-content model and an AI-generated one both loaded, media scoring above
        both models' ``combine`` thresholds is quarantined as likely synthetic explicit,
        age-restricted channels included.
        With ``likeness`` (a face model is loaded), a protected member's face on explicit media
        quarantines everywhere; with ``likeness_synthetic`` too, their face on strongly
        AI-generated media flags.
        """
        manifests = list(manifests)
        rules = [
            Rule(BLOCKLIST_SIGNAL, Action.QUARANTINE),
            Rule(NEAR_DUPLICATE_SIGNAL, Action.FLAG),
        ]
        if likeness:
            rules.append(Rule(LIKENESS_SIGNAL, Action.QUARANTINE))
            if likeness_synthetic:
                rules.append(Rule(LIKENESS_SYNTHETIC_SIGNAL, Action.FLAG))
        for manifest in manifests:
            signal = f"{manifest.name}.{manifest.positive}"
            anywhere = manifest.role != "explicit"
            for action, level in (
                (Action.FLAG, manifest.flag_at),
                (Action.QUARANTINE, manifest.quarantine_at),
            ):
                if level is not None:
                    rules.append(Rule(signal, action, min_score=level, age_restricted=anywhere))
        for explicit in (m for m in manifests if m.role == "explicit" and m.combine_at is not None):
            for synthetic in (
                m for m in manifests if m.role == "synthetic" and m.combine_at is not None
            ):
                rules.append(
                    Rule(
                        f"{explicit.name}.{explicit.positive}",
                        Action.QUARANTINE,
                        min_score=explicit.combine_at,
                        also=(
                            (f"{synthetic.name}.{synthetic.positive}", synthetic.combine_at or 0.0),
                        ),
                        name="likely synthetic explicit",
                    )
                )
        return cls(tuple(rules))

    @classmethod
    def parse(cls, rules: Sequence[Mapping[str, Any]], where: str = "policy.rules") -> Policy:
        """Build a policy from a list of rule tables (config file or a server's override)."""
        if not isinstance(rules, list | tuple):
            raise PolicyError(f"{where} must be a list of rules")
        return cls(tuple(Rule.parse(r, f"{where}[{i}]") for i, r in enumerate(rules)))

    def with_overrides(self, overrides: Mapping[str, Any]) -> Policy:
        """Apply a server's stored overrides to these defaults.

        ``policy.rules`` replaces the rule list; ``policy.thresholds`` maps a score signal to
        ``{"flag": x, "quarantine": y}`` and moves those rules' thresholds (adding missing rules);
        ``policy.models_off`` lists models whose scores no rule uses in this server (a server
        picks NudeNet or open_nsfw as its explicit-content signal this way);
        ``policy.likeness_off`` set to true drops the likeness rules.
        """
        policy = self
        if "policy.rules" in overrides:
            policy = Policy.parse(overrides["policy.rules"], "server override policy.rules")
        thresholds = overrides.get("policy.thresholds", {})
        if not isinstance(thresholds, Mapping):
            raise PolicyError("server override policy.thresholds must be a table")
        for signal, levels in thresholds.items():
            if not isinstance(levels, Mapping):
                raise PolicyError(f"server override policy.thresholds.{signal} must be a table")
            for action_name, score in levels.items():
                rule = Rule.parse(
                    {"signal": signal, "action": action_name, "min_score": score},
                    f"server override policy.thresholds.{signal}",
                )
                policy = policy._set_threshold(rule)
        off = overrides.get(MODELS_OFF_KEY, [])
        if not isinstance(off, list | tuple) or not all(isinstance(n, str) for n in off):
            raise PolicyError(f"server override {MODELS_OFF_KEY} must be a list of model names")
        likeness_off = overrides.get(LIKENESS_OFF_KEY, False)
        if not isinstance(likeness_off, bool):
            raise PolicyError(f"server override {LIKENESS_OFF_KEY} must be true or false")
        if likeness_off:
            policy = replace(policy, rules=tuple(r for r in policy.rules if not r.is_likeness))
        return policy.without_models(off) if off else policy

    def without_models(self, names: Iterable[str]) -> Policy:
        """This policy without the score rules that need a score of one of the models ``names``
        (blocklist rules, look-alikes included, stay)."""
        off = set(names)
        return Policy(
            tuple(
                r
                for r in self.rules
                if r.is_match or not any(s.partition(".")[0] in off for s, _ in r.requirements)
            ),
            self.models_off | off,
        )

    def _set_threshold(self, rule: Rule) -> Policy:
        kept = [r for r in self.rules if (r.signal, r.action) != (rule.signal, rule.action)]
        replaced = [
            replace(r, min_score=rule.min_score)
            for r in self.rules
            if (r.signal, r.action) == (rule.signal, rule.action)
        ]
        return Policy(tuple(kept + (replaced or [rule])), self.models_off)

    def evaluate(
        self,
        findings: Findings,
        guild_id: int | None,
        *,
        age_restricted: bool = False,
        likeness: Sequence[LikenessMatch] = (),
        scope: MatchScope = DEFAULT_SCOPE,
    ) -> Verdict:
        """Apply the rules to ``findings`` as seen by server ``guild_id`` (None: no server), in
        an age-restricted channel or not, with the server's protected members that ``likeness``
        found in it. Likeness rules apply in age-restricted channels too: consent is the point,
        not the channel. ``scope`` says which other servers' matches count, and which entries
        only flag for now (:mod:`bot.core.match_scope`)."""
        matches = tuple(m for m in findings.matches() if scope.counts(m, guild_id))
        scores = findings.scores()
        allowed = [m for m in matches if m.allow]
        if allowed:
            best = min(allowed, key=lambda m: m.distance)
            reason = Reason(
                "allowlist",
                Action.ALLOW,
                f"allow-listed as a known false positive (entry {best.entry_id}, "
                f"{best.algorithm} distance {best.distance})",
                distance=best.distance,
                entry_id=best.entry_id,
            )
            return _verdict(findings, Action.ALLOW, (reason,), matches, scores)
        reasons: list[Reason] = []
        blocked = [m for m in matches if not m.allow]
        for rule in self.rules:
            if rule.is_blocklist:
                reasons.extend(scope.adjust(_blocklist_reasons(rule, blocked)))
            elif rule.is_likeness:
                reasons.extend(self._likeness_reasons(rule, likeness))
        reasons.extend(self._score_reasons(scores, age_restricted))
        # A model that failed is flagged for moderators, never silently allowed: what it would
        # have seen is unknown. Intake refusals (type, size, corruption) stay unscannable.
        reasons.extend(
            Reason(
                p.source,
                Action.FLAG if p.code == DETECTOR_FAILED else Action.UNSCANNABLE,
                f"{p.message}: not fully examined, please look"
                if p.code == DETECTOR_FAILED
                else p.message,
            )
            for p in findings.problems
        )
        action = max((r.action for r in reasons), key=lambda a: a.severity, default=Action.ALLOW)
        return _verdict(findings, action, _dedupe(reasons), matches, scores)

    def _likeness_reasons(self, rule: Rule, matches: Sequence[LikenessMatch]) -> list[Reason]:
        synthetic = rule.signal == LIKENESS_SYNTHETIC_SIGNAL
        reasons = []
        for m in matches:
            # A frame counts only through models this server listens to.
            models = [
                t.removeprefix(SYNTHETIC_PREFIX)
                for t in m.triggers
                if t.startswith(SYNTHETIC_PREFIX) == synthetic
            ]
            models = [name for name in models if name not in self.models_off]
            if not models:
                continue
            if rule.max_distance is not None and m.distance > rule.max_distance:
                continue
            what = "AI-generated" if synthetic else "explicit"
            reasons.append(
                Reason(
                    rule.signal,
                    rule.action,
                    f"shows protected member <@{m.member_id}> (face distance {m.distance:.3f}) "
                    f"in media {', '.join(models)} scored as {what}",
                    distance=m.distance,
                    member_id=m.member_id,
                )
            )
        return reasons

    def _score_reasons(self, scores: Mapping[str, float], age_restricted: bool) -> list[Reason]:
        # Only the most severe firing rule per signal (or named combination) is reported: a
        # quarantine at 0.97 should not also read as a flag.
        best: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.is_match or rule.min_score is None:
                continue
            if (age_restricted and not rule.age_restricted) or not rule.fires(scores):
                continue
            key = rule.name or rule.signal
            current = best.get(key)
            if current is None or rule.action.severity > current.action.severity:
                best[key] = rule
        return [_score_reason(rule, scores) for rule in best.values()]


def _score_reason(rule: Rule, scores: Mapping[str, float]) -> Reason:
    parts = [f"{s} scored {scores[s]:.3f} (threshold {t:.2f})" for s, t in rule.requirements]
    text = " and ".join(parts)
    return Reason(
        rule.signal,
        rule.action,
        f"{rule.name}: {text}" if rule.name else text,
        score=scores[rule.signal],
    )


def _blocklist_reasons(rule: Rule, matches: Sequence[Match]) -> list[Reason]:
    algorithm = rule.signal.partition(".")[2]
    return [
        Reason(
            f"{BLOCKLIST_SIGNAL}.{m.algorithm}",
            rule.action,
            _match_message(m),
            distance=m.distance,
            entry_id=m.entry_id,
        )
        for m in matches
        # The bare signal means hash matches: a look-alike must be asked for by name.
        if (m.algorithm == algorithm if algorithm else m.algorithm != Algorithm.CLIP.value)
        and (rule.max_distance is None or m.distance <= rule.max_distance)
    ]


def _match_message(m: Match) -> str:
    if m.algorithm == Algorithm.CLIP.value:
        return (
            f"looks like confirmed media (blocklist entry {m.entry_id}, CLIP cosine distance "
            f"{m.distance:.3f}): possibly a crop, flip or edit of it"
        )
    return f"matches blocklist entry {m.entry_id} ({m.algorithm}, distance {m.distance})"


def _dedupe(reasons: Iterable[Reason]) -> tuple[Reason, ...]:
    # Two blocklist rules can report the same entry; keep the most severe report of each.
    best: dict[tuple[str, int | None, str], Reason] = {}
    for reason in reasons:
        key = (reason.signal, reason.entry_id, reason.message)
        if key not in best or reason.action.severity > best[key].action.severity:
            best[key] = reason
    return tuple(sorted(best.values(), key=lambda r: -r.action.severity))


def _verdict(
    findings: Findings,
    action: Action,
    reasons: tuple[Reason, ...],
    matches: tuple[Match, ...],
    scores: dict[str, float],
) -> Verdict:
    return Verdict(
        action=action,
        reasons=reasons,
        sha256=findings.sha256,
        md5=findings.md5,
        media_type=findings.media_type,
        width=findings.width,
        height=findings.height,
        frames_scanned=findings.frames_scanned,
        pdq=findings.pdq,
        phash=findings.phash,
        clip=findings.clip,
        matches=matches,
        scores=scores,
    )

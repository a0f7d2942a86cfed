"""What every process that scans and acts is built from, a gateway or a scan worker: the same
services around one engine and one Discord client, so both decide and act alike."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import discord

from bot.cases import CaseService
from bot.core.evidence import EvidenceKey
from bot.engine import Engine
from bot.guild_settings import GuildSettingsService
from bot.protection import ProtectionService
from bot.runtime.actions import Actioner
from bot.runtime.catchup import CursorBook
from bot.runtime.effects import EffectRunner
from bot.runtime.fetch import MediaFetcher
from bot.runtime.likeness import LikenessEffects
from bot.runtime.watcher import Watcher


@dataclass(frozen=True, slots=True)
class Parts:
    """The services that decide and act on Discord for one process."""

    guild_settings: GuildSettingsService
    actioner: Actioner
    cases: CaseService
    protection: ProtectionService
    likeness: LikenessEffects
    effects: EffectRunner

    def watcher(
        self,
        engine: Engine,
        session: aiohttp.ClientSession,
        book: CursorBook,
        *,
        own_user_id: int | None = None,
    ) -> Watcher:
        """The watcher over these parts, downloading with ``session`` from the configured hosts
        within the configured limits."""
        config = engine.config
        fetcher = MediaFetcher(
            session,
            allowed_hosts=config.discord.media_hosts,
            max_bytes=config.limits.max_bytes,
            timeout_seconds=config.discord.download_timeout_seconds,
            min_bytes_per_second=config.discord.download_min_kib_per_second * 1024,
        )
        return Watcher(
            engine,
            self.guild_settings,
            fetcher,
            self.actioner,
            self.cases,
            book,
            self.effects,
            likeness=self.likeness,
            own_user_id=own_user_id,
        )


def build_parts(engine: Engine, client: discord.Client, evidence_key: EvidenceKey | None) -> Parts:
    """The parts for ``client`` (a gateway bot, or a worker's REST-only client)."""
    settings = GuildSettingsService(engine.storage.settings)
    actioner = Actioner(client)
    cases = CaseService(engine.storage, evidence_key)
    protection = ProtectionService(
        engine.storage,
        evidence_key,
        engine.faces,
        engine.protected,
        engine.executor,
        engine.config.limits,
    )
    likeness = LikenessEffects(protection, actioner, cases)
    effects = EffectRunner(engine.storage, cases, actioner, settings, client, likeness=likeness)
    return Parts(settings, actioner, cases, protection, likeness, effects)

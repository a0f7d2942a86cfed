"""The engine: owns storage, the executor, the live blocklist index, detectors and the scanner.

The CLI and the Discord runtime both start one; closing it releases everything it opened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from bot.config import Config
from bot.core.cache import ExpiringLRU
from bot.core.detectors.base import Detector
from bot.core.detectors.clip_probe import ClipProbe
from bot.core.detectors.manifest import ManifestError, ModelManifest, load_manifest
from bot.core.detectors.nudenet import NudeNetDetector
from bot.core.detectors.onnx_classifier import OnnxClassifier
from bot.core.executor import BoundedExecutor
from bot.core.faces.embedder import FaceModel
from bot.core.faces.likeness import ProtectedFaces
from bot.core.faces.stage import FaceStage, Trigger
from bot.core.findings import Findings
from bot.core.index import IndexBuilder
from bot.core.matcher import COMPACT_ROWS, BlocklistMatcher
from bot.core.policy import Policy
from bot.core.provenance import ProvenanceDetector
from bot.core.scanner import Scanner, ScopeFor
from bot.core.verdict import Verdict
from bot.model_store import status
from bot.storage import Storage, open_storage

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """Everything a scan needs, opened together and closed together."""

    config: Config
    storage: Storage
    executor: BoundedExecutor
    matcher: BlocklistMatcher
    scanner: Scanner
    policy: Policy
    manifests: tuple[ModelManifest, ...]
    protected: ProtectedFaces
    """Every server's protected members (filled by the bot's protection service at start)."""
    faces: FaceModel | None = None
    """The face model, when likeness protection is on."""
    blocklist_revision: int | None = None
    """The storage revision the live index was built from (None: not loaded yet)."""
    _blocklist_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    entries_added: list[Callable[[set[int | None]], None]] = field(default_factory=list)
    """Told, after a refresh, which scopes got new blocking entries (None: instance-wide, or
    unknown after a big import): retroactive sweeps look for earlier copies there."""

    async def reload_blocklist(self) -> int:
        """Rebuild the match index from storage and swap it in; returns the entry count."""
        async with self._blocklist_lock:
            return await self._reload_blocklist()

    async def _reload_blocklist(self) -> int:
        # Read the revision first: a change landing during the read then shows as a newer
        # revision on the next refresh (applied again on top: harmless), never as a missed one.
        revision = await self.storage.blocklist.revision()
        builder = IndexBuilder()
        async for rows in self.storage.blocklist.match_rows():
            await self.executor.run(builder.add, rows)
        size = await self.matcher.install(builder, self.executor)
        self.blocklist_revision = revision
        return size

    async def refresh_blocklist(self) -> bool:
        """Bring the index up to the stored entries (changed by this process or any other);
        say if anything changed. Changes are applied incrementally from the blocklist's change
        feed; a big import (or a feed that cannot say) rebuilds, as does a delta grown past
        :data:`COMPACT_ROWS`. Concurrent calls are serialised: the later one finds nothing to do
        (merged)."""
        async with self._blocklist_lock:
            blocklist = self.storage.blocklist
            if await blocklist.revision() == self.blocklist_revision:
                return False
            changes = (
                None
                if self.blocklist_revision is None
                else await blocklist.changes_since(self.blocklist_revision)
            )
            if changes is None:
                loaded = self.blocklist_revision is not None
                await self._reload_blocklist()
                if loaded:  # not the first load at start: a change too big for the feed
                    self._added({None})
                return True
            await self.matcher.apply(changes.added, changes.removed, self.executor)
            self._added({row.guild_id for row in changes.added if not row.allow})
            self.blocklist_revision = changes.revision
            if self.matcher.delta_size > COMPACT_ROWS:
                await self._reload_blocklist()
            return True

    def _added(self, scopes: set[int | None]) -> None:
        if scopes:
            for listener in self.entries_added:
                listener(scopes)

    async def policy_for(self, guild_id: int | None) -> Policy:
        """The instance policy with server ``guild_id``'s stored overrides applied."""
        if guild_id is None:
            return self.policy
        return self.policy.with_overrides(await self.storage.settings.get_overrides(guild_id))

    async def scan(
        self,
        data: bytes,
        guild_id: int | None = None,
        *,
        age_restricted: bool = False,
        author_id: int | None = None,
        scope_for: ScopeFor | None = None,
    ) -> Verdict:
        """Scan ``data`` under the policy of ``guild_id`` (None: the instance defaults), for a
        channel that is age-restricted or not, posted by ``author_id`` (whose own protected
        face never counts against their post). ``scope_for``: the safeguards of shared lists
        (:class:`bot.safeguards.Safeguards`)."""
        policy = await self.policy_for(guild_id)
        return await self.scanner.scan(
            data,
            policy=policy,
            guild_id=guild_id,
            age_restricted=age_restricted,
            author_id=author_id,
            scope_for=scope_for,
        )

    async def close(self) -> None:
        await self.scanner.close()
        self.executor.shutdown()
        await self.storage.close()


@asynccontextmanager
async def open_engine(
    config: Config, *, load_blocklist: bool = True, likeness: bool = True
) -> AsyncIterator[Engine]:
    """Open storage, load the enabled detectors, the face model (unless ``likeness`` is false:
    offline scans have no server whose members could be protected) and the blocklist; close
    all on exit."""
    storage = await open_storage(config.storage_url, pool_size=config.storage_pool_size)
    executor = BoundedExecutor(config.scanner.workers, config.scanner.max_pending)
    try:
        manifests, detectors = await _load_detectors(config, executor)
        faces = await _load_faces(config, executor) if likeness else None
        protected = ProtectedFaces(config.likeness.max_distance)
        matcher = BlocklistMatcher(kind=config.index)
        scanner = Scanner(
            executor=executor,
            matcher=matcher,
            limits=config.limits,
            thresholds=config.matching,
            detectors=detectors,
            cache=ExpiringLRU[Findings](
                config.scanner.cache_entries, config.scanner.cache_ttl_seconds
            ),
            faces=None
            if faces is None
            else FaceStage(
                faces,
                executor,
                face_triggers(config, manifests),
                max_faces=config.likeness.max_faces,
            ),
            protected=protected,
        )
        engine = Engine(
            config=config,
            storage=storage,
            executor=executor,
            matcher=matcher,
            scanner=scanner,
            policy=config.policy_rules
            or Policy.default(
                manifests,
                likeness=faces is not None,
                likeness_synthetic=config.likeness.ai_generated_rule,
            ),
            manifests=manifests,
            protected=protected,
            faces=faces,
        )
    except BaseException:
        executor.shutdown()
        await storage.close()
        raise
    try:
        if load_blocklist:
            await engine.reload_blocklist()
        yield engine
    finally:
        await engine.close()


async def _load_detectors(
    config: Config, executor: BoundedExecutor
) -> tuple[tuple[ModelManifest, ...], list[Detector]]:
    manifests: list[ModelManifest] = []
    # Provenance needs no model and costs microseconds: always on, an extra signal only.
    detectors: list[Detector] = [ProvenanceDetector()]
    for entry in config.detectors:
        if not entry.enabled:
            log.warning("detector from %s is disabled in the config", _short(entry.manifest))
            continue
        manifest = _fetched(config, entry.manifest, "disable it in the config")
        loader = LOADERS.get(manifest.kind)
        if loader is None:
            raise ManifestError(
                f"model {manifest.name!r} is an {manifest.kind} model, which cannot run as a "
                "detector yet: disable it in the config"
            )
        detectors.append(
            await executor.run(
                loader, manifest, executor, threads=entry.threads, providers=entry.providers
            )
        )
        manifests.append(manifest)
    return tuple(manifests), detectors


async def _load_faces(config: Config, executor: BoundedExecutor) -> FaceModel | None:
    if not config.likeness.enabled:
        log.info("likeness protection is disabled in the config ([likeness] enabled)")
        return None
    manifest = _fetched(config, config.likeness.model, "set [likeness] enabled = false")
    finder = None
    if config.likeness.detector is not None:
        finder = _fetched(config, config.likeness.detector, 'set [likeness] detector = "dlib-hog"')
    return await executor.run(partial(FaceModel.load, manifest, finder=finder))


def _fetched(config: Config, path: Path, otherwise: str) -> ModelManifest:
    """The manifest at ``path``; ManifestError saying how to fetch its weights if they are
    missing, or what else to do (``otherwise``)."""
    manifest = load_manifest(path, config.models_cache_dir)
    if manifest.source is not None and not status(manifest).present:
        raise ManifestError(
            f"model {manifest.name!r} is not fetched yet: run `consentry models fetch "
            f"{manifest.name}` (or {otherwise})"
        )
    return manifest


def face_triggers(config: Config, manifests: Sequence[ModelManifest]) -> list[Trigger]:
    """Which model scores make a frame eligible for face work: every explicit-content model at
    its flag level (its combine level if it has none), and, with the opt-in AI-generated rule,
    every AI-generated model at ``[likeness] ai_generated_min_score`` (default: its combine
    level)."""
    triggers = []
    for manifest in manifests:
        if manifest.role == "explicit":
            level = manifest.flag_at if manifest.flag_at is not None else manifest.combine_at
            if level is not None:
                triggers.append(Trigger(manifest.name, level))
        elif manifest.role == "synthetic" and config.likeness.ai_generated_rule:
            level = config.likeness.ai_generated_min_score
            level = level if level is not None else manifest.combine_at
            if level is not None:
                triggers.append(Trigger(manifest.name, level, synthetic=True))
    return triggers


class _Loader(Protocol):
    def __call__(
        self,
        manifest: ModelManifest,
        executor: BoundedExecutor,
        *,
        threads: int = ...,
        providers: Sequence[str] = ...,
    ) -> Detector: ...


LOADERS: dict[str, _Loader] = {
    "classifier": OnnxClassifier.load,
    "detector": NudeNetDetector.load,  # YOLOv8-style boxes, as NudeNet's
    "embedding": ClipProbe.load,  # CLIP image embeddings with a linear probe head
}
"""How each kind of model manifest becomes a detector."""


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)

"""Protected members: enrolment, withdrawal and removal, Discord-free (cogs call it, then reply).

Enrolment is the member's explicit consent: only the member can enrol, only themself, and they
can withdraw at any time. Photos are described in memory and dropped; the descriptors are sealed
with the evidence key before they reach storage, and each change is stored together with its
audit record (counts only, never the data). The in-memory galleries (:class:`ProtectedFaces`)
change only after storage has committed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.evidence import EvidenceError, EvidenceKey, Sealed
from bot.core.executor import BoundedExecutor
from bot.core.faces import enrolment
from bot.core.faces.embedder import FaceModel
from bot.core.faces.enrolment import EnrolmentError, VettedPhoto
from bot.core.faces.likeness import Enrolled, ProtectedFaces
from bot.core.limits import MediaLimits
from bot.core.media import UnscannableMedia, load_media
from bot.storage import Enrolment, NewEnrolment, Storage

log = logging.getLogger(__name__)

NO_KEY = (
    "Protection is unavailable on this bot: its operator has not set an evidence key "
    "(CONSENTRY_EVIDENCE_KEY), which face data must be encrypted with."
)
NO_MODEL = (
    "Protection is unavailable on this bot: its operator turned likeness protection off "
    "([likeness] enabled = false)."
)


ENROL_COOLDOWN_SECONDS = 15.0
"""A member enrols at most once in this time per server: each enrolment costs up to a second
of CPU per photo, so repeated ones from one member must not crowd out scanning."""
_COOLDOWN_ENTRIES = 10_000


class EnrolmentCooldown(Exception):
    """The member enrolled a moment ago; the message says when to try again."""


class ProtectionUnavailable(Exception):
    """No key or no face model: nothing can be enrolled; the message says which."""


@dataclass(frozen=True, slots=True)
class EnrolOutcome:
    """What an enrolment did: the stored enrolment (None when no photo was usable) and the
    outcome of every photo."""

    stored: Enrolment | None
    photos: tuple[VettedPhoto, ...]
    replaced: bool = False

    @property
    def usable(self) -> int:
        return sum(1 for p in self.photos if p.descriptor is not None)


class ProtectionService:
    """Enrolments of every server, kept in storage (sealed) and in memory (for matching)."""

    def __init__(
        self,
        storage: Storage,
        key: EvidenceKey | None,
        model: FaceModel | None,
        protected: ProtectedFaces,
        executor: BoundedExecutor,
        limits: MediaLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.key = key
        self.model = model
        self.protected = protected
        self._executor = executor
        self._limits = limits
        self._clock = clock
        self._recent: OrderedDict[tuple[int, int], float] = OrderedDict()

    @property
    def available(self) -> bool:
        """Whether members can enrol: a face model is loaded and an evidence key is set."""
        return self.key is not None and self.model is not None

    @property
    def unavailable_reason(self) -> str | None:
        """Why members cannot enrol, or None."""
        if self.model is None:
            return NO_MODEL
        if self.key is None:
            return NO_KEY
        return None

    @property
    def model_id(self) -> str:
        """The model and version every stored enrolment records."""
        model = self._model()
        return f"{model.name}@{enrolment.model_version(model.manifest)}"

    async def load(self) -> int:
        """Decrypt every stored enrolment into memory (at start); return how many were loaded.

        Enrolments that cannot be opened (another key, another model version) are skipped and
        logged: they protect no one until the member enrols again."""
        if not self.available:
            self.protected.install({})
            return 0
        galleries: dict[int, list[Enrolled]] = defaultdict(list)
        async for stored in self.storage.enrolments.iter_all():
            enrolled = self._open(stored)
            if enrolled is not None:
                galleries[stored.guild_id].append(enrolled)
        self.protected.install(galleries)
        return sum(len(v) for v in galleries.values())

    async def reload(self, guild_id: int, member_id: int) -> None:
        """Another process enrolled, replaced or withdrew this member: memory follows storage."""
        if not self.available:
            return
        stored = await self.storage.enrolments.get(guild_id, member_id)
        enrolled = self._open(stored) if stored is not None else None
        if enrolled is None:
            self.protected.remove(guild_id, member_id)
        else:
            self.protected.put(guild_id, enrolled)

    async def enrol_photos(
        self,
        guild_id: int,
        member_id: int,
        photos: Sequence[tuple[str, bytes]],
        *,
        notify: bool,
    ) -> EnrolOutcome:
        """Vet and describe a member's own photos (1 to 5); store what was usable."""
        self._check()
        self._cool_down(guild_id, member_id)
        if not 1 <= len(photos) <= enrolment.MAX_PHOTOS:
            raise EnrolmentError(f"send 1 to {enrolment.MAX_PHOTOS} photos, not {len(photos)}")
        vetted = [await self._vet(name, data) for name, data in photos]
        vectors = [p.descriptor for p in vetted if p.descriptor is not None]
        if not vectors:
            return EnrolOutcome(None, tuple(vetted))
        stored, replaced = await self._store(
            guild_id, member_id, np.stack(vectors), notify, "photos"
        )
        return EnrolOutcome(stored, tuple(vetted), replaced)

    async def enrol_file(
        self, guild_id: int, member_id: int, data: bytes, *, notify: bool
    ) -> EnrolOutcome:
        """Enrol from a file written by ``consentry likeness enroll`` (EnrolmentError if it is
        not one, or was made with another model version)."""
        self._check()
        self._cool_down(guild_id, member_id)
        vectors = enrolment.read_file(data, self._model().manifest)
        stored, replaced = await self._store(guild_id, member_id, vectors, notify, "file")
        photos = tuple(VettedPhoto(f"face {i}", row) for i, row in enumerate(vectors, 1))
        return EnrolOutcome(stored, photos, replaced)

    async def withdraw(self, guild_id: int, member_id: int) -> bool:
        """The member's own withdrawal: delete at once; say whether they were enrolled."""
        return await self._remove(guild_id, member_id, f"user:{member_id}", "withdrawn")

    async def remove(self, guild_id: int, member_id: int, *, actor: str, reason: str) -> bool:
        """A server manager removes an enrolment (for abuse); audited with the manager and why."""
        return await self._remove(guild_id, member_id, actor, "removed", reason)

    async def member_left(self, guild_id: int, member_id: int) -> bool:
        """The member left the server: they are no longer protected there."""
        return await self._remove(guild_id, member_id, "consentry", "member_left")

    async def status(self, guild_id: int, member_id: int) -> Enrolment | None:
        """The member's own enrolment here, if any."""
        return await self.storage.enrolments.get(guild_id, member_id)

    async def listing(self, guild_id: int) -> list[Enrolment]:
        """Who is protected in a server and since when (callers show no descriptors)."""
        return await self.storage.enrolments.list(guild_id)

    async def _remove(
        self, guild_id: int, member_id: int, actor: str, why: str, reason: str = ""
    ) -> bool:
        removed = await self.storage.enrolments.remove(
            guild_id, member_id, actor=actor, why=why, reason=reason
        )
        # Memory follows storage; also drop a stale in-memory copy if storage had none.
        return self.protected.remove(guild_id, member_id) or removed

    async def _vet(self, name: str, data: bytes) -> VettedPhoto:
        model = self._model()
        try:
            if len(data) > self._limits.max_bytes:
                raise UnscannableMedia(
                    "too_large", f"over the {self._limits.max_bytes:,}-byte limit"
                )
            media = await self._executor.run(load_media, data, self._limits)
        except UnscannableMedia as exc:
            return VettedPhoto(name, problem=f"not a usable picture: {exc.message}")
        if not media.frames or media.media_type.is_video:
            return VettedPhoto(name, problem="not a photo")
        return await self._executor.run(enrolment.vet_photo, model, name, media.frames[0].pixels)

    async def _store(
        self, guild_id: int, member_id: int, vectors: np.ndarray, notify: bool, source: str
    ) -> tuple[Enrolment, bool]:
        key = self._key()
        model_id = self.model_id
        sealed = enrolment.seal(key, guild_id, member_id, model_id, vectors)
        stored = await self.storage.enrolments.put(
            NewEnrolment(
                guild_id=guild_id,
                member_id=member_id,
                model=model_id,
                faces=len(vectors),
                key_id=sealed.key_id,
                nonce=sealed.nonce,
                ciphertext=sealed.ciphertext,
                notify=notify,
                source=source,
            ),
            actor=f"user:{member_id}",
        )
        self.protected.put(guild_id, Enrolled(member_id, vectors.astype(np.float32), notify))
        return stored, stored.updated_at != stored.created_at

    def _open(self, stored: Enrolment) -> Enrolled | None:
        key = self._key()
        if stored.model != self.model_id:
            log.warning(
                "enrolment of member %s in guild %s was made with %s, not %s: not loaded",
                stored.member_id,
                stored.guild_id,
                stored.model,
                self.model_id,
            )
            return None
        try:
            vectors = enrolment.unseal(
                key,
                Sealed(stored.key_id, stored.nonce, stored.ciphertext),
                stored.guild_id,
                stored.member_id,
                stored.model,
            )
        except (EvidenceError, EnrolmentError) as exc:
            log.warning(
                "enrolment of member %s in guild %s cannot be opened: %s",
                stored.member_id,
                stored.guild_id,
                exc,
            )
            return None
        return Enrolled(stored.member_id, vectors, stored.notify)

    def _cool_down(self, guild_id: int, member_id: int) -> None:
        now = self._clock()
        last = self._recent.get((guild_id, member_id))
        if last is not None and now - last < ENROL_COOLDOWN_SECONDS:
            wait = ENROL_COOLDOWN_SECONDS - (now - last)
            raise EnrolmentCooldown(f"You enrolled a moment ago: try again in {wait:.0f} s.")
        self._recent[(guild_id, member_id)] = now
        self._recent.move_to_end((guild_id, member_id))
        while len(self._recent) > _COOLDOWN_ENTRIES:
            self._recent.popitem(last=False)

    def _check(self) -> None:
        reason = self.unavailable_reason
        if reason is not None:
            raise ProtectionUnavailable(reason)

    def _model(self) -> FaceModel:
        if self.model is None:
            raise ProtectionUnavailable(NO_MODEL)
        return self.model

    def _key(self) -> EvidenceKey:
        if self.key is None:
            raise ProtectionUnavailable(NO_KEY)
        return self.key

"""Protected members' faces per server, and matching scanned faces against them.

One owner (:class:`ProtectedFaces`) holds every server's gallery. Its changes are plain method
calls on the event loop, so they are serialised by construction; each replaces one server's
immutable :class:`Gallery`, so a scan that took a gallery keeps a whole one, and every change
bumps ``generation``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.core.faces.face import DESCRIPTOR_SIZE, FaceFinding, LikenessMatch

DEFAULT_MAX_DISTANCE = 0.5
"""Descriptor distance within which a face is taken for a protected member (see the README:
the same person across photos measured 0.24-0.43 here, different people 0.81-0.87; dlib's
usual 0.6 lets more strangers through once thousands of members are enrolled)."""


@dataclass(frozen=True, slots=True)
class Enrolled:
    """One protected member's descriptors (decrypted, in memory only)."""

    member_id: int
    descriptors: npt.NDArray[np.float32]
    notify: bool = False

    def __post_init__(self) -> None:
        if self.descriptors.ndim != 2 or self.descriptors.shape[1] != DESCRIPTOR_SIZE:
            raise ValueError(f"descriptors must have shape (n, {DESCRIPTOR_SIZE})")
        if not len(self.descriptors):
            raise ValueError("an enrolment holds at least one descriptor")


class Gallery:
    """One server's protected members as one matrix: rows grouped by member."""

    def __init__(self, members: Iterable[Enrolled]) -> None:
        chosen = {m.member_id: m for m in members}  # a later enrolment of a member wins
        self.members: dict[int, Enrolled] = dict(sorted(chosen.items()))
        blocks = [m.descriptors for m in self.members.values()]
        self._rows = (
            np.ascontiguousarray(np.concatenate(blocks), dtype=np.float32)
            if blocks
            else np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        )
        self._norms = np.einsum("ij,ij->i", self._rows, self._rows)
        self._row_members = np.repeat(
            np.asarray(list(self.members), dtype=np.int64), [len(b) for b in blocks]
        )

    def __len__(self) -> int:
        return len(self.members)

    def match(
        self, faces: Sequence[FaceFinding], max_distance: float, exclude: int | None = None
    ) -> list[LikenessMatch]:
        """Every member within ``max_distance`` of a face, once each (their closest face),
        closest first; member ``exclude`` (the poster) is never matched."""
        if not faces or not len(self._rows):
            return []
        queries = np.stack([f.descriptor for f in faces]).astype(np.float32)
        # |r - q|^2 = |r|^2 + |q|^2 - 2 r.q, for every row and face in one matrix product.
        # In place, float32 throughout: at 30,000 rows each temporary costs as much as the
        # product itself. Only rows within the distance are looked at one by one (few).
        squared = self._rows @ queries.T
        squared *= -2.0
        squared += self._norms[:, None]
        squared += np.einsum("ij,ij->i", queries, queries)[None, :]
        rows, columns = np.nonzero(squared <= max_distance * max_distance)
        best: dict[int, tuple[float, int]] = {}
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            member_id = int(self._row_members[row])
            value = float(squared[row, column])
            if member_id != exclude and (member_id not in best or value < best[member_id][0]):
                best[member_id] = (value, column)
        matches = []
        for member_id, (value, column) in best.items():
            face = faces[column]
            matches.append(
                LikenessMatch(
                    member_id=member_id,
                    distance=round(max(value, 0.0) ** 0.5, 4),
                    frame=face.frame,
                    triggers=face.triggers,
                    notify=self.members[member_id].notify,
                )
            )
        return sorted(matches, key=lambda m: m.distance)


class ProtectedFaces:
    """Every server's gallery; the one place they change."""

    def __init__(self, max_distance: float = DEFAULT_MAX_DISTANCE) -> None:
        if not 0 < max_distance < 2:
            raise ValueError("max_distance must be between 0 and 2")
        self.max_distance = max_distance
        self._galleries: dict[int, Gallery] = {}
        self.generation = 0

    def install(self, enrolments: Mapping[int, Sequence[Enrolled]]) -> None:
        """Replace every gallery (at start, from storage)."""
        self._galleries = {g: Gallery(members) for g, members in enrolments.items() if members}
        self.generation += 1

    def put(self, guild_id: int, enrolled: Enrolled) -> None:
        """Protect (or re-enrol) one member in one server."""
        current = self._galleries.get(guild_id)
        others = [m for m in current.members.values()] if current else []
        self._galleries[guild_id] = Gallery([*others, enrolled])
        self.generation += 1

    def remove(self, guild_id: int, member_id: int) -> bool:
        """Stop protecting a member in a server; say whether they were protected."""
        current = self._galleries.get(guild_id)
        if current is None or member_id not in current.members:
            return False
        rest = [m for m in current.members.values() if m.member_id != member_id]
        if rest:
            self._galleries[guild_id] = Gallery(rest)
        else:
            del self._galleries[guild_id]
        self.generation += 1
        return True

    def wants_notice(self, guild_id: int, member_id: int) -> bool:
        """Whether a protected member asked for a private notice when media showing them goes."""
        gallery = self._galleries.get(guild_id)
        enrolled = gallery.members.get(member_id) if gallery else None
        return enrolled is not None and enrolled.notify

    @property
    def anyone(self) -> bool:
        """Whether any member of any server is protected (a server's last member removed also
        removes its gallery, so this costs nothing per scan)."""
        return bool(self._galleries)

    def count(self, guild_id: int) -> int:
        """How many members are protected in a server."""
        gallery = self._galleries.get(guild_id)
        return len(gallery) if gallery else 0

    def match(
        self, guild_id: int, faces: Sequence[FaceFinding], *, exclude: int | None = None
    ) -> tuple[LikenessMatch, ...]:
        """Protected members of ``guild_id`` whose face is among ``faces`` (never ``exclude``)."""
        gallery = self._galleries.get(guild_id)
        if gallery is None or not faces:
            return ()
        return tuple(gallery.match(faces, self.max_distance, exclude))

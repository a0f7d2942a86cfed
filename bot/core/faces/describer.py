"""The face descriptor network under onnxruntime: dlib's weights, converted once per cache.

dlib runs its network holding the GIL (110-180 ms a face on 2 cores), which would stall the
event loop during every face; onnxruntime releases it and is faster. The conversion
(:mod:`bot.core.faces.dlib_onnx`) runs the first time the verified ``.dat`` file is used and
writes ``<weights>.onnx`` beside it; it is checked against dlib itself on a test chip before it
is kept, so a converter bug can never silently change what a face matches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.core.detectors.manifest import ManifestError, ModelManifest
from bot.core.detectors.onnx_classifier import new_session
from bot.core.faces import dlib_onnx
from bot.core.faces.face import DESCRIPTOR_SIZE

log = logging.getLogger(__name__)

CHECK_TOLERANCE = 1e-3
"""Largest distance allowed between dlib's descriptor and the converted network's on the check
chip (measured: under 1e-5; same-person distances are 0.24 and up)."""


def converted_path(manifest: ModelManifest) -> Path:
    """Where the converted network of ``manifest``'s weights lives."""
    return manifest.file.with_name(
        manifest.file.name + f".{(manifest.sha256 or 'local')[:12]}.onnx"
    )


class OnnxDescriber:
    """Describes aligned face chips with the converted network."""

    def __init__(self, session: Any) -> None:
        self._session = session

    @classmethod
    def load(
        cls,
        manifest: ModelManifest,
        *,
        threads: int = 1,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> OnnxDescriber:
        """Open the converted network, converting and checking it first if needed."""
        target = converted_path(manifest)
        if not target.is_file():
            _convert_checked(manifest, target)
        try:
            session = new_session(target, threads, providers)
        except ManifestError:
            raise
        except Exception as exc:  # a damaged converted file: convert again next start
            target.unlink(missing_ok=True)
            raise ManifestError(
                f"model {manifest.name!r}: the converted network could not be opened ({exc}); "
                "it was removed and is converted again at the next start"
            ) from exc
        return cls(session)

    def describe(self, chips: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Blocking: one 128-d descriptor per 150x150 RGB chip."""
        if not chips:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        batch = np.ascontiguousarray(np.stack(chips), dtype=np.uint8)
        result = self._session.run([dlib_onnx.OUTPUT_NAME], {dlib_onnx.INPUT_NAME: batch})
        return np.asarray(result[0], dtype=np.float32)


def _convert_checked(manifest: ModelManifest, target: Path) -> None:
    from bot.core.faces.embedder import DlibDescriber

    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    try:
        dlib_onnx.convert(manifest.file, partial)
        session = new_session(partial, 1, ("CPUExecutionProvider",))
        chip = _check_chip()
        ours = OnnxDescriber(session).describe([chip])[0]
        reference = DlibDescriber(manifest).describe([chip])[0]
        gap = float(np.linalg.norm(ours - reference))
        if gap > CHECK_TOLERANCE:
            raise ManifestError(
                f"model {manifest.name!r}: the converted network differs from dlib's by {gap:.2g} "
                "on the check chip: not used"
            )
        partial.replace(target)
        log.info("converted %s to ONNX (checked against dlib: %.1g apart)", manifest.name, gap)
    except dlib_onnx.ConversionError as exc:
        raise ManifestError(f"model {manifest.name!r}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


def _check_chip() -> npt.NDArray[np.uint8]:
    # A fixed, structured pattern: every layer sees varied input, and the check is repeatable.
    y, x = np.mgrid[0:150, 0:150]
    chip = np.stack(
        [(x * 5 + y * 3) % 256, (x * y) % 256, (np.sin(x / 9.0) * 100 + 128).astype(int)], axis=-1
    )
    return chip.astype(np.uint8)

"""Media intake: sniff the real type from magic bytes, enforce limits, decode sampled frames.

Contract: ``load_media(data, limits)`` is CPU-bound and must run in the executor. Any refusal or
decode failure raises ``UnscannableMedia`` with a stable ``code`` and a message fit to show a
moderator; no other exception may escape for any input bytes.

Frames are normalised so the same picture yields the same pixels whatever it was saved as: every
mode becomes RGB (transparency composited onto white, 16-bit greyscale scaled to 8 bits), EXIF
orientation is applied, and large images are reduced so their shorter side stays within
``[work_size, 2 * work_size)`` (JPEGs by reduced-size DCT decoding, the rest by an integer box
filter). Detectors take small inputs and perceptual hashes downsample anyway, so nothing is lost.

Videos (MP4, MOV, WebM) are decoded by ``bot.core.video`` when ``limits.scan_videos`` is on; their
frames follow the same rules, sampled over the clip's duration.
"""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from bot.core import _decode
from bot.core.limits import MIB, MediaLimits

if TYPE_CHECKING:
    import numpy as np


class MediaType(enum.Enum):
    """Image and video formats the scanner decodes, identified by their magic bytes."""

    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    BMP = "bmp"
    TIFF = "tiff"
    MP4 = "mp4"
    MOV = "mov"
    WEBM = "webm"

    @property
    def label(self) -> str:
        """Display name, e.g. ``"WebP"``."""
        return _LABELS[self]

    @property
    def is_video(self) -> bool:
        """Whether ``bot.core.video`` (PyAV) decodes this type rather than Pillow."""
        return self in _VIDEO_TYPES

    @property
    def pil_format(self) -> str:
        """Pillow's format name; the only decoder Pillow may try for this type."""
        return self.value.upper()


_LABELS = {
    MediaType.JPEG: "JPEG",
    MediaType.PNG: "PNG",
    MediaType.GIF: "GIF",
    MediaType.WEBP: "WebP",
    MediaType.BMP: "BMP",
    MediaType.TIFF: "TIFF",
    MediaType.MP4: "MP4",
    MediaType.MOV: "MOV",
    MediaType.WEBM: "WebM",
}
_VIDEO_TYPES = frozenset({MediaType.MP4, MediaType.MOV, MediaType.WEBM})
ACCEPTED_IMAGES = ", ".join(label for kind, label in _LABELS.items() if kind not in _VIDEO_TYPES)
ACCEPTED = ", ".join(_LABELS.values())

# ISO base media (``ftyp``) brands. HEIF/AVIF images share the box with MP4 and QuickTime, so an
# image brand wins over any video brand listed beside it.
_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
    | {b"avif", b"avis", b"avio", b"miaf", b"crx ", b"jpeg"}
)
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash"}
    | {b"M4V ", b"M4VH", b"M4VP", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"mmp4", b"MSNV", b"f4v "}
)


def sniff(data: bytes) -> MediaType | None:
    """Identify a supported image or video type from its magic bytes only (never a file name)."""
    if data.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType.PNG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return MediaType.GIF
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return MediaType.WEBP
    if data.startswith(b"BM"):
        return MediaType.BMP
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return MediaType.TIFF
    if data[4:8] == b"ftyp":
        return _sniff_ftyp(data)
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaType.WEBM  # EBML header: WebM and Matroska (the demuxer handles both)
    return None


def _sniff_ftyp(data: bytes) -> MediaType | None:
    """MP4 or MOV from the ``ftyp`` box's major and compatible brands; None for HEIF/AVIF."""
    size = int.from_bytes(data[:4], "big")
    major = data[8:12]
    # Compatible brands follow the major brand and its 4-byte version (a bounded, small box).
    end = min(size, 64) if size >= 16 else 16
    brands = {major} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _IMAGE_BRANDS:
        return None
    if major == b"qt  ":
        return MediaType.MOV
    return MediaType.MP4 if brands & _MP4_BRANDS else None


class UnscannableMedia(Exception):
    """Media the scanner refuses or cannot decode.

    ``code`` is stable (``empty``, ``too_large``, ``unsupported_type``, ``too_many_pixels``,
    ``too_many_frames``, ``animation_too_large``, ``corrupt``; for videos also ``too_long`` and
    ``no_video_stream``); ``message`` is short and fit to show a moderator, and is also
    ``str(exc)``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One decoded frame, normalised for hashing and detection.

    ``pixels`` is an HxWx3 uint8 RGB array, C-contiguous and read-only (frames are shared by every
    hasher and detector: copy before changing). Equality is identity.
    """

    index: int
    """Index of this frame in the animation (0 for a still image); for a video, its presentation
    time in milliseconds from the start of the stream."""
    pixels: np.ndarray

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class Media:
    """A decoded piece of media: its bytes, real type, displayed size and sampled frames."""

    data: bytes
    media_type: MediaType
    width: int
    """Full width as displayed (after EXIF orientation), even when frames were decoded smaller."""
    height: int
    frame_count: int
    """Frames in the file (1 for a still image); only ``frames`` were decoded."""
    frames: tuple[Frame, ...]
    """``min(limits.sample_frames, frame_count)`` frames spread evenly, first and last included;
    for a video, up to ``limits.video_sample_frames`` spread over its duration."""

    @property
    def animated(self) -> bool:
        return self.frame_count > 1


def load_media(data: bytes, limits: MediaLimits) -> Media:
    """Check ``data`` against ``limits``, then decode its sampled frames.

    CPU-bound: run it in the executor. Raises ``UnscannableMedia`` for every refusal and every
    decoding failure, and nothing else. Checks run cheapest first: size in bytes, magic bytes,
    then the dimensions and frame count declared in the header, all before any pixel is decoded.
    """
    if not data:
        raise UnscannableMedia("empty", "the file is empty")
    if len(data) > limits.max_bytes:
        raise UnscannableMedia(
            "too_large",
            f"the file is {_size(len(data))}, over the {_size(limits.max_bytes)} limit",
        )
    media_type = sniff(data)
    if media_type is None or (media_type.is_video and not limits.scan_videos):
        if media_type is not None:
            found = f"a {media_type.label} video (video scanning is off)"
        else:
            found = _decode.describe_unsupported(data) or "an unrecognised format"
        accepted = ACCEPTED if limits.scan_videos else ACCEPTED_IMAGES
        raise UnscannableMedia(
            "unsupported_type", f"unsupported file type: {found} (accepted: {accepted})"
        )
    if media_type.is_video:
        # Imported here: bot.core.video builds on this module, and PyAV only loads when needed.
        from bot.core import video

        return video.load_video(data, media_type, limits)
    try:
        return _load(data, media_type, limits)
    except UnscannableMedia:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard fired first (its limit is global; ours is per call). The warning only
        # arrives as an exception when the process turns warnings into errors.
        raise UnscannableMedia(
            "too_many_pixels",
            f"the {media_type.label} declares too many pixels to decode safely "
            "(decompression-bomb guard)",
        ) from None
    except UnidentifiedImageError:
        # Pillow's message names the BytesIO object, which means nothing to a moderator.
        raise UnscannableMedia(
            "corrupt", f"could not decode the {media_type.label}: its header is not valid"
        ) from None
    except MemoryError:
        raise UnscannableMedia(
            "corrupt", f"ran out of memory decoding the {media_type.label}"
        ) from None
    except Exception as exc:
        raise UnscannableMedia(
            "corrupt", f"could not decode the {media_type.label}: {_reason(exc)}"
        ) from exc


def _load(data: bytes, media_type: MediaType, limits: MediaLimits) -> Media:
    with Image.open(io.BytesIO(data), formats=[media_type.pil_format]) as image:
        full_size = image.size
        _check_pixels(full_size, media_type, limits)
        # Extra frames of a JPEG (MPO: stereo pairs, depth maps, previews) are never displayed.
        # A TIFF's pages are counted by walking its page chain, which stops past the limit,
        # before Pillow is asked (its count costs the square of the pages).
        pages = _decode.tiff_pages(data, limits.max_frames) if media_type is MediaType.TIFF else 0
        if media_type is MediaType.JPEG:
            frame_count = 1
        elif pages > limits.max_frames:
            frame_count = pages  # refused below, before Pillow counts them
        else:
            frame_count = int(getattr(image, "n_frames", 1))
        if frame_count < 1:
            raise ValueError("no frames")
        if frame_count > limits.max_frames:
            told = "more than" if pages > limits.max_frames else f"{frame_count} frames, over"
            raise UnscannableMedia(
                "too_many_frames", f"the file has {told} the {limits.max_frames}-frame limit"
            )
        total = full_size[0] * full_size[1] * frame_count
        if total > limits.max_total_pixels:
            raise _animation_too_large(total, limits)
        width, height = _decode.oriented_size(full_size, _decode.orientation(image))

        frames: list[Frame] = []
        position, decoded = 0, full_size[0] * full_size[1]
        for index in _decode.sample_indices(frame_count, limits.sample_frames):
            # Step one frame at a time: a GIF decodes every frame on the way, and any frame may
            # grow its canvas, so each step is checked before the next one decodes it.
            while position < index:
                position += 1
                image.seek(position)
                _check_pixels(image.size, media_type, limits)
                decoded += image.size[0] * image.size[1]
                if decoded > limits.max_total_pixels:
                    raise _animation_too_large(decoded, limits)
            frames.append(Frame(index, _frame_pixels(image, media_type, limits.work_size)))
    return Media(data, media_type, width, height, frame_count, tuple(frames))


def _frame_pixels(image: Image.Image, media_type: MediaType, work_size: int) -> np.ndarray:
    """Decode the current frame into normalised RGB pixels."""
    if media_type is MediaType.JPEG and min(image.size) >= 2 * work_size:
        # Reduced-size DCT decode (1/2, 1/4 or 1/8): Pillow picks the largest scale whose result
        # is at least work_size on both sides. Several times faster on camera-sized photos.
        image.draft("RGB", (work_size, work_size))
    orientation = _decode.orientation(image)
    image.load()
    rgb = _decode.shrink(_decode.to_rgb(image), work_size)
    return _decode.pixels(_decode.upright(rgb, orientation))


def _check_pixels(size: tuple[int, int], media_type: MediaType, limits: MediaLimits) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"invalid dimensions {width}x{height}")
    if width * height > limits.max_pixels:
        raise UnscannableMedia(
            "too_many_pixels",
            f"the {media_type.label} is {width}x{height} ({_megapixels(width * height)}), "
            f"over the {_megapixels(limits.max_pixels)} limit",
        )


def _animation_too_large(total: int, limits: MediaLimits) -> UnscannableMedia:
    return UnscannableMedia(
        "animation_too_large",
        f"the animation holds {_megapixels(total)} in all, "
        f"over the {_megapixels(limits.max_total_pixels)} limit",
    )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def _size(size: int) -> str:
    if size >= MIB:
        return f"{size / MIB:.1f} MiB"
    return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} bytes"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} megapixels" if pixels >= 100_000 else f"{pixels} pixels"

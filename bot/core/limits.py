"""Limits that keep hostile or oversized media from exhausting the host."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Bounds applied to every piece of media before and while it is decoded.

    Defaults suit Discord uploads: its largest boosted-server upload is bigger than ``max_bytes``,
    but still images past 32 MiB are rare and such files are refused as ``unscannable``.
    """

    max_bytes: int = 32 * MIB
    """Files larger than this are refused without being decoded."""
    max_pixels: int = 50_000_000
    """Largest width x height of one frame (decompression-bomb guard)."""
    max_frames: int = 2_000
    """Animations with more frames than this are refused."""
    max_total_pixels: int = 400_000_000
    """Largest width x height x frames of an animation: bounds the work of decoding it."""
    sample_frames: int = 8
    """How many frames, spread evenly over an animation, are hashed and scored."""
    work_size: int = 512
    """Large JPEGs are decoded at a reduced scale whose shorter side stays >= this many pixels."""
    scan_videos: bool = True
    """Decode MP4/MOV/WebM videos; when off they are refused as ``unsupported_type``."""
    max_video_seconds: float = 600.0
    """Videos declaring a longer duration than this are refused without decoding a frame."""
    video_sample_frames: int = 16
    """How many frames, spread evenly over a video's duration, are hashed and scored."""
    max_video_decode_pixels: int = 1_000_000_000
    """Soft budget of width x height x frames decoded per video (1085 frames at 720p, about 1 s).

    Reaching a sampled time may mean decoding forward from the previous keyframe; once the budget
    is spent, each remaining sample takes the keyframe its seek lands on instead. Never a refusal.
    """

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "max_pixels",
            "max_frames",
            "max_total_pixels",
            "sample_frames",
            "video_sample_frames",
            "max_video_decode_pixels",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not self.max_video_seconds > 0:
            raise ValueError("max_video_seconds must be positive")
        if self.work_size < 64:
            raise ValueError("work_size must be at least 64")

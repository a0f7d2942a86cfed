"""Video intake: decode a bounded set of frames spread over an MP4, MOV or WebM clip with PyAV.

Contract, as for ``media.load_media``: ``load_video`` is CPU-bound (run it in the executor) and
raises ``UnscannableMedia`` for every refusal and every decoding failure, never anything else.

Sampling. ``limits.video_sample_frames`` target times are spread evenly over the declared
duration, ``i * duration / n`` for ``i < n``, so the first frame (the preview Discord shows) is
always one of them. Each target is reached by seeking to the keyframe at or before it and decoding
forward to it, or by decoding on when no keyframe lies between the last sample and it (a packet
scan, which demuxes without decoding, finds the keyframes first). On the way, frames shown before
the target that no other frame refers to (B-frames, typically) are not decoded at all. The pixels
decoded per video are capped by ``limits.max_video_decode_pixels``: once spent, each remaining
target takes the keyframe its seek lands on, so a long clip is never decoded whole. Frames are
converted to RGB and reduced like still images (shorter side within ``[work_size, 2*work_size)``).

``Frame.index`` of a video frame is its presentation time in milliseconds from the start of the
stream (not a frame number: variable-frame-rate clips have no stable frame numbering).

vPDQ compatibility. Meta's vPDQ hashes one frame per second and matches two videos by the share
of their per-second PDQ hashes that lie within a distance of each other. The scanner hashes every
sampled frame with the same PDQ (``bot.core.hashing``), so each of our frame hashes is directly
comparable with the entries of a vPDQ list. Such lists (the reference tools' hash files and
python-threatexchange's JSON form, read by ``bot.core.vpdq``) are imported with
``consentry blocklist import`` or ``/blocklist import``: each frame above the PDQ quality floor,
less near-repeats of the previous kept frame, becomes a PDQ entry, so a re-upload matches when
any sampled frame lies within the PDQ distance of one. What differs from vPDQ is coverage (16
frames rather than one a second) and the verdict rule (one close frame is a match here, not a
share of the clip); a vPDQ-style match over the whole clip is a later step.

Not handled yet: display rotation side data (phone portrait clips are hashed as stored, sideways;
PDQ's dihedral variants still match them) and content past a lying, too-short declared duration.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import numpy as np

from bot.core.limits import MediaLimits
from bot.core.media import Frame, Media, MediaType, UnscannableMedia

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

# The only demuxer FFmpeg may use for each type: no probing, so no playlist or concat demuxer
# (which could open other files) is ever reached from uploaded bytes.
_DEMUXERS = {MediaType.MP4: "mov", MediaType.MOV: "mov", MediaType.WEBM: "matroska"}

# Running out of frames before this share of the declared duration means the stream is cut short
# (truncated upload); past it, a missing sample is only a clip whose audio outlasts its video.
_TRUNCATED_BEFORE = 0.9

# Codecs whose decoders parallelise best within a frame (see where the thread type is set).
_SLICE_THREADED = frozenset({"h264", "hevc"})


def load_video(data: bytes, media_type: MediaType, limits: MediaLimits) -> Media:
    """Check a video's header against ``limits``, then decode its sampled frames.

    ``Media.frame_count`` is the number of frames the container declares, else the number of
    video packets (one frame each in MP4 and WebM).
    """
    try:
        return _load(data, media_type, limits)
    except UnscannableMedia:
        raise
    except MemoryError:
        raise UnscannableMedia(
            "corrupt", f"ran out of memory decoding the {media_type.label}"
        ) from None
    except Exception as exc:
        # av.error.* (InvalidDataError, EOFError...), OSError and ValueError from damaged streams;
        # anything else from FFmpeg is just as much a file we cannot scan.
        raise UnscannableMedia(
            "corrupt", f"could not decode the {media_type.label}: {_reason(exc)}"
        ) from exc


def _load(data: bytes, media_type: MediaType, limits: MediaLimits) -> Media:
    with av.open(
        io.BytesIO(data), mode="r", format=_DEMUXERS[media_type], metadata_errors="ignore"
    ) as container:
        if not container.streams.video and not container.streams.audio:
            # Nothing playable at all (a damaged header leaves at best a codec-less data stream).
            raise ValueError("no video or audio stream could be read")
        if not container.streams.video:
            raise UnscannableMedia(
                "no_video_stream", f"the {media_type.label} holds no video stream"
            )
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_pixels(width, height, media_type, limits)
        if stream.time_base is None:
            raise ValueError("the video stream has no time base")
        declared = _declared_duration(container, stream)
        if declared is not None:
            _check_duration(declared, media_type, limits)
        # Demuxing without decoding is cheap and bounded by the file size. It finds the keyframes,
        # so sampling never decodes a frame twice, and the duration streamed WebM (browser
        # recordings) leaves undeclared.
        scanned, packets, keyframes = _scan_packets(container, stream)
        duration = scanned if declared is None else declared
        _check_duration(duration, media_type, limits)
        # Decoders can change resolution mid-stream (VP8/VP9 keyframes): FFmpeg's own per-frame
        # limit refuses such a frame before allocating it.
        stream.codec_context.options = {"max_pixels": str(limits.max_pixels)}
        # Measured on 2 cores: H.264 and HEVC decode 1.5-1.7x faster with slice threads (x264
        # slices, x265 wavefronts) than with frame threads, which cost 25% more CPU for 1.2x;
        # VP8/VP9 gain most from frame threads. Single-slice H.264 is no slower either way.
        stream.thread_type = "SLICE" if stream.codec_context.name in _SLICE_THREADED else "AUTO"
        frames = _sample(container, stream, duration, keyframes, media_type, limits)
        frame_count = stream.frames or packets
    if not frames:
        raise ValueError("no frame could be decoded")
    return Media(data, media_type, width, height, frame_count or len(frames), tuple(frames))


def _check_duration(duration: float, media_type: MediaType, limits: MediaLimits) -> None:
    if duration > limits.max_video_seconds:
        raise UnscannableMedia(
            "too_long",
            f"the {media_type.label} lasts {duration:.0f} s, "
            f"over the {limits.max_video_seconds:.0f} s limit",
        )


def _declared_duration(container: InputContainer, stream: VideoStream) -> float | None:
    """Seconds the video stream (else the whole container) declares, or None when unknown."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _scan_packets(container: InputContainer, stream: VideoStream) -> tuple[float, int, list[float]]:
    """Duration, packet count and sorted keyframe times (seconds) of the video stream."""
    time_base = _time_base(stream)
    start = stream.start_time or 0
    end, count, keyframes = 0, 0, set()
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the flush packet demux() yields at the end
        count += 1
        if packet.pts is not None:
            end = max(end, packet.pts - start + (packet.duration or 0))
            if packet.is_keyframe:
                keyframes.add(float((packet.pts - start) * time_base))
    if count == 0:
        raise ValueError("the video stream holds no packets")
    container.seek(start, stream=stream, backward=True)
    return float(end * time_base), count, sorted(keyframes)


def _sample(
    container: InputContainer,
    stream: VideoStream,
    duration: float,
    keyframes: list[float],
    media_type: MediaType,
    limits: MediaLimits,
) -> list[Frame]:
    time_base = _time_base(stream)
    start = stream.start_time or 0
    count = limits.video_sample_frames
    targets = [duration * i / count for i in range(count)] if duration > 0 else [0.0]
    # Half a frame interval: a frame this close before a target is the one shown at that time.
    rate = stream.average_rate
    tolerance = 0.5 / float(rate) if rate else 0.02
    budget = limits.max_video_decode_pixels

    frames: list[Frame] = []
    decoder = _Decoder(container, stream)
    position = -1.0  # time of the last decoded frame, relative to the stream start
    for target in targets:
        # Decode forward while no keyframe lies between here and the target: a seek would land
        # behind us and decode the same frames again. Once the budget is spent, always seek.
        before = bisect.bisect_right(keyframes, target) - 1
        keyframe = keyframes[before] if before >= 0 else -1.0  # none known: a seek gains nothing
        ahead = position < target and keyframe <= position
        if not decoder.started or budget <= 0 or not ahead:
            decoder.seek(start + int(target / time_base))
        # Frames shown before this can never be the sample: those no other frame refers to need
        # not be decoded at all (B-frames, about half of an x264 stream's frames).
        decoder.skip_before = start + int((target - tolerance) / time_base)
        chosen: VideoFrame | None = None
        for frame in decoder:
            _check_pixels(frame.width, frame.height, media_type, limits)
            budget -= frame.width * frame.height
            position = _seconds(frame, time_base, start, target)
            # Out of budget: settle for this frame (after a seek, the keyframe it landed on).
            if position >= target - tolerance or budget <= 0:
                chosen = frame
                break
        if chosen is None:
            decoder.stop()  # the stream ended; a further target needs a fresh seek
            if target < _TRUNCATED_BEFORE * duration:
                raise UnscannableMedia(
                    "corrupt",
                    f"the {media_type.label} stops at {max(position, 0):.1f} s of its declared "
                    f"{duration:.1f} s (truncated?)",
                )
            continue
        if frames and round(position * 1000) <= frames[-1].index:
            continue  # a seek landed on a frame already sampled
        frames.append(Frame(round(position * 1000), _pixels(chosen, limits.work_size)))
    return frames


class _Decoder:
    """The video stream's frames in presentation order from the last seek, decoded packet by
    packet so that each packet can be skipped or not.

    A packet whose presentation time is before ``skip_before`` is decoded only if other frames
    refer to it (FFmpeg's ``skip_frame = NONREF``, read per packet, even by frame threads). A
    skipped frame is one no sample could have chosen, so samples are identical either way.
    """

    def __init__(self, container: InputContainer, stream: VideoStream) -> None:
        self._container = container
        self._stream = stream
        self._frames: Iterator[VideoFrame] | None = None
        self.skip_before: int | None = None
        """Presentation time (stream time base) before which unreferenced frames are skipped."""

    @property
    def started(self) -> bool:
        """Whether a seek has positioned the decoder and the stream has not ended since."""
        return self._frames is not None

    def seek(self, pts: int) -> None:
        """Go to the keyframe at or before ``pts`` (stream time base); FFmpeg flushes the codec."""
        self._container.seek(pts, stream=self._stream, backward=True)
        self._frames = self._decode()

    def stop(self) -> None:
        """Forget the position: the stream ended, a further frame needs a fresh seek."""
        self._frames = None

    def __iter__(self) -> Iterator[VideoFrame]:
        # One generator per seek, so a loop that breaks early resumes where it left off (a
        # packet can yield several frames: the last one drains the decoder).
        return self._frames if self._frames is not None else iter(())

    def _decode(self) -> Iterator[VideoFrame]:
        codec = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            early = (
                packet.pts is not None
                and self.skip_before is not None
                and packet.pts < self.skip_before
            )
            codec.skip_frame = "NONREF" if early else "DEFAULT"
            # A size-0 packet (demux's last) drains the frames the decoder still holds.
            yield from self._stream.decode(packet)


def _seconds(frame: VideoFrame, time_base: Fraction, start: int, fallback: float) -> float:
    """A decoded frame's time from the stream start; ``fallback`` when it carries none."""
    if frame.pts is None:
        return fallback
    return float((frame.pts - start) * time_base)


def _pixels(frame: VideoFrame, work_size: int) -> np.ndarray:
    """RGB pixels, reduced by an integer factor as ``_decode.shrink`` reduces still images."""
    factor = min(frame.width, frame.height) // work_size
    if factor >= 2:
        # Scaling inside the YUV->RGB conversion costs less than converting at full size.
        rgb = frame.reformat(
            width=frame.width // factor,
            height=frame.height // factor,
            format="rgb24",
            interpolation="AREA",
        )
    else:
        rgb = frame.reformat(format="rgb24")
    array = np.ascontiguousarray(rgb.to_ndarray(), dtype=np.uint8)
    array.setflags(write=False)
    return array


def _time_base(stream: VideoStream) -> Fraction:
    if stream.time_base is None:
        raise ValueError("the video stream has no time base")
    return stream.time_base


def _check_pixels(width: int, height: int, media_type: MediaType, limits: MediaLimits) -> None:
    if width < 1 or height < 1:
        raise ValueError(f"invalid dimensions {width}x{height}")
    if width * height > limits.max_pixels:
        raise UnscannableMedia(
            "too_many_pixels",
            f"the {media_type.label} is {width}x{height}, over the "
            f"{limits.max_pixels / 1e6:.1f} megapixel limit",
        )


def _reason(exc: BaseException) -> str:
    # FFmpeg errors' str() carries an errno and a placeholder file name, noise to a moderator.
    message = exc.strerror if isinstance(exc, av.error.FFmpegError) else str(exc)
    text = " ".join(str(message).split()) or type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."

"""Video intake: MP4/MOV/WebM sniffing, sampled decoding, limits, damaged streams, PDQ matching.

Every clip is generated here with PyAV from drawn frames or the benign photos of tests.imagery.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import av
import numpy as np
import pytest
from av.audio.stream import AudioStream
from av.video.stream import VideoStream
from PIL import Image

from bot.core.hashing import hamming, hash_frame
from bot.core.limits import MediaLimits
from bot.core.media import Frame, MediaType, UnscannableMedia, load_media, sniff
from tests.imagery import photo
from tests.media_support import load, refusal

VIDEO = MediaLimits(scan_videos=True)
# Fragmented MP4 puts its header first, so a cut or damaged file still opens (like a faststart
# upload); PyAV's plain MP4 writes the header at the end.
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov"}
PDQ_MATCH = 31


def blocks(index: int, size: tuple[int, int] = (320, 240), scene_frames: int = 10) -> np.ndarray:
    """A drawn frame of random coloured blocks, new every ``scene_frames`` frames, sliding."""
    width, height = size
    rng = np.random.default_rng(index // scene_frames)
    grid = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    shift = index % scene_frames
    return np.ascontiguousarray(grid.repeat(16, 0).repeat(16, 1)[:height, shift : shift + width])


def clip(
    fmt: str = "mp4",
    codec: str = "h264",
    *,
    seconds: float = 3,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    draw: Callable[[int], np.ndarray] | None = None,
    options: dict[str, str] | None = None,
    codec_options: dict[str, str] | None = None,
) -> bytes:
    """Encode ``seconds`` of drawn frames (``blocks`` unless ``draw`` is given) in memory."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt, options=options or {}) as container:
        # ultrafast: x264's default preset takes seconds per clip, far too slow for a test suite.
        fast = {"preset": "ultrafast"} if codec == "h264" else {}
        stream = container.add_stream(codec, rate=fps, options=fast | (codec_options or {}))
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(round(seconds * fps)):
            pixels = draw(index) if draw else blocks(index, size)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def audio_only_mp4() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100, layout="mono")
        assert isinstance(stream, AudioStream)
        for index in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


# ---------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", MediaType.MP4),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", MediaType.MP4),
        (b"\x00\x00\x00\x14ftypM4V \x00\x00\x00\x01M4V ", MediaType.MP4),
        (b"\x00\x00\x00\x18ftypXXXX\x00\x00\x00\x00mp41isom", MediaType.MP4),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", MediaType.MOV),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", MediaType.WEBM),
    ],
)
def test_sniff_identifies_mp4_mov_and_webm_from_their_headers(
    head: bytes, expected: MediaType
) -> None:
    assert sniff(head) is expected
    assert expected.is_video


@pytest.mark.parametrize(
    ("head", "named"),
    [
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "HEIF"),
        (b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00avifmif1miafMA1B", "AVIF"),
    ],
)
def test_heic_and_avif_brands_stay_unsupported_with_videos_on(head: bytes, named: str) -> None:
    assert sniff(head) is None
    error = refusal(head, VIDEO)
    assert error.code == "unsupported_type" and named in error.message
    assert "MP4, MOV, WebM" in error.message


def test_videos_are_refused_as_unsupported_when_video_scanning_is_off() -> None:
    assert MediaLimits().scan_videos is True  # on by default
    error = refusal(clip(), MediaLimits(scan_videos=False))
    assert error.code == "unsupported_type" and "MP4" in error.message
    assert "WebM" not in error.message.split("accepted:")[1]


def test_video_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_video_seconds"):
        MediaLimits(max_video_seconds=0)
    with pytest.raises(ValueError, match="video_sample_frames"):
        MediaLimits(video_sample_frames=0)


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("fmt", "codec", "expected", "fps", "seconds"),
    [
        ("mp4", "h264", MediaType.MP4, 25, 4),
        ("mov", "h264", MediaType.MOV, 10, 3),
        ("webm", "vp8", MediaType.WEBM, 15, 3),
        ("webm", "vp9", MediaType.WEBM, 10, 2),
    ],
)
def test_clips_load_with_their_type_size_and_frames_spread_over_the_duration(
    fmt: str, codec: str, expected: MediaType, fps: int, seconds: int
) -> None:
    media = load(clip(fmt, codec, seconds=seconds, fps=fps), VIDEO)
    assert (media.media_type, media.width, media.height) == (expected, 320, 240)
    times = [frame.index for frame in media.frames]  # milliseconds
    assert len(times) == VIDEO.video_sample_frames
    assert times == sorted(set(times)) and times[0] == 0
    assert times[-1] >= 0.85 * seconds * 1000
    # MP4 declares its frame count; WebM does not, and its packets are counted instead.
    assert media.frame_count == fps * seconds
    assert all((frame.width, frame.height) == (320, 240) for frame in media.frames)
    assert not media.frames[0].pixels.flags.writeable


def test_a_streamed_webm_without_a_declared_duration_is_sampled_over_its_packets() -> None:
    data = clip("webm", "vp8", seconds=3, options={"live": "1"})  # no duration, no cues
    with av.open(io.BytesIO(data)) as container:
        assert container.duration is None
    media = load(data, VIDEO)
    times = [frame.index for frame in media.frames]
    assert media.frame_count == 30 and len(times) == 16 and times[-1] >= 2500
    assert refusal(data, MediaLimits(scan_videos=True, max_video_seconds=2)).code == "too_long"


def test_large_video_frames_are_reduced_like_still_images() -> None:
    media = load(clip(seconds=1), MediaLimits(scan_videos=True, work_size=64))
    assert (media.width, media.height) == (320, 240)  # the full size is still reported
    for frame in media.frames:
        assert 64 <= min(frame.width, frame.height) < 128


def test_the_sample_count_follows_the_limit() -> None:
    limits = MediaLimits(scan_videos=True, video_sample_frames=4)
    media = load(clip(seconds=4), limits)
    assert [frame.index for frame in media.frames] == [0, 1000, 2000, 3000]


def test_a_blocklisted_photo_shown_for_one_second_mid_clip_matches_a_sampled_frame() -> None:
    shown = np.asarray(photo("chelsea").resize((320, 240), Image.Resampling.LANCZOS))
    listed = hash_frame(Frame(0, shown)).pdq

    def draw(index: int) -> np.ndarray:
        return shown if 20 <= index < 30 else blocks(index)  # 2.0 s to 3.0 s at 10 fps

    media = load(clip(seconds=5, draw=draw), VIDEO)
    distances = {
        frame.index: min(hamming(v, listed) for v in hash_frame(frame).pdq_variants)
        for frame in media.frames
    }
    matched = {index for index, distance in distances.items() if distance <= PDQ_MATCH}
    assert matched and all(2000 <= index < 3000 for index in matched)
    assert all(distances[i] > PDQ_MATCH for i in distances if not 2000 <= i < 3000)


def test_once_the_decode_budget_is_spent_samples_fall_back_to_keyframes() -> None:
    keyframe_each_second = {"x264-params": "keyint=10:min-keyint=10:scenecut=0"}
    data = clip(seconds=6, codec_options=keyframe_each_second)
    limits = MediaLimits(scan_videos=True, max_video_decode_pixels=1)
    times = [frame.index for frame in load(data, limits).frames]
    assert times == [0, 1000, 2000, 3000, 4000, 5000]  # duplicates of a keyframe are dropped


def test_frames_skipped_on_the_way_to_a_sample_leave_the_samples_unchanged() -> None:
    # B-frames (x264's ultrafast preset has none) are what the loader skips: frames shown before
    # a target that no other frame refers to. Every sample must still equal the frame a full
    # decode shows at that time, pixel for pixel.
    b_frames = {"x264-params": "bframes=3:b-pyramid=none:keyint=60:scenecut=0"}
    # At 24 fps, frame times never fall on a target's edge (half a frame before it), and the
    # targets land on B-frames as well as on the P-frames between them.
    fps = 24
    data = clip(seconds=7, fps=fps, codec_options=b_frames)
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        shown = {
            round(float(frame.time or 0) * 1000): frame.to_ndarray(format="rgb24")
            for frame in container.decode(stream)
        }
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        referenced = sum(1 for _ in container.decode(stream))
    assert referenced < len(shown) / 2  # most frames are unreferenced: skipping is exercised
    media = load(data, VIDEO)
    # The frame shown at each target: the first at most half a frame interval before it.
    targets = [7000 * i / VIDEO.video_sample_frames for i in range(VIDEO.video_sample_frames)]
    expected = [min(t for t in shown if t >= target - 500 / fps) for target in targets]
    assert [frame.index for frame in media.frames] == expected
    for frame in media.frames:
        assert np.array_equal(frame.pixels, shown[frame.index]), frame.index


# ---------------------------------------------------------------- refusals


def test_clips_longer_than_the_limit_are_refused_before_decoding() -> None:
    data = clip(seconds=3)
    error = refusal(data, MediaLimits(scan_videos=True, max_video_seconds=2))
    assert error.code == "too_long" and "3 s" in error.message
    assert load(data, MediaLimits(scan_videos=True, max_video_seconds=3)).frames


def test_clips_over_the_pixel_limit_are_refused() -> None:
    data = clip(seconds=1)
    error = refusal(data, MediaLimits(scan_videos=True, max_pixels=320 * 240 - 1))
    assert error.code == "too_many_pixels" and "320x240" in error.message
    assert load(data, MediaLimits(scan_videos=True, max_pixels=320 * 240)).frames


def test_a_file_without_a_video_stream_is_refused() -> None:
    assert refusal(audio_only_mp4(), VIDEO).code == "no_video_stream"


@pytest.mark.parametrize(
    ("fmt", "codec", "options"),
    [("mp4", "h264", {}), ("mp4", "h264", FRAGMENTED), ("webm", "vp8", {}), ("webm", "vp9", {})],
)
@pytest.mark.parametrize("kept", [0.5, 0.8])
def test_truncated_clips_are_refused_as_corrupt(
    fmt: str, codec: str, options: dict[str, str], kept: float
) -> None:
    data = clip(fmt, codec, options=options)
    error = refusal(data[: int(len(data) * kept)], VIDEO)
    assert error.code == "corrupt" and "Errno" not in error.message


@pytest.mark.parametrize(
    ("fmt", "codec", "options"),
    [("mp4", "h264", {}), ("mp4", "h264", FRAGMENTED), ("webm", "vp8", {})],
)
@pytest.mark.parametrize("header", [64, 200, "third"])
def test_garbage_after_a_valid_header_is_refused_as_corrupt(
    fmt: str, codec: str, options: dict[str, str], header: int | str
) -> None:
    data = clip(fmt, codec, options=options)
    keep = len(data) // 3 if header == "third" else int(header)
    damaged = data[:keep] + random.Random(keep).randbytes(len(data) - keep)
    assert sniff(damaged) is sniff(data)
    assert refusal(damaged, VIDEO).code == "corrupt"


def test_mutated_clips_only_ever_load_or_raise_unscannable_media() -> None:
    data = clip(seconds=1, size=(64, 48), options=FRAGMENTED)
    rng = random.Random(2024)
    outcomes = set()
    for _ in range(50):
        mutated = bytearray(data)
        start = rng.randrange(len(mutated))
        match rng.randrange(4):
            case 0:  # flip a few bytes, header included
                for _ in range(rng.randint(1, 8)):
                    mutated[rng.randrange(min(len(mutated), 2048))] ^= rng.randrange(1, 256)
            case 1:
                del mutated[start:]
            case 2:
                mutated[start:start] = rng.randbytes(rng.randint(1, 512))
            case _:
                end = min(len(mutated), start + rng.randint(1, 256))
                mutated[start:end] = rng.randbytes(end - start)
        try:
            media = load(bytes(mutated), VIDEO)
        except UnscannableMedia as error:
            outcomes.add(error.code)
        else:
            outcomes.add("loaded")
            assert media.frames
    assert outcomes <= {"loaded", "corrupt", "unsupported_type", "no_video_stream"}


def test_load_media_hands_videos_to_the_video_loader() -> None:
    media = load_media(clip("webm", "vp8", seconds=1), VIDEO)
    assert media.media_type is MediaType.WEBM and media.animated

"""The audio signal path: decode anything, measure, make every item equally loud, encode.

No Django here. Everything works on `Clip` (mono float32) at `PIPELINE_RATE` (48 kHz) and keeps
memory proportional to one copy of the programme: decoding fills one growing float32 buffer,
loudness and true peak are measured block by block (never a float64 or 4x-oversampled copy of the
whole programme), and the limiter works on blocks of a few seconds. See docs/speech-audio.md for
the decisions and the measured figures.
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np
from scipy import signal
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from .clip import PIPELINE_RATE, Clip
from .errors import AudioInputError

MAX_INPUT_SECONDS = 3600
MIN_INPUT_SECONDS = 0.5
MAX_INPUT_BYTES = 200 * 1024 * 1024

# Every code this module raises (as AudioInputError(code, **params)) with its meaning; the Django
# layer maps each code to a message that says what to fix.
ERROR_CODES: dict[str, str] = {
    "not_audio": "The file is not audio FFmpeg can decode (text, image, script, unknown format) "
    "or has no audio stream.",
    "empty": "The file is empty (zero bytes) or its audio stream decodes to no samples.",
    "too_large": "The file is bigger than MAX_INPUT_BYTES (params: bytes, max).",
    "too_short": "The recording is shorter than the minimum (params: seconds, min).",
    "too_long": "The recording is longer than the maximum, judged from the declared duration or "
    "while decoding (params: seconds, max).",
    "truncated": "The file stops part-way: decoding ends with an error after some audio, or much "
    "less decodes than the header declares (params: seconds, declared).",
    "damaged": "The audio stream is corrupt: decoder errors that are not a clean cut at the end.",
    "silent": "normalize_loudness got silence only (nothing above -70 LUFS), so there is no "
    "level to normalise.",
}

# Demuxers we accept. Probing is by content only (we never give FFmpeg a file name), and this
# list keeps playlists/concat scripts/image pipes (which could open other files or URLs, or just
# are not recordings) out. "mov,mp4,m4a,3gp,3g2,mj2" and "matroska,webm" are single demuxers.
_FORMAT_WHITELIST = ",".join(
    [
        "wav",
        "w64",
        "mp3",
        "ogg",
        "matroska,webm",
        "mov,mp4,m4a,3gp,3g2,mj2",
        "flac",
        "aac",
        "aiff",
        "caf",
        "amr",
        "asf",
        "au",
    ]
)
# Formats whose declared duration is only an estimate from the bitrate (unless an MP3 has a
# Xing/Info/VBRI header): never trusted for "truncated", and only grossly long ones are refused
# before decoding.
_ESTIMATED_DURATION_FORMATS = {"mp3", "aac", "asf"}
_TRUNCATED_RATIO = 0.02
_TRUNCATED_SECONDS = 0.5
_LONG_TOLERANCE_SECONDS = 0.5

# Limiter / normaliser constants (see docs/speech-audio.md, "Limiter").
CODEC_MARGIN_DB = 1.3  # the limiter ceiling sits this far below max_true_peak (codec overshoot)
ATTACK_DB_PER_S = 1000.0  # look-ahead ramp: gain starts falling (depth / 1000) s before a peak
RELEASE_DB_PER_S = 80.0  # gain recovers at 80 dB/s (3 dB in 38 ms, 6 dB in 75 ms)
# Used only when the target cannot be reached with RELEASE_DB_PER_S (the limiter would eat every
# extra dB of gain: speech with a high peak-to-loudness ratio at -14 LUFS and louder).
FAST_RELEASE_DB_PER_S = 500.0
CORNER_MS = 2.0  # corners of the gain curve are rounded over +-2 ms (two box filters)
_MAX_REDUCTION_DB = 100.0  # bounds the look-ahead (100 dB / 1000 dB/s = 100 ms)
_BLOCK = 1 << 18  # samples per processing block (5.5 s at 48 kHz)
_PASSES = 8  # gain + limit passes at most (usually 2-4)
# Encode + decode the result (MP3 and Opus) and lower the ceiling if a codec overshoots.
VERIFY_CODECS = True
_VERIFY_ROUNDS = 2


# --- Small helpers --------------------------------------------------------------------------


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0 else -math.inf


def _as_float32(samples: np.ndarray) -> np.ndarray:
    a = np.asarray(samples)
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    return a


def _to_pipeline(clip: Clip) -> np.ndarray:
    if clip.sample_rate != PIPELINE_RATE:
        clip = resample(clip, PIPELINE_RATE)
    return _as_float32(clip.samples)


# --- Decoding -------------------------------------------------------------------------------


class _NamelessReader:
    """A file-like view without a `name`, so FFmpeg probes the content, not the extension."""

    def __init__(self, f: Any, base: int = 0) -> None:
        self._f = f
        self._base = base

    def read(self, n: int = -1) -> bytes:
        return bytes(self._f.read(n))

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            offset += self._base
        return int(self._f.seek(offset, whence)) - self._base

    def tell(self) -> int:
        return int(self._f.tell()) - self._base


def _open_source(
    data: bytes | bytearray | memoryview | BinaryIO | str | Path,
) -> tuple[Any, int, bytes, Any]:
    """(reader, size, head bytes, file to close or None)."""
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        return io.BytesIO(raw), len(raw), raw[:65536], None
    if isinstance(data, str | Path):
        opened = open(data, "rb")  # noqa: SIM115 - closed by decode()
        size = os.fstat(opened.fileno()).st_size
        head = opened.read(65536)
        opened.seek(0)
        return _NamelessReader(opened), size, head, opened
    f: Any = data
    seekable = getattr(f, "seekable", lambda: False)()
    if not seekable:
        raw = f.read(MAX_INPUT_BYTES + 1)
        return io.BytesIO(raw), len(raw), raw[:65536], None
    start = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(start)
    head = f.read(65536)
    f.seek(start)
    return _NamelessReader(f, start), end - start, head, None


def _mp3_has_length_header(head: bytes) -> bool:
    """True when the first MP3 frame carries a Xing/Info/VBRI header (an exact frame count)."""
    offset = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        size = 0
        for b in head[6:10]:
            size = (size << 7) | (b & 0x7F)
        offset = 10 + size
    window = head[offset : offset + 4096]
    return any(tag in window for tag in (b"Xing", b"Info", b"VBRI"))


def _wav_declared_seconds(head: bytes) -> float | None:
    """The duration a RIFF/WAVE header declares (data chunk size / byte rate), or None.

    FFmpeg clamps a WAV's duration to the file size, which hides both a truncated file and a
    header that claims hours; recorders that never finalised the header write 0 or 0xFFFFFFFF
    (unknown), which gives None.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    byte_rate = 0
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (size,) = struct.unpack("<I", head[pos + 4 : pos + 8])
        if chunk_id == b"fmt " and pos + 16 <= len(head):
            (byte_rate,) = struct.unpack("<I", head[pos + 16 : pos + 20])
        elif chunk_id == b"data":
            if byte_rate <= 0 or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


# Signatures of containers we decode: a file that starts like one but cannot even be opened is
# damaged, not "not audio". An MP4/M4A ("ftyp") that cannot be opened has lost its index (the
# moov box is written last), which is what an interrupted recording or upload looks like.
_CONTAINER_SIGNATURES = (b"RIFF", b"OggS", b"fLaC", b"ID3", b"\x1a\x45\xdf\xa3", b"FORM")


def _open_failure_code(head: bytes) -> str:
    if head[4:8] == b"ftyp":
        return "truncated"
    if head.startswith(_CONTAINER_SIGNATURES):
        return "damaged"
    return "not_audio"


class _Buffer:
    """A growing float32 buffer (one copy of the programme, plus at most one growth step)."""

    def __init__(self, capacity: int) -> None:
        self.data = np.empty(max(capacity, 4096), dtype=np.float32)
        self.n = 0

    def append(self, chunk: np.ndarray) -> None:
        need = self.n + len(chunk)
        if need > len(self.data):
            grown = np.empty(max(need, int(len(self.data) * 1.5)), dtype=np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = chunk
        self.n = need

    def result(self) -> np.ndarray:
        # Shrink in place (realloc), never a second copy of a long programme.
        self.data.resize(self.n, refcheck=False)
        return self.data


def decode(
    data: bytes | BinaryIO | str | Path,
    *,
    max_seconds: float = MAX_INPUT_SECONDS,
    min_seconds: float = MIN_INPUT_SECONDS,
) -> Clip:
    """Decode any audio FFmpeg understands into a mono float32 Clip at PIPELINE_RATE.

    The format is judged by decoding (content probing), never by the file name. Raises
    AudioInputError with one of ERROR_CODES; never lets an FFmpeg error escape.
    """
    reader, size, head, to_close = _open_source(data)
    try:
        if size == 0:
            raise AudioInputError("empty")
        if size > MAX_INPUT_BYTES:
            raise AudioInputError("too_large", bytes=size, max=MAX_INPUT_BYTES)
        try:
            container = av.open(
                reader,
                mode="r",
                container_options={"format_whitelist": _FORMAT_WHITELIST},
                metadata_errors="ignore",
            )
        except (av.FFmpegError, ValueError, OSError, UnicodeDecodeError) as exc:
            raise AudioInputError(_open_failure_code(head)) from exc
        with container:
            return _decode_container(container, head, max_seconds, min_seconds)
    finally:
        if to_close is not None:
            to_close.close()


def _declared_duration(container: Any, stream: Any, head: bytes) -> tuple[float | None, bool]:
    """(declared seconds or None, whether it is exact enough to call a shorter file truncated)."""
    seconds: float | None = None
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None and container.duration > 0:
        seconds = container.duration / av.time_base
    fmt = container.format.name
    if fmt == "wav":
        wav = _wav_declared_seconds(head)
        return (wav, True) if wav is not None else (seconds, False)
    exact = seconds is not None and (
        not any(name in _ESTIMATED_DURATION_FORMATS for name in fmt.split(","))
        or (fmt == "mp3" and _mp3_has_length_header(head))
    )
    return seconds, exact


def _new_resampler() -> Any:
    # Planar float at 48 kHz, channels kept: we down-mix by averaging the channels ourselves, so a
    # mono recording stored as two identical channels keeps its level (swresample's own down-mix
    # matrix would change it by +2.6 dB).
    return av.AudioResampler(format="fltp", rate=PIPELINE_RATE)


def _decode_container(container: Any, head: bytes, max_seconds: float, min_seconds: float) -> Clip:
    if not container.streams.audio:
        raise AudioInputError("not_audio")
    stream = container.streams.audio[0]
    declared, exact = _declared_duration(container, stream, head)
    if declared is not None:
        limit = max_seconds + _LONG_TOLERANCE_SECONDS if exact else max_seconds * 1.5
        if declared > limit:
            raise AudioInputError("too_long", seconds=round(declared), max=max_seconds)

    max_samples = int((max_seconds + _LONG_TOLERANCE_SECONDS) * PIPELINE_RATE)
    guess = declared if declared is not None else 60.0
    buf = _Buffer(min(int(guess * 1.02 * PIPELINE_RATE) + PIPELINE_RATE, max_samples + 1))
    resampler = _new_resampler()

    def take(frames: Sequence[Any]) -> None:
        for out in frames:
            planes = out.to_ndarray()  # (channels, samples), float32
            buf.append(planes[0] if len(planes) == 1 else planes.mean(axis=0, dtype=np.float32))
        if buf.n > max_samples:
            raise AudioInputError(
                "too_long",
                seconds=round(max(buf.n / PIPELINE_RATE, declared or 0)),
                max=max_seconds,
            )

    packets = 0
    errors = 0
    trailing_errors = 0  # decode errors since the last good frame
    demux_failed = False
    try:
        for packet in container.demux(stream):
            packets += 1
            try:
                frames = stream.codec_context.decode(packet)
            except (av.FFmpegError, ValueError) as exc:
                if isinstance(exc, av.error.MemoryError):
                    raise
                errors += 1
                trailing_errors += 1
                continue
            for frame in frames:
                trailing_errors = 0
                try:
                    take(resampler.resample(frame))
                except ValueError:
                    # The stream changed layout or rate (chained Ogg, some M4A): new resampler.
                    take(resampler.resample(None))
                    resampler = _new_resampler()
                    take(resampler.resample(frame))
        take(resampler.resample(None))
    except AudioInputError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        if isinstance(exc, av.error.MemoryError):
            raise
        demux_failed = True

    decoded = buf.n / PIPELINE_RATE
    if buf.n == 0:
        if demux_failed or errors:
            raise AudioInputError("damaged")
        raise AudioInputError("empty")
    # Errors only in the last packets: the file stops part-way (one or two bad final packets,
    # e.g. a cut last frame, lose < 0.1 s and are accepted).
    if demux_failed or (trailing_errors >= 3 and trailing_errors == errors):
        raise AudioInputError(
            "truncated", seconds=round(decoded, 2), declared=round(declared or 0.0, 2)
        )
    if errors > max(3, packets // 50):
        raise AudioInputError("damaged")
    if (
        exact
        and declared is not None
        and declared - decoded > max(_TRUNCATED_SECONDS, _TRUNCATED_RATIO * declared)
    ):
        raise AudioInputError("truncated", seconds=round(decoded, 2), declared=round(declared, 2))
    if decoded < min_seconds:
        raise AudioInputError("too_short", seconds=round(decoded, 2), min=min_seconds)
    return Clip(buf.result(), PIPELINE_RATE)


# --- Simple clip operations -----------------------------------------------------------------


def resample(clip: Clip, rate: int = PIPELINE_RATE) -> Clip:
    """Polyphase resampling (scipy.signal.resample_poly): exact ratio, duration preserved."""
    samples = _as_float32(clip.samples)
    if clip.sample_rate == rate or len(samples) == 0:
        return Clip(samples, rate)
    g = math.gcd(int(clip.sample_rate), int(rate))
    up, down = rate // g, int(clip.sample_rate) // g
    out = signal.resample_poly(samples, up, down)
    return Clip(_as_float32(out), rate)


def trim_silence(clip: Clip, threshold_db: float = -50.0) -> Clip:
    """Cut leading and trailing silence: 10 ms frames whose RMS is below threshold_db (dBFS).

    The cut falls on the edge of the first/last frame above the threshold; a clip that is
    silent throughout becomes an empty clip.
    """
    x = _as_float32(clip.samples)
    frame = max(1, clip.sample_rate // 100)
    n_frames = math.ceil(len(x) / frame)
    if n_frames == 0:
        return Clip(x, clip.sample_rate)
    padded = np.zeros(n_frames * frame, dtype=np.float32)
    padded[: len(x)] = x
    rms = np.sqrt(np.mean(np.square(padded.reshape(n_frames, frame), dtype=np.float32), axis=1))
    loud = np.flatnonzero(rms > 10.0 ** (threshold_db / 20.0))
    if len(loud) == 0:
        return Clip(np.zeros(0, dtype=np.float32), clip.sample_rate)
    start = int(loud[0]) * frame
    end = min(len(x), (int(loud[-1]) + 1) * frame)
    return Clip(x[start:end].copy(), clip.sample_rate)


def _fade(n: int) -> np.ndarray:
    """Raised-cosine fade-in curve of n samples (0 -> 1)."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


def concat(
    parts: Sequence[Clip],
    *,
    gap_seconds: float | Sequence[float] = 0.0,
    fade_ms: float = 5.0,
) -> Clip:
    """Join clips at PIPELINE_RATE, with silence between them and raised-cosine fades at joins.

    gap_seconds is one gap for every join or one per join (len(parts) - 1). The outer edges (the
    start of the first part, the end of the last) are left as they are.
    """
    if isinstance(gap_seconds, int | float):
        gaps = [float(gap_seconds)] * max(0, len(parts) - 1)
    else:
        gaps = [float(g) for g in gap_seconds]
        if len(gaps) != max(0, len(parts) - 1):
            raise ValueError(
                f"{len(parts)} parts need {max(0, len(parts) - 1)} gaps, got {len(gaps)}"
            )
    if any(g < 0 for g in gaps):
        raise ValueError("gaps cannot be negative")
    arrays = [_to_pipeline(p) for p in parts]
    gap_samples = [round(g * PIPELINE_RATE) for g in gaps]
    total = sum(len(a) for a in arrays) + sum(gap_samples)
    out = np.zeros(total, dtype=np.float32)
    fade_n = round(fade_ms * PIPELINE_RATE / 1000.0)
    pos = 0
    for i, a in enumerate(arrays):
        seg = out[pos : pos + len(a)]
        seg[:] = a
        n = min(fade_n, len(a) // 2)
        if n > 0:
            if i > 0:
                seg[:n] *= _fade(n)
            if i < len(arrays) - 1:
                seg[-n:] *= _fade(n)[::-1]
        pos += len(a)
        if i < len(gap_samples):
            pos += gap_samples[i]
    return Clip(out, PIPELINE_RATE)


# --- Measurement (BS.1770-4) ----------------------------------------------------------------


@dataclass
class Loudness:
    integrated_lufs: float
    true_peak_dbtp: float
    duration: float


def _k_weighting(rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """pyloudnorm's K-weighting biquads (high shelf, then high pass) for this rate."""
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)  # filter_class "K-weighting", BS.1770-4
    return [(np.asarray(f.b), np.asarray(f.a)) for f in meter._filters.values()]


def _block_energies(x: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """K-weighted energy of each 100 ms step (float64), filtering block by block with state."""
    filters = _k_weighting(rate)
    states = [signal.lfilter_zi(b, a) * 0.0 for b, a in filters]
    step = 0.1 * rate
    n_steps = math.ceil(len(x) / step) if len(x) else 0
    bounds = np.array([int(j * step) for j in range(n_steps + 1)], dtype=np.int64)
    bounds[-1] = len(x)
    sums = np.zeros(n_steps, dtype=np.float64)
    chunk_steps = max(1, _BLOCK // max(1, int(step)))
    for j0 in range(0, n_steps, chunk_steps):
        j1 = min(n_steps, j0 + chunk_steps)
        y = x[bounds[j0] : bounds[j1]].astype(np.float64)
        for k, (b, a) in enumerate(filters):
            y, states[k] = signal.lfilter(b, a, y, zi=states[k])
        np.square(y, out=y)
        sums[j0:j1] = np.add.reduceat(y, bounds[j0:j1] - bounds[j0])
    return sums, n_steps


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """BS.1770-4 gated integrated loudness; the same numbers as pyloudnorm, in bounded memory.

    pyloudnorm's blocks: 400 ms, 75 % overlap, count round((T - 0.4) / 0.1) + 1, each block's mean
    square taken over 0.4 s. A clip shorter than one block is measured as a single block over its
    own length (no padding: padding with silence would under-read and over-boost short clips).
    """
    x = _as_float32(samples)
    if len(x) == 0:
        return -math.inf
    sums, _ = _block_energies(x, rate)
    block_len = 0.4 * rate
    if len(x) < block_len:
        z = np.array([sums.sum() / len(x)])
    else:
        t = len(x) / rate
        n_blocks = round((t - 0.4) / 0.1) + 1
        padded = np.zeros(n_blocks + 3, dtype=np.float64)
        m = min(len(sums), len(padded))
        padded[:m] = sums[:m]
        z = padded[0:n_blocks] + padded[1 : n_blocks + 1] + padded[2 : n_blocks + 2]
        z = (z + padded[3 : n_blocks + 3]) / block_len
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10.0 * np.log10(z)
    gated = z[lk >= -70.0]
    if len(gated) == 0:
        return -math.inf
    relative = -0.691 + 10.0 * math.log10(gated.mean()) - 10.0
    gated = z[(lk > relative) & (lk > -70.0)]
    if len(gated) == 0:
        return -math.inf
    return float(-0.691 + 10.0 * math.log10(gated.mean()))


def _oversampling_factor(rate: int) -> int:
    # BS.1770-4 Annex 2: 4x for 48 kHz; at least 192 kHz in general.
    return max(2, math.ceil(192_000 / rate)) if rate < 96_000 else 2


def _peak_envelope(seg: np.ndarray, factor: int) -> np.ndarray:
    """Per-sample true-peak envelope: max |.| of the oversampled signal around each sample."""
    up = signal.resample_poly(seg, factor, 1)
    np.abs(up, out=up)
    env = np.abs(seg)
    for phase in range(factor):
        np.maximum(env, up[phase : len(seg) * factor : factor], out=env)
    return env


def _blocks(n: int, left: int, right: int) -> Iterator[tuple[int, int, int, int]]:
    """(lo, a, b, hi): the kept block [a, b) inside the context [lo, hi)."""
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        yield max(0, a - left), a, b, min(n, b + right)


def true_peak(samples: np.ndarray, rate: int) -> float:
    """True peak in dBTP (BS.1770-4 Annex 2, polyphase oversampling), block by block."""
    x = _as_float32(samples)
    factor = _oversampling_factor(rate)
    peak = 0.0
    for lo, a, b, hi in _blocks(len(x), 64, 64):
        up = signal.resample_poly(x[lo:hi], factor, 1)[(a - lo) * factor : (b - lo) * factor]
        peak = max(peak, float(np.max(np.abs(x[a:b]))), float(np.max(np.abs(up))))
    return _db(peak)


def measure(clip: Clip) -> Loudness:
    return Loudness(
        integrated_lufs=integrated_loudness(clip.samples, clip.sample_rate),
        true_peak_dbtp=true_peak(clip.samples, clip.sample_rate),
        duration=clip.duration,
    )


# --- Loudness normalisation and true-peak limiting ------------------------------------------


def _apply_reduction(
    x: np.ndarray,
    rate: int,
    needed: Callable[[np.ndarray], np.ndarray],
    *,
    context: int,
    attack_db_per_s: float,
    release_db_per_s: float,
    corner_ms: float,
    max_reduction_db: float,
    gain: float = 1.0,
) -> np.ndarray:
    """Apply a gain reduction that is never less than `needed(segment)` (dB, per sample).

    The applied reduction is the upper envelope max_k(d[k] - slope * |n - k|): the attack slope
    before a peak (look-ahead: offline, the future is known) and the release slope after it,
    computed with two cumulative maxima (vectorised; the release is carried from block to block),
    then its corners rounded by a max filter and two box filters of corner_ms, which can only
    increase it. Works on blocks of _BLOCK samples: memory stays bounded for long programmes.
    `gain` (linear) is applied on the way, block by block, so no gained copy of x is made.
    """
    att = attack_db_per_s / rate
    rel = release_db_per_s / rate
    corner = max(1, round(corner_ms * rate / 1000.0))
    left = context + 3 * corner
    right = context + 3 * corner + math.ceil(max_reduction_db / att)
    out = np.empty_like(x)
    carry = -math.inf  # release reduction (dB) reaching the start of the next block
    g32 = np.float32(gain)
    for lo, a, b, hi in _blocks(len(x), left, right):
        seg = x[lo:hi] * g32
        d = np.clip(needed(seg), 0.0, max_reduction_db)
        if not d.any() and carry <= 0.0:
            out[a:b] = seg[a - lo : b - lo]
            carry = -math.inf
            continue
        idx = np.arange(len(seg), dtype=np.float64)
        fwd = np.maximum.accumulate(d + rel * idx) - rel * idx
        kept = np.arange(a - lo, len(seg))
        fwd[kept] = np.maximum(fwd[kept], carry - rel * (kept - (a - lo)))
        bwd = (np.maximum.accumulate((d - att * idx)[::-1]))[::-1] + att * idx
        red = np.maximum(fwd, bwd)
        red = maximum_filter1d(red, 2 * corner + 1)
        red = uniform_filter1d(uniform_filter1d(red, corner + 1), corner + 1)
        carry = float(fwd[b - lo - 1]) - rel
        out[a:b] = seg[a - lo : b - lo] * (10.0 ** (-red[a - lo : b - lo] / 20.0)).astype(
            np.float32
        )
    return out


def _limit(
    x: np.ndarray,
    rate: int,
    ceiling_db: float,
    release_db_per_s: float = RELEASE_DB_PER_S,
    gain: float = 1.0,
) -> np.ndarray:
    """Look-ahead true-peak limiter: each sample's oversampled peak ends at or below the ceiling
    (up to the small modulation of a changing gain, which the codec margin covers)."""
    factor = _oversampling_factor(rate)

    def needed(seg: np.ndarray) -> np.ndarray:
        env = _peak_envelope(seg, factor).astype(np.float64)
        with np.errstate(divide="ignore"):
            return 20.0 * np.log10(env) - ceiling_db

    return _apply_reduction(
        x,
        rate,
        needed,
        context=64,
        attack_db_per_s=ATTACK_DB_PER_S,
        release_db_per_s=release_db_per_s,
        corner_ms=CORNER_MS,
        max_reduction_db=_MAX_REDUCTION_DB,
        gain=gain,
    )


def _gain_and_limit(
    x: np.ndarray,
    gain_db: float,
    target_lufs: float,
    ceiling_db: float,
    report: Callable[[], None],
) -> tuple[np.ndarray, float]:
    """Passes of gain + limiter until within 0.1 LU of the target (at most _PASSES).

    Returns the result and the gain that made it."""
    rate = PIPELINE_RATE
    release = RELEASE_DB_PER_S
    below: tuple[float, float] | None = None  # (gain, loudness) of the best pass under target
    above: tuple[float, float] | None = None  # ... and over it
    y = x
    for _ in range(_PASSES):
        del y  # the previous pass's result: one output copy alive at a time
        y = _limit(x, rate, ceiling_db, release, gain=10.0 ** (gain_db / 20.0))
        measured = integrated_loudness(y, rate)
        over = true_peak(y, rate) - ceiling_db
        report()
        error = target_lufs - measured
        if abs(error) <= 0.1 and over <= 0.05:
            break
        if over > 0.05:  # the gain modulation pushed a peak over: lower the ceiling, start again
            ceiling_db -= over
            below = above = None
        if error > 0:
            slope = 0.5  # first guess: limiting eats half of the extra gain
            if below is not None and gain_db != below[0]:
                slope = (measured - below[1]) / (gain_db - below[0])
                if slope < 0.2 and error > 0.3 and release != FAST_RELEASE_DB_PER_S:
                    # Saturated: the slow release holds the gain down through whole syllables.
                    release = FAST_RELEASE_DB_PER_S
                    below = above = None
                    continue
            below = (gain_db, measured)
        else:
            slope = 1.0
            above = (gain_db, measured)
        if below is not None and above is not None:  # bracketed: interpolate
            gain_db = below[0] + (target_lufs - below[1]) * (above[0] - below[0]) / (
                above[1] - below[1]
            )
        else:  # loudness(gain) is increasing and concave, slope in (0, 1]: aim past the target
            step = error / min(1.0, max(0.1, slope))
            gain_db += max(-12.0, min(12.0, step * (1.5 if error > 0 else 1.0)))
    return y, gain_db


def _stream_true_peak(encoded: bytes) -> float:
    """True peak of an encoded file, decoded frame by frame (never the whole programme)."""
    factor = _oversampling_factor(PIPELINE_RATE)
    peak = 0.0
    pending: list[np.ndarray] = []
    held = 0
    done = 0  # samples of pending[0..] already evaluated (left context)

    def evaluate(buf: np.ndarray, start: int, end: int) -> None:
        nonlocal peak
        up = signal.resample_poly(buf, factor, 1)[start * factor : end * factor]
        peak = max(peak, float(np.max(np.abs(buf[start:end]))), float(np.max(np.abs(up))))

    container: Any = av.open(io.BytesIO(encoded))
    with container:
        resampler = _new_resampler()
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                planes = out.to_ndarray()
                pending.append(planes.mean(axis=0, dtype=np.float32))
                held += pending[-1].shape[0]
            if held >= _BLOCK + 128:
                buf = np.concatenate(pending)
                evaluate(buf, done, len(buf) - 64)
                pending, held, done = [buf[-128:]], 128, 64
        for out in resampler.resample(None):
            pending.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
    buf = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
    if len(buf) > done:
        evaluate(buf, done, len(buf))
    return _db(peak)


def _codec_true_peak(samples: np.ndarray) -> float:
    """Worst true peak of the clip after MP3 and Opus (default bit rates) and decoding."""
    clip = Clip(samples, PIPELINE_RATE)
    return max(_stream_true_peak(encode_mp3(clip)), _stream_true_peak(encode_opus(clip)))


def normalize_loudness(
    clip: Clip,
    *,
    target_lufs: float = -16.0,
    max_true_peak: float = -1.5,
    progress: Callable[[float], None] | None = None,
) -> Clip:
    """Make the clip target_lufs loud with its true peak at most max_true_peak, also after MP3
    and Opus encoding.

    Passes of gain + look-ahead true-peak limiter (ceiling CODEC_MARGIN_DB below max_true_peak)
    until within 0.1 LU of the target; then, if VERIFY_CODECS, the result is encoded to MP3 and
    Opus at the default bit rates and decoded, and if either overshoots max_true_peak the ceiling
    is lowered by the excess and the passes run again (at most _VERIFY_ROUNDS times).

    progress(fraction) is called after each pass; it may raise (e.g. Cancelled) to stop.
    Silence-only input raises AudioInputError("silent").
    """
    x = _to_pipeline(clip)
    loudness = integrated_loudness(x, PIPELINE_RATE)
    if not math.isfinite(loudness):
        raise AudioInputError("silent")
    steps = [0]
    total = _PASSES * (_VERIFY_ROUNDS + 1) if VERIFY_CODECS else _PASSES

    def report() -> None:
        steps[0] += 1
        if progress is not None:
            progress(min(0.95, steps[0] / total))

    ceiling_db = max_true_peak - CODEC_MARGIN_DB
    y, gain_db = _gain_and_limit(x, target_lufs - loudness, target_lufs, ceiling_db, report)
    if VERIFY_CODECS:
        for _ in range(_VERIFY_ROUNDS):
            excess = _codec_true_peak(y) - max_true_peak
            if excess <= 0.0:
                break
            ceiling_db -= excess + 0.1
            y, gain_db = _gain_and_limit(x, gain_db, target_lufs, ceiling_db, report)
    if progress is not None:
        progress(1.0)
    return Clip(y, PIPELINE_RATE)


# --- Encoding -------------------------------------------------------------------------------


def _encode(
    clip: Clip, fmt: str, codec: str, sample_format: str, bitrate: int, gain: float = 1.0
) -> bytes:
    """Encode mono at PIPELINE_RATE, deterministically: `fflags=+bitexact` makes FFmpeg write no
    version strings and use Ogg serial number 0 instead of a random one; no metadata is set."""
    x = _to_pipeline(clip)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt, container_options={"fflags": "+bitexact"}) as container:
        stream: Any = container.add_stream(codec, rate=PIPELINE_RATE, layout="mono")
        stream.bit_rate = bitrate
        stream.codec_context.format = sample_format
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        chunk = PIPELINE_RATE
        for start in range(0, len(x), chunk):
            part = x[start : start + chunk]
            if gain != 1.0:
                part = part * np.float32(gain)
            part = np.clip(part, -1.0, 1.0).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(part), format=sample_format, layout="mono"
            )
            frame.sample_rate = PIPELINE_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


@functools.lru_cache(maxsize=8)
def _lame_gain(bitrate: int) -> float:
    """LAME scales mono input by a fixed factor (0.95 up to 128 kb/s, 0.97 at 192 kb/s with
    LAME 3.100), which would leave every MP3 ~0.45 LU below its target. Measured once per bit
    rate on a 1 kHz tone, so a different LAME build calibrates itself."""
    tone = (0.25 * np.sin(2 * np.pi * 1000.0 * np.arange(PIPELINE_RATE) / PIPELINE_RATE)).astype(
        np.float32
    )
    decoded = decode(_encode(Clip(tone, PIPELINE_RATE), "mp3", "libmp3lame", "fltp", bitrate, 1.0))
    mid = slice(PIPELINE_RATE // 4, 3 * PIPELINE_RATE // 4)
    ratio = float(np.sqrt(np.mean(np.square(decoded.samples[mid], dtype=np.float64))))
    ratio /= float(np.sqrt(np.mean(np.square(tone[mid], dtype=np.float64))))
    return 1.0 / ratio if 0.8 < ratio < 1.25 else 1.0


def encode_mp3(clip: Clip, *, bitrate: int = 96_000) -> bytes:
    """Mono CBR MP3 (libmp3lame) at 48 kHz with a Xing/Info header (exact duration, gapless).

    The input is scaled by the inverse of LAME's own fixed gain, so the decoded MP3 has the
    loudness (and, apart from codec overshoot, the true peak) of the clip."""
    return _encode(clip, "mp3", "libmp3lame", "fltp", bitrate, _lame_gain(bitrate))


def encode_opus(clip: Clip, *, bitrate: int = 32_000) -> bytes:
    """Ogg/Opus (libopus), 48 kHz mono, float input."""
    return _encode(clip, "ogg", "libopus", "flt", bitrate)

"""The audio signal path: decode anything, measure, make every item equally loud, encode.

No Django here. Everything works on `Clip` (mono float32) at `PIPELINE_RATE` (48 kHz). Decoding
fills one growing float32 buffer; loudness is measured chunk by chunk (float64 only per chunk);
the true peak is oversampled only where the maximum can be. normalize_loudness computes the
K-weighted energy and the true-peak estimate of every 16-sample block once, searches the gain
with limiter passes on those block arrays (milliseconds each), and renders the result once. See
docs/speech-audio.md for the decisions and the measured figures.
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
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
    "too_large": "The file is bigger than MAX_INPUT_BYTES (params: bytes, max in bytes, limit in "
    "MiB).",
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
CODEC_MARGIN_DB = 1.3  # default margin_db: the ceiling sits this far below max_true_peak
ATTACK_DB_PER_S = 1000.0  # look-ahead ramp: gain starts falling (depth / 1000) s before a peak
RELEASE_DB_PER_S = 80.0  # gain recovers at 80 dB/s (3 dB in 38 ms, 6 dB in 75 ms)
# Used only when the target cannot be reached with RELEASE_DB_PER_S (the limiter would eat every
# extra dB of gain: speech with a high peak-to-loudness ratio at -14 LUFS and louder).
FAST_RELEASE_DB_PER_S = 500.0
CORNER_MS = 2.0  # corners of the gain curve are rounded over +-2 ms (two box filters)
_MAX_REDUCTION_DB = 100.0
_BLOCK = 1 << 18  # samples per processing chunk (5.5 s at 48 kHz)
_PASSES = 12  # gain + limit passes at most (usually 2-5; each costs milliseconds)
# Measure the rendered result exactly once and correct its loudness by a scalar gain. Off: the
# estimate is within 0.05 LU (measured, docs/speech-audio.md) and the check costs a K-weighting
# filter over the programme (0.3 s per 268 s); the pipeline measures the encoded MP3 anyway.
FINAL_CHECK = False
_FINAL_RAISE_DB = 0.1  # a final raise may take the peak this far above the ceiling (margin)
# Encode + decode the result (MP3 and Opus) inside normalize_loudness and raise the margin if a
# codec overshoots. Off: the pipeline measures the MP3 it made and calls again with a larger
# margin_db in the rare case it peaks too high.
VERIFY_CODECS = False
_VERIFY_ROUNDS = 2

# Encoding.
MP3_RATE = 24_000  # MPEG-2 Layer III: half the encode time; horns reproduce ~200 Hz-7 kHz
MP3_BITRATE = 64_000
# No bit reservoir: a frame then depends only on the audio around it, which lets encode_mp3 split
# a long programme over threads and join the frames exactly (costs ~0.4 dB of segmental SNR,
# measured; loudness and true peak unchanged).
_MP3_OPTIONS = {"compression_level": "7", "reservoir": "0"}
MP3_SPLIT_SECONDS = 60.0  # encode_mp3 splits clips at least this long ...
MP3_SEGMENTS = 2  # ... into this many parts encoded in parallel threads
_MP3_FRAME = 576  # samples per MPEG-2 Layer III frame (one granule)
_MP3_PRIME = 8  # a later segment starts this many frames before its first kept frame
_MP3_LOOKAHEAD = 4  # ... and an earlier one ends this many frames after its last
_MP3_SETTLE = 3  # frames an encode needs before its frames equal a single pass's (LAME 3.100)
_MP3_TAIL = 2  # last frames of an encode that differ from a single pass's (end of input)
_OPUS_OPTIONS = {"compression_level": "5"}
_ENCODE_CHUNK_SECONDS = 10
_RESAMPLE_CTX = 64  # samples of context for the block-wise 2:1 resampling before LAME


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
            raise AudioInputError(
                "too_large", bytes=size, max=MAX_INPUT_BYTES, limit=MAX_INPUT_BYTES // 2**20
            )
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


@functools.lru_cache(maxsize=8)
def _k_weighting(rate: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """pyloudnorm's K-weighting biquads (high shelf, then high pass) for this rate."""
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)  # filter_class "K-weighting", BS.1770-4
    return tuple((np.asarray(f.b), np.asarray(f.a)) for f in meter._filters.values())


@functools.lru_cache(maxsize=8)
def _k_weighting_combined(rate: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The two K-weighting biquads as one 4th-order filter (one pass over the samples)."""
    (b1, a1), (b2, a2) = _k_weighting(rate)
    return ((np.convolve(b1, b2), np.convolve(a1, a2)),)


def _k_energies(x: np.ndarray, rate: int, step: int) -> np.ndarray:
    """K-weighted energy (float64) of each `step` samples (the last one may be shorter),
    filtering chunk by chunk with carried state (float64 only per chunk)."""
    filters = _k_weighting_combined(rate)
    states = [signal.lfilter_zi(b, a) * 0.0 for b, a in filters]
    n = len(x)
    n_steps = -(-n // step)
    sums = np.zeros(n_steps, dtype=np.float64)
    chunk = max(1, _BLOCK // step) * step
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        y = x[a:b].astype(np.float64)
        for k, (fb, fa) in enumerate(filters):
            y, states[k] = signal.lfilter(fb, fa, y, zi=states[k])
        np.square(y, out=y)
        sums[a // step : -(-b // step)] = np.add.reduceat(y, np.arange(0, b - a, step))
    return sums


def _block_energies(x: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """K-weighted energy of each 100 ms step (float64), filtering block by block with state."""
    step = 0.1 * rate
    if float(step).is_integer():
        sums = _k_energies(x, rate, int(step))
        return sums, len(sums)
    filters = _k_weighting(rate)
    states = [signal.lfilter_zi(b, a) * 0.0 for b, a in filters]
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


def _gated_loudness(sums: np.ndarray, n: int, rate: int) -> float:
    """Integrated loudness from the K-weighted energies of the 100 ms steps of n samples.

    pyloudnorm's blocks: 400 ms, 75 % overlap, count round((T - 0.4) / 0.1) + 1, each block's mean
    square taken over 0.4 s. A clip shorter than one block is measured as a single block over its
    own length (no padding: padding with silence would under-read and over-boost short clips).
    """
    if n == 0:
        return -math.inf
    block_len = 0.4 * rate
    if n < block_len:
        z = np.array([sums.sum() / n])
    else:
        t = n / rate
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


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """BS.1770-4 integrated loudness (LUFS), block by block (float64 only per block).

    Same result as pyloudnorm.Meter(rate).integrated_loudness (its K-weighting filters and block
    layout, see _gated_loudness) without a float64 copy of the programme.
    """
    x = _as_float32(samples)
    if len(x) == 0:
        return -math.inf
    sums, _ = _block_energies(x, rate)
    return _gated_loudness(sums, len(x), rate)


# --- True peak ------------------------------------------------------------------------------
#
# BS.1770-4 Annex 2 with scipy.signal.resample_poly's interpolation filter (Kaiser-windowed sinc,
# 4x at 48 kHz, 8x at 24 kHz). Oversampling everything with it costs ~0.7 s per 268 s of audio, so:
# 1. every _PB-sample block gets a fast estimate from a short interpolator (_CORE_TAPS taps per
#    phase, which numpy convolves with SIMD: ~0.15 s per 268 s), within a few hundredths of a dB
#    of the full filter on speech (0.14 dB on single-sample clicks);
# 2. that estimate differs from the full filter's value by at most _core_filters()[1] times the
#    largest |x| within its reach (a rigorous bound: the L1 norm of the filters' difference), so
#    for the true peak only the superblocks whose estimate + bound reaches the best exact value
#    are oversampled with the full filter: the result is exactly resample_poly's (tested).
# The limiter uses the fast estimate (its error is far inside the codec margin).

_PB = 16  # samples per peak block = the limiter's gain resolution (1/3 ms); _max16 assumes 16
_SB = 32  # samples per superblock (the unit oversampled exactly, with _CTX on each side)
_CTX = 16  # context samples on each side (resample_poly's filter reaches 10 input samples)


def _oversampling_factor(rate: int) -> int:
    # BS.1770-4 Annex 2: 4x for 48 kHz; at least 192 kHz in general.
    return max(2, math.ceil(192_000 / rate)) if rate < 96_000 else 2


@functools.lru_cache(maxsize=8)
def _peak_gain(factor: int) -> float:
    """Largest L1 norm of one phase of resample_poly's interpolation filter (and at least 1)."""
    half_len = 10 * factor
    h = signal.firwin(2 * half_len + 1, 1.0 / factor, window=("kaiser", 5.0)) * factor
    norms = [float(np.sum(np.abs(h[p::factor]))) for p in range(factor)]
    return max(1.0, max(norms)) * (1.0 + 1e-5)  # float32 rounding of the sums


def _block_peaks(x: np.ndarray) -> np.ndarray:
    """max |x| of each _PB-sample block (the last one may be shorter), float32."""
    n = len(x)
    nb = -(-n // _PB)
    out = np.empty(nb, dtype=np.float32)
    full = n // _PB
    step = (_BLOCK // _PB) * _PB
    for a in range(0, full * _PB, step):
        b = min(full * _PB, a + step)
        _max16(np.abs(x[a:b]), out[a // _PB : b // _PB])
    if full < nb:
        out[-1] = np.max(np.abs(x[full * _PB :]))
    return out


def _neighbourhood(peaks: np.ndarray) -> np.ndarray:
    """max over each block and its two neighbours (covers the filter's reach of 10 samples)."""
    out = peaks.copy()
    if len(peaks) > 1:
        np.maximum(out[1:], peaks[:-1], out=out[1:])
        np.maximum(out[:-1], peaks[1:], out=out[:-1])
    return out


@functools.lru_cache(maxsize=8)
def _phase_filters(factor: int) -> tuple[float, tuple[np.ndarray, ...]]:
    """resample_poly's interpolation filter split into phases: (centre tap of phase 0, which
    is x scaled by it (its other taps are ~1e-17), the other phases' taps as float32)."""
    half_len = 10 * factor
    h = signal.firwin(2 * half_len + 1, 1.0 / factor, window=("kaiser", 5.0)) * factor
    phases = tuple(np.ascontiguousarray(h[p::factor], dtype=np.float32) for p in range(1, factor))
    return float(h[half_len]), phases


def _exact_block_peaks(x: np.ndarray, factor: int, superblocks: np.ndarray) -> np.ndarray:
    """True peak (max of |x| and |oversampled x|) of every _PB block of the given superblocks:
    shape (len(superblocks), _SB // _PB). The same values as resample_poly(x, factor, 1) (each
    phase is a short FIR over the input), done in batches (bounded memory)."""
    n = len(x)
    per = _SB // _PB
    width = _SB + 2 * _CTX
    centre, phases = _phase_filters(factor)
    out = np.empty((len(superblocks), per), dtype=np.float32)
    windows = (
        np.lib.stride_tricks.sliding_window_view(x, width) if n >= width else np.zeros((0, width))
    )
    batch = 16384
    for i in range(0, len(superblocks), batch):
        sbs = superblocks[i : i + batch]
        starts = sbs * _SB - _CTX
        inner = (starts >= 0) & (starts + width <= n)
        segs = np.empty((len(sbs), width), dtype=np.float32)
        segs[inner] = windows[starts[inner]]
        for j in np.flatnonzero(~inner):  # the programme's two ends: zeros outside
            lo, hi = max(0, starts[j]), min(n, starts[j] + width)
            segs[j] = 0.0
            if hi > lo:
                segs[j, lo - starts[j] : hi - starts[j]] = x[lo:hi]
        body = np.abs(segs[:, _CTX : _CTX + _SB]).reshape(len(sbs), per, _PB).max(axis=2)
        peaks = body * np.float32(max(1.0, abs(centre)))
        for h in phases:
            # Output j of the FIR is the oversampled value at input position j - reach.
            reach = (len(h) - 1) // 2 + 1 if len(h) % 2 == 0 else (len(h) - 1) // 2
            # One 1-D FIR over the rows laid end to end: each row carries its own context, so
            # the kept middle of a row never sees its neighbours.
            up = signal.upfirdn(h, segs.ravel())[reach : reach + segs.size]
            up = up.reshape(len(sbs), width)[:, _CTX : _CTX + _SB]
            np.maximum(peaks, np.abs(up).reshape(len(sbs), per, _PB).max(axis=2), out=peaks)
        out[i : i + batch] = peaks
    return out


_CORE_TAPS = 10  # taps per phase of the fast envelope (numpy's vectorised short convolution)


@functools.lru_cache(maxsize=16)
def _core_filters(factor: int, designed: bool = True) -> tuple[tuple[np.ndarray, ...], float]:
    """A short interpolator (_CORE_TAPS taps per phase, aligned with resample_poly's filter) for
    phases 1..factor-1, and the largest L1 norm of its difference from resample_poly's filter:
    |exact - fast| <= that * largest |x| within reach.

    designed: a Kaiser-windowed sinc designed at that length (typically within 0.05 dB of the
    full filter, but a loose bound, ~0.45: for the limiter); otherwise the full filter's central
    taps (typically 0.2-0.4 dB off, but a tight bound, ~0.12: to find the exact maximum)."""
    _, phases = _phase_filters(factor)
    short = signal.firwin(factor * _CORE_TAPS + 1, 1.0 / factor, window=("kaiser", 5.0)) * factor
    cores = []
    diff = 0.0
    for p, h in enumerate(phases, start=1):
        c = len(h) // 2
        full = np.asarray(h, dtype=np.float64).copy()
        core = (
            short[p::factor][:_CORE_TAPS]
            if designed
            else full[c - _CORE_TAPS // 2 : c + _CORE_TAPS // 2].copy()
        )
        full[c - _CORE_TAPS // 2 : c + _CORE_TAPS // 2] -= core
        cores.append(np.ascontiguousarray(core[::-1], dtype=np.float32))  # convolve flips
        diff = max(diff, float(np.sum(np.abs(full))))
    return tuple(cores), diff * (1.0 + 1e-4) + 1e-6


def _max16(v: np.ndarray, out: np.ndarray) -> None:
    """out[i] = max(v[16 i : 16 i + 16]) (len(v) a multiple of 16): a tree of elementwise
    maxima, much faster than reshape(-1, 16).max(axis=1) (numpy reduces short rows slowly)."""
    a = v.reshape(-1, 16)
    b = np.maximum(a[:, :8], a[:, 8:])
    b = np.maximum(b[:, :4], b[:, 4:])
    b = np.maximum(b[:, :2], b[:, 2:])
    np.maximum(b[:, 0], b[:, 1], out=out)


def _fast_block_peaks(
    x: np.ndarray, factor: int, blocks: np.ndarray | None = None, *, designed: bool = True
) -> np.ndarray:
    """Approximate true peak of every _PB block: the oversampled values from the central
    _CORE_TAPS taps of each phase (a few tenths of a dB at most from resample_poly's; the exact
    value differs by at most _core_filters()[1] times the largest |x| within 10 samples).
    Chunks whose flag in `blocks` (per _BLOCK chunk) is False are left at 0."""
    n = len(x)
    nb = -(-n // _PB)
    out = np.zeros(nb, dtype=np.float32)
    cores, _ = _core_filters(factor, designed)
    centre, _ = _phase_filters(factor)
    half = _CORE_TAPS // 2
    for k, a in enumerate(range(0, n, _BLOCK)):
        if blocks is not None and not blocks[k]:
            continue
        b = min(n, a + _BLOCK)
        lo, hi = a - half + 1, b + half
        if lo >= 0 and hi <= n:
            seg = x[lo:hi]
        else:
            seg = np.zeros(hi - lo, dtype=np.float32)
            seg[max(0, -lo) : min(n, hi) - lo] = x[max(0, lo) : min(n, hi)]
        env = np.abs(x[a:b]) * np.float32(max(1.0, abs(centre)))
        for core in cores:
            up = np.convolve(seg, core, mode="valid")[: b - a]
            np.maximum(env, np.abs(up, out=up), out=env)
        m = (b - a) // _PB * _PB
        _max16(env[:m], out[a // _PB : (a + m) // _PB])
        if m < b - a:
            out[(a + m) // _PB] = env[m:].max()
    return out


class _PeakEnvelope:
    """Per-_PB-block true peak of x: a fast approximation everywhere (`values`, what the limiter
    uses), with an error bound that tells where the exact value must be computed to find the
    exact maximum (`peak`)."""

    def __init__(self, x: np.ndarray, rate: int, *, skip_below: bool = False) -> None:
        self.x = x
        self.factor = _oversampling_factor(rate)
        self.sample = _block_peaks(x)
        flags = None
        if skip_below and len(x):
            # Only for peak(): chunks that cannot hold the maximum (even by the filter's full L1
            # bound) are not evaluated at all.
            per_chunk = _BLOCK // _PB
            nch = -(-len(self.sample) // per_chunk)
            padded = np.zeros(nch * per_chunk, dtype=np.float32)
            padded[: len(self.sample)] = self.sample
            chunk_peak = padded.reshape(nch, per_chunk).max(axis=1)
            flags = chunk_peak * np.float32(_peak_gain(self.factor)) >= np.max(self.sample)
        # For the limiter (all blocks): the close estimate; for peak(): the tight bound.
        designed = not skip_below
        self.values = _fast_block_peaks(x, self.factor, flags, designed=designed)
        _, tail = _core_filters(self.factor, designed)
        self.error = _neighbourhood(self.sample) * np.float32(tail)
        if flags is not None:
            skipped = np.repeat(~flags, _BLOCK // _PB)[: len(self.values)]
            self.error[skipped] = 0.0  # never candidates: their bound is below the max sample

    def peak(self) -> float:
        """The exact true peak (linear): exact values where the approximation plus its error
        bound reaches the best exact value found."""
        if len(self.values) == 0:
            return 0.0
        per = _SB // _PB
        n_super = -(-len(self.values) // per)

        def super_max(v: np.ndarray) -> np.ndarray:
            padded = np.zeros(n_super * per, dtype=np.float32)
            padded[: len(v)] = v
            return padded.reshape(n_super, per).max(axis=1)

        first = np.array([int(np.argmax(self.values)) // per])
        best = max(float(np.max(self.sample)), float(np.max(self._exact(first))))
        # Exact wherever the proven bound allows the maximum (the bound is loose, up to +3 dB at
        # 4x, but a tighter, empirical one failed on high-passed noise: 2.2 dB off).
        todo = np.flatnonzero(super_max(self.values + self.error) >= best)
        todo = todo[todo != first[0]]
        if len(todo):
            best = max(best, float(np.max(self._exact(todo))))
        return best

    def _exact(self, superblocks: np.ndarray) -> np.ndarray:
        return _exact_block_peaks(self.x, self.factor, superblocks)


def true_peak(samples: np.ndarray, rate: int) -> float:
    """True peak in dBTP (BS.1770-4 Annex 2, resample_poly oversampling); oversamples only where
    the bound from the sample peaks says the maximum can be (same result as oversampling all)."""
    x = _as_float32(samples)
    return _db(_PeakEnvelope(x, rate, skip_below=True).peak())


def measure(clip: Clip) -> Loudness:
    return Loudness(
        integrated_lufs=integrated_loudness(clip.samples, clip.sample_rate),
        true_peak_dbtp=true_peak(clip.samples, clip.sample_rate),
        duration=clip.duration,
    )


def _decode_native(data: bytes) -> tuple[np.ndarray, int]:
    """Decode an encoded file at its own sample rate, mono (channels averaged), float32. Mono
    float frames (what the MP3 and Opus decoders give) are taken as they are, no resampler."""
    container: Any = av.open(io.BytesIO(data), metadata_errors="ignore")
    parts: list[np.ndarray] = []
    with container:
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate)
        resampler: Any = None
        for frame in container.decode(stream):
            if frame.format.name in ("flt", "fltp") and len(frame.layout.channels) == 1:
                parts.append(np.frombuffer(frame.planes[0], dtype=np.float32, count=frame.samples))
                continue
            if resampler is None:
                resampler = av.AudioResampler(format="fltp", rate=rate)
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
        if resampler is not None:
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
    if not parts:
        return np.zeros(0, dtype=np.float32), rate
    return _as_float32(np.concatenate(parts)), rate


def measure_encoded(data: bytes) -> Loudness:
    """Decode an MP3/Opus (or any file decode() accepts) and measure it, at the file's own sample
    rate: no resampling (BS.1770 is defined at any rate: K-weighting for that rate, true peak
    oversampled to >= 192 kHz), the true peak computed only where it can be (see true_peak)."""
    try:
        x, rate = _decode_native(data)
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise AudioInputError("damaged") from exc
    return Loudness(
        integrated_lufs=integrated_loudness(x, rate),
        true_peak_dbtp=true_peak(x, rate),
        duration=len(x) / rate,
    )


# --- Loudness normalisation and true-peak limiting ------------------------------------------


def _reduction_db(
    need: np.ndarray, rate: float, release_db_per_s: float, corner: int
) -> np.ndarray:
    """The limiter's gain reduction (dB) per block, never less than `need`.

    The upper envelope max_k(need[k] - slope * |n - k|): the attack slope before a peak
    (look-ahead: offline, the future is known) and the release slope after it, computed with two
    cumulative maxima, then its corners rounded by a max filter and two box filters, which can
    only increase it."""
    att = ATTACK_DB_PER_S / rate
    rel = release_db_per_s / rate
    idx = np.arange(len(need), dtype=np.float64)
    fwd = np.maximum.accumulate(need + rel * idx) - rel * idx
    bwd = np.maximum.accumulate((need - att * idx)[::-1])[::-1] + att * idx
    red = np.maximum(fwd, bwd, out=fwd)
    red = maximum_filter1d(red, 2 * corner + 1)
    return uniform_filter1d(uniform_filter1d(red, corner + 1), corner + 1)


def _gain_nodes(block_gain: np.ndarray) -> np.ndarray:
    """Gains at the block edges (len + 1): the smaller of the two blocks meeting there, so the
    linear ramp across a block never exceeds that block's gain."""
    nodes = np.empty(len(block_gain) + 1, dtype=np.float64)
    nodes[0] = block_gain[0]
    nodes[-1] = block_gain[-1]
    np.minimum(block_gain[:-1], block_gain[1:], out=nodes[1:-1])
    return nodes


def _apply_gain_curve(x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """y = x times the gain ramped linearly from node to node across each _PB-sample block."""
    n = len(x)
    out = np.empty_like(x)
    ramp = (np.arange(_PB, dtype=np.float32) / np.float32(_PB))[None, :]
    n32 = nodes.astype(np.float32)
    slope = np.diff(n32)
    full = n // _PB
    step = 4096 * _PB  # small chunks: the work arrays stay in cache
    curve_buf = np.empty((4096, _PB), dtype=np.float32)
    for a in range(0, full * _PB, step):
        b = min(full * _PB, a + step)
        ba, bb = a // _PB, b // _PB
        curve = curve_buf[: bb - ba]
        np.multiply(slope[ba:bb, None], ramp, out=curve)
        curve += n32[ba:bb, None]
        np.multiply(x[a:b].reshape(-1, _PB), curve, out=out[a:b].reshape(-1, _PB))
    if full * _PB < n:
        m = n - full * _PB
        curve = n32[full] + (n32[full + 1] - n32[full]) * ramp[0, :m]
        out[full * _PB :] = x[full * _PB :] * curve
    return out


class _Normaliser:
    """Everything a gain + limiter pass needs, computed once from the input: the K-weighted
    energy and the true-peak envelope of every _PB-sample block. Peaks scale with gain, and the
    limiter's gain changes slowly against the K filter, so a pass costs a few operations per
    block (1/16 of the samples) instead of oversampling and filtering the programme again."""

    def __init__(self, x: np.ndarray, rate: int) -> None:
        self.x = x
        self.rate = rate
        self.n = len(x)
        self.energy = _k_energies(x, rate, _PB)
        self.step_starts = np.arange(0, len(self.energy), int(0.1 * rate) // _PB)
        self.envelope = _PeakEnvelope(x, rate)
        with np.errstate(divide="ignore"):
            self.envelope_db = 20.0 * np.log10(self.envelope.values.astype(np.float64))
        self.block_rate = rate / _PB
        self.corner = max(1, round(CORNER_MS * self.block_rate / 1000.0))

    def loudness(self, block_db: np.ndarray | None = None) -> float:
        """Loudness of the input (None) or of render(block_db), estimated from the K-weighted
        block energies times the mean square of the rendered gain ramp over each block."""
        e = self.energy
        if block_db is not None:
            nodes = _gain_nodes(10.0 ** (block_db / 20.0))
            a, b = nodes[:-1], nodes[1:]
            e = e * ((a * a + a * b + b * b) / 3.0)
        return _gated_loudness(np.add.reduceat(e, self.step_starts), self.n, self.rate)

    def block_gains_db(self, gain_db: float, ceiling_db: float, release: float) -> np.ndarray:
        """Gain (dB) per block: gain_db, minus the limiter's reduction."""
        with np.errstate(divide="ignore"):
            need = self.envelope_db + (gain_db - ceiling_db)
        np.clip(need, 0.0, _MAX_REDUCTION_DB, out=need)
        if not need.any():
            return np.full(len(need), gain_db)
        return gain_db - _reduction_db(need, self.block_rate, release, self.corner)

    def render(self, block_db: np.ndarray) -> np.ndarray:
        return _apply_gain_curve(self.x, _gain_nodes(10.0 ** (block_db / 20.0)))


def _search_gain(
    norm: _Normaliser,
    gain_db: float,
    target_lufs: float,
    ceiling_db: float,
    report: Callable[[], None],
) -> np.ndarray:
    """Passes of gain + limiter until the estimated loudness is within 0.05 LU of the target (at
    most _PASSES); returns the per-block gain (dB) of the chosen pass."""
    release = RELEASE_DB_PER_S
    below: tuple[float, float] | None = None  # (gain, loudness) of the best pass under target
    above: tuple[float, float] | None = None  # ... and over it
    block_db = np.zeros(0)
    for _ in range(_PASSES):
        block_db = norm.block_gains_db(gain_db, ceiling_db, release)
        measured = norm.loudness(block_db)
        report()
        error = target_lufs - measured
        if abs(error) <= 0.05:
            break
        if error > 0:
            slope = 0.5  # first guess: limiting eats half of the extra gain
            if below is not None and gain_db != below[0]:
                slope = (measured - below[1]) / (gain_db - below[0])
                if slope < 0.2 and error > 0.3 and release != FAST_RELEASE_DB_PER_S:
                    # Saturated: the slow release holds the gain down through whole syllables.
                    release = FAST_RELEASE_DB_PER_S
                    below = above = None
                    continue
                if slope < 0.02 and release == FAST_RELEASE_DB_PER_S and gain_db > below[0]:
                    # Saturated even so: more gain would only flatten the waveform further.
                    # Settle for the previous pass (the target is out of reach at this ceiling).
                    return norm.block_gains_db(below[0], ceiling_db, release)
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
    return block_db


def _stream_true_peak(encoded: bytes) -> float:
    """True peak (dBTP) of an encoded file, at its own sample rate."""
    return measure_encoded(encoded).true_peak_dbtp


def _codec_true_peak(samples: np.ndarray) -> float:
    """Worst true peak of the clip after MP3 and Opus (default bit rates) and decoding."""
    clip = Clip(samples, PIPELINE_RATE)
    return max(_stream_true_peak(encode_mp3(clip)), _stream_true_peak(encode_opus(clip)))


def normalize_loudness(
    clip: Clip,
    *,
    target_lufs: float = -16.0,
    max_true_peak: float = -1.5,
    margin_db: float = CODEC_MARGIN_DB,
    progress: Callable[[float], None] | None = None,
) -> Clip:
    """Make the clip target_lufs loud with its true peak at most max_true_peak - margin_db, so
    that it stays at most max_true_peak after MP3 and Opus encoding.

    Computes the K-weighted block energies and the true-peak envelope once, then searches the
    gain with passes of gain + look-ahead true-peak limiter on those (a few ms each), renders the
    result once, measures it exactly, and corrects the loudness by a final scalar gain if the
    estimate was off. If the decoded MP3/Opus still peaks above max_true_peak (rare: see the
    overshoot table in docs/speech-audio.md), call again with a larger margin_db. If
    VERIFY_CODECS (off by default), the result is also encoded and decoded here, and the margin
    raised by any excess (at most _VERIFY_ROUNDS times).

    progress(fraction) is called after each pass; it may raise (e.g. Cancelled) to stop.
    Silence-only input raises AudioInputError("silent").
    """
    x = _to_pipeline(clip)
    rate = PIPELINE_RATE
    norm = _Normaliser(x, rate)
    loudness = norm.loudness()
    if not math.isfinite(loudness):
        raise AudioInputError("silent")
    steps = [0]
    total = _PASSES * (_VERIFY_ROUNDS + 1) if VERIFY_CODECS else _PASSES

    def report() -> None:
        steps[0] += 1
        if progress is not None:
            progress(min(0.95, steps[0] / total))

    ceiling_db = max_true_peak - margin_db
    block_db = _search_gain(norm, target_lufs - loudness, target_lufs, ceiling_db, report)
    y = _finish(norm, block_db, target_lufs, ceiling_db)
    if VERIFY_CODECS:
        for _ in range(_VERIFY_ROUNDS):
            excess = _codec_true_peak(y) - max_true_peak
            if excess <= 0.0:
                break
            ceiling_db -= excess + 0.1
            gain_db = float(np.max(block_db))
            block_db = _search_gain(norm, gain_db, target_lufs, ceiling_db, report)
            y = _finish(norm, block_db, target_lufs, ceiling_db)
    if progress is not None:
        progress(1.0)
    return Clip(y, PIPELINE_RATE)


def _finish(
    norm: _Normaliser, block_db: np.ndarray, target_lufs: float, ceiling_db: float
) -> np.ndarray:
    """Render, measure the loudness exactly, and correct by a scalar gain (which scales the true
    peak exactly: a raise is limited to what the ceiling allows)."""
    y = norm.render(block_db)
    if not FINAL_CHECK:
        return y
    error = target_lufs - integrated_loudness(y, norm.rate)
    if abs(error) > 0.02 and math.isfinite(error):
        peak_db = _db(float(np.max(norm.envelope.values * 10.0 ** (block_db / 20.0))))
        correction = min(error, max(0.0, ceiling_db - peak_db) + _FINAL_RAISE_DB)
        y *= np.float32(10.0 ** (correction / 20.0))
    return y


# --- Encoding -------------------------------------------------------------------------------


def _configure(
    ctx: Any, rate: int, bitrate: int, sample_format: str, options: dict[str, str] | None
) -> None:
    ctx.sample_rate = rate
    ctx.layout = "mono"
    ctx.time_base = Fraction(1, rate)
    ctx.bit_rate = bitrate
    ctx.format = sample_format
    ctx.flags |= av.codec.context.Flags.bitexact
    if options:
        ctx.options = dict(options)


def _frames(
    x: np.ndarray, rate: int, gain: float, sample_format: str, start: int = 0, stop: int = -1
) -> Iterator[Any]:
    """Samples [start, stop) of x (at PIPELINE_RATE) resampled to `rate` (stop -1: to the end),
    as _ENCODE_CHUNK_SECONDS frames whose pts count samples at `rate` from the programme start.

    A 1:down polyphase resampling with _RESAMPLE_CTX samples of context on each side gives the
    same samples as resampling the whole programme at once, so any block (and any segment of
    encode_mp3) gets exactly the samples a single pass would."""
    down = PIPELINE_RATE // rate
    end = len(x) if stop < 0 else min(len(x), stop * down)
    chunk = _ENCODE_CHUNK_SECONDS * PIPELINE_RATE
    for pos in range(start * down, end, chunk):
        count = min(chunk, end - pos)
        if down != 1:
            first = max(0, pos - _RESAMPLE_CTX)
            lo = pos - first
            part = signal.resample_poly(x[first : pos + count + _RESAMPLE_CTX], 1, down)[
                lo // down : (lo + count + down - 1) // down
            ]
        else:
            part = x[pos : pos + count]
        if gain != 1.0:
            part = part * np.float32(gain)
        part = np.clip(part, -1.0, 1.0).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(part), format=sample_format, layout="mono"
        )
        frame.sample_rate = rate
        frame.pts = pos // down
        yield frame


def _encode(
    clip: Clip,
    fmt: str,
    codec: str,
    sample_format: str,
    bitrate: int,
    gain: float = 1.0,
    *,
    rate: int = PIPELINE_RATE,
    options: dict[str, str] | None = None,
) -> bytes:
    """Encode mono at `rate`, deterministically: `fflags=+bitexact` makes FFmpeg write no
    version strings and use Ogg serial number 0 instead of a random one; no metadata is set.
    Thread-safe (no shared state): the pipeline runs the MP3 and Opus encodes in two threads
    (PyAV releases the GIL while encoding)."""
    x = _to_pipeline(clip)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt, container_options={"fflags": "+bitexact"}) as container:
        stream: Any = container.add_stream(codec, rate=rate, layout="mono")
        _configure(stream.codec_context, rate, bitrate, sample_format, options)
        for frame in _frames(x, rate, gain, sample_format):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


@functools.lru_cache(maxsize=8)
def _lame_gain(bitrate: int, rate: int = MP3_RATE) -> float:
    """LAME scales mono input by a fixed factor (0.95 up to 128 kb/s, 0.97 at 192 kb/s with
    LAME 3.100), which would leave every MP3 ~0.45 LU below its target. Measured once per bit
    rate on a 1 kHz tone, so a different LAME build calibrates itself."""
    tone = (0.25 * np.sin(2 * np.pi * 1000.0 * np.arange(PIPELINE_RATE) / PIPELINE_RATE)).astype(
        np.float32
    )
    encoded = _encode(
        Clip(tone, PIPELINE_RATE),
        "mp3",
        "libmp3lame",
        "fltp",
        bitrate,
        1.0,
        rate=rate,
        options=_MP3_OPTIONS,
    )
    decoded = decode(encoded)
    mid = slice(PIPELINE_RATE // 4, 3 * PIPELINE_RATE // 4)
    ratio = float(np.sqrt(np.mean(np.square(decoded.samples[mid], dtype=np.float64))))
    ratio /= float(np.sqrt(np.mean(np.square(tone[mid], dtype=np.float64))))
    return 1.0 / ratio if 0.8 < ratio < 1.25 else 1.0


def encode_mp3(clip: Clip, *, bitrate: int = MP3_BITRATE, segments: int | None = None) -> bytes:
    """Mono CBR MP3 (libmp3lame) at MP3_RATE (24 kHz, MPEG-2 Layer III) with a Xing/Info header
    (exact duration, gapless). See docs/speech-audio.md for why 24 kHz.

    The input is scaled by the inverse of LAME's own fixed gain, so the decoded MP3 has the
    loudness (and, apart from codec overshoot, the true peak) of the clip.

    A clip of MP3_SPLIT_SECONDS or more is encoded as `segments` (default MP3_SEGMENTS) parts in
    parallel threads and the frames joined: the bytes are identical to a single pass (see
    _encode_mp3_split); shorter clips, and segments=1, take the single pass."""
    gain = _lame_gain(bitrate, MP3_RATE)
    x = _to_pipeline(clip)
    if segments is None:
        segments = MP3_SEGMENTS if len(x) >= MP3_SPLIT_SECONDS * PIPELINE_RATE else 1
    if segments > 1:
        joined = _encode_mp3_split(x, bitrate, gain, segments)
        if joined is not None:
            return joined
    return _encode(
        Clip(x, PIPELINE_RATE),
        "mp3",
        "libmp3lame",
        "fltp",
        bitrate,
        gain,
        rate=MP3_RATE,
        options=_MP3_OPTIONS,
    )


def _mp3_segment(ctx: Any, x: np.ndarray, gain: float, start: int, stop: int) -> list[Any]:
    """LAME packets (one per 576-sample frame) of samples [start, stop) at MP3_RATE; packet k
    is frame start // _MP3_FRAME + k of the programme (start is a multiple of _MP3_FRAME)."""
    packets: list[Any] = []
    for frame in _frames(x, MP3_RATE, gain, "fltp", start, stop):
        packets.extend(ctx.encode(frame))
    packets.extend(ctx.encode(None))
    return packets


def _encode_mp3_split(x: np.ndarray, bitrate: int, gain: float, segments: int) -> bytes | None:
    """The single-pass MP3 of x, made by `segments` LAME encoders in parallel threads (PyAV
    releases the GIL while encoding), or None if the parts cannot be joined exactly.

    Without the bit reservoir (_MP3_OPTIONS) a CBR LAME frame depends only on the audio around
    it: a frame is the same bytes in any encode that starts at least _MP3_SETTLE frames before
    it and ends at least _MP3_TAIL frames after it (measured on LAME 3.100: 3 and 2). Segment i
    keeps frames [S_i, S_i+1) of the programme; it starts _MP3_PRIME frames before S_i (frames
    encoded and dropped) and ends _MP3_LOOKAHEAD frames after S_i+1. So every kept frame is the
    frame the single pass makes, the joined stream has the same frame count, delay and padding,
    and the muxer writes the same Xing/LAME header: the file is byte-identical to a single pass
    (tested). The frames both neighbours make around each splice are compared; if any differ
    (a LAME whose frames depend on more of the past), None: the caller encodes in one pass."""
    down = PIPELINE_RATE // MP3_RATE
    total = (len(x) + down - 1) // down  # samples at MP3_RATE
    n_frames = total // _MP3_FRAME
    if n_frames < segments * 4 * (_MP3_PRIME + _MP3_LOOKAHEAD):
        return None
    splice = [n_frames * i // segments for i in range(segments)] + [-1]
    spans = [
        (
            max(0, splice[i] - _MP3_PRIME) * _MP3_FRAME,
            -1 if i == segments - 1 else (splice[i + 1] + _MP3_LOOKAHEAD) * _MP3_FRAME,
        )
        for i in range(segments)
    ]

    def run(i: int) -> list[Any]:
        ctx = av.CodecContext.create("libmp3lame", "w")
        _configure(ctx, MP3_RATE, bitrate, "fltp", _MP3_OPTIONS)
        return _mp3_segment(ctx, x, gain, *spans[i])

    with ThreadPoolExecutor(max_workers=segments - 1, thread_name_prefix="mp3") as pool:
        futures = [pool.submit(run, i) for i in range(1, segments)]
        parts = [run(0)] + [f.result() for f in futures]
    first = [start // _MP3_FRAME for start, _ in spans]
    for i in range(1, segments):
        # Frames both neighbours made in their steady state must be the same bytes.
        for g in range(
            splice[i] - _MP3_PRIME + _MP3_SETTLE, splice[i] + _MP3_LOOKAHEAD - _MP3_TAIL
        ):
            if bytes(parts[i - 1][g - first[i - 1]]) != bytes(parts[i][g - first[i]]):
                return None
    buf = io.BytesIO()
    with av.open(
        buf, mode="w", format="mp3", container_options={"fflags": "+bitexact"}
    ) as container:
        # The stream's own encoder only gives the muxer its parameters (delay); the frames
        # come from the segments. The last frame carries the end padding for the LAME tag.
        stream: Any = container.add_stream("libmp3lame", rate=MP3_RATE, layout="mono")
        _configure(stream.codec_context, MP3_RATE, bitrate, "fltp", _MP3_OPTIONS)
        for i, packets in enumerate(parts):
            lo = splice[i] - first[i]
            hi = len(packets) if i == segments - 1 else splice[i + 1] - first[i]
            for packet in packets[lo:hi]:
                packet.stream = stream
                container.mux(packet)
    return buf.getvalue()


def encode_opus(clip: Clip, *, bitrate: int = 32_000) -> bytes:
    """Ogg/Opus (libopus), 48 kHz mono, float input, compression level 5."""
    return _encode(clip, "ogg", "libopus", "flt", bitrate, options=_OPUS_OPTIONS)

"""Build test audio: speech-like signals at chosen loudness, and real files in real containers.

Everything is synthesised (seeded, so deterministic) and encoded with PyAV/FFmpeg, the same
libraries production decodes with; no audio files are checked in.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from typing import Any

import av
import numpy as np
import pyloudnorm
from scipy import signal

RATE = 48_000


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def loudness(x: np.ndarray, rate: int = RATE) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(np.asarray(x, dtype=np.float64)))


def true_peak_db(x: np.ndarray, rate: int = RATE) -> float:
    """Reference true peak for tests: 8x oversampling (finer than the 4x under test)."""
    up = signal.resample_poly(np.asarray(x, dtype=np.float64), 8, 1)
    return float(20 * np.log10(np.max(np.abs(up))))


def speech_like(seconds: float = 20.0, *, seed: int = 1, rate: int = RATE) -> np.ndarray:
    """A voice-like signal: a gliding glottal pulse train (shaped like glottal flow, with lip
    radiation and some phase dispersion) plus breath noise, through three formant resonators,
    cut into 4-5 Hz syllables with pauses between phrases. Its peak-to-loudness ratio is about
    18-19 dB, in the 15-20 dB range of real speech; the waveform's crest factor is realistic
    too (a train of single-sample impulses would be far peakier than a voice)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t) + 15 * np.sin(2 * np.pi * 2.3 * t)
    phase = np.cumsum(f0 / rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    glottal = signal.lfilter([1.0], [1.0, -2 * 0.96, 0.96**2], pulses)  # glottal flow
    glottal = np.diff(glottal, prepend=0.0)  # lip radiation
    for _ in range(6):  # phase dispersion (vocal tract, room)
        glottal = signal.lfilter([0.7, 1.0], [1.0, 0.7], glottal)
    glottal /= np.std(glottal)
    noise = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(n))
    src = glottal + 0.5 * noise / np.std(noise)
    out = np.zeros(n)
    for formant, bw, gain in ((700, 130, 1.0), (1220, 70, 0.5), (2600, 160, 0.25)):
        r = np.exp(-np.pi * bw / rate)
        theta = 2 * np.pi * formant / rate
        out += gain * signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], src)
    # Syllables: raised-cosine bursts of 120-260 ms, phrases of 6-10 syllables, 300-700 ms pauses.
    env = np.zeros(n)
    pos = int(0.2 * rate)
    while pos < n:
        for _ in range(rng.integers(6, 11)):
            length = int(rng.uniform(0.12, 0.26) * rate)
            if pos + length > n:
                break
            env[pos : pos + length] = np.hanning(length) * rng.uniform(0.5, 1.0)
            pos += length + int(rng.uniform(0.02, 0.08) * rate)
        pos += int(rng.uniform(0.3, 0.7) * rate)
    out *= env
    peak = np.max(np.abs(out))
    if peak > 0:
        out /= peak
    return out.astype(np.float32)


def at_loudness(x: np.ndarray, lufs: float, rate: int = RATE) -> np.ndarray:
    return (x * 10 ** ((lufs - loudness(x, rate)) / 20)).astype(np.float32)


def quiet_recording(seconds: float = 20.0) -> np.ndarray:
    """-40 LUFS: a phone held far away."""
    return at_loudness(speech_like(seconds, seed=2), -40.0)


def clipped_hot(seconds: float = 20.0) -> np.ndarray:
    """-5 LUFS after hard clipping at full scale: an overdriven recording (gain found by
    bisection: the loudness of a clipped signal grows ever more slowly with the gain)."""
    x = speech_like(seconds, seed=3)
    low, high = 0.0, 40.0
    for _ in range(20):
        mid = (low + high) / 2
        if loudness(np.clip(x * 10 ** (mid / 20), -1.0, 1.0)) < -5.0:
            low = mid
        else:
            high = mid
    return np.clip(x * 10 ** (low / 20), -1.0, 1.0).astype(np.float32)


def with_sharp_peaks(seconds: float = 20.0) -> np.ndarray:
    """-30 LUFS speech with isolated full-scale clicks (a microphone knocked) every 1.7 s."""
    x = at_loudness(speech_like(seconds, seed=4), -30.0)
    for i, pos in enumerate(range(int(0.9 * RATE), len(x) - 10, int(1.7 * RATE))):
        x[pos] = 0.95 if i % 2 else -0.95
        x[pos + 1] = -0.6 if i % 2 else 0.6
    return x


# --- Containers -----------------------------------------------------------------------------

# (container format, codec, sample format, bit rate)
FORMATS = {
    "wav": ("wav", "pcm_s16le", "s16", None),
    "mp3": ("mp3", "libmp3lame", "fltp", 128_000),
    "ogg": ("ogg", "libopus", "flt", 48_000),
    "webm": ("webm", "libopus", "flt", 48_000),  # what Chrome's MediaRecorder produces
    "flac": ("flac", "flac", "s16", None),
    "m4a": ("ipod", "aac", "fltp", 96_000),
}


def encode(
    x: np.ndarray,
    kind: str,
    *,
    rate: int = RATE,
    channels: int = 1,
    bit_rate: int | None = None,
    container_options: dict[str, str] | None = None,
) -> bytes:
    """Encode samples (mono; duplicated to `channels`) into a real file of the given kind."""
    fmt, codec, sample_format, default_rate = FORMATS[kind]
    layout = "mono" if channels == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt, container_options=container_options or {}) as container:
        stream: Any = container.add_stream(codec, rate=rate, layout=layout)
        if bit_rate or default_rate:
            stream.bit_rate = bit_rate or default_rate
        stream.codec_context.format = sample_format
        data = np.asarray(x, dtype=np.float32)
        if sample_format.startswith("s16"):
            data = np.clip(np.round(data * 32767), -32768, 32767).astype(np.int16)
        planar = sample_format.endswith("p")
        step = 4096
        for start in range(0, len(data), step):
            part = data[start : start + step]
            if planar:
                arr = np.tile(part, (channels, 1))
            else:
                arr = np.repeat(part, channels).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(arr), format=sample_format, layout=layout
            )
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def wav_bytes(x: np.ndarray, rate: int = RATE, *, declared_frames: int | None = None) -> bytes:
    """A 16-bit mono WAV written by hand, so its header can lie about the length."""
    pcm = np.clip(np.round(np.asarray(x) * 32767), -32768, 32767).astype("<i2").tobytes()
    data_size = len(pcm) if declared_frames is None else declared_frames * 2
    header = b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, 36 + data_size)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", min(0xFFFFFFFF, data_size))
    return header + pcm


def raw_mp3_frames(seconds: float, *, rate: int = 8000, bit_rate: int = 8000) -> bytes:
    """An MP3 stream with no ID3 tag and no Xing header: players estimate its duration from the
    bit rate and the file size. Concatenations of such streams are valid, longer MP3s."""
    return encode(
        tone(seconds, 300.0, rate, 0.3),
        "mp3",
        rate=rate,
        bit_rate=bit_rate,
        container_options={"write_xing": "0", "id3v2_version": "0"},
    )


def repeat_bytes(chunk: bytes, times: int) -> bytes:
    return chunk * times


def join(parts: Sequence[bytes]) -> bytes:
    return b"".join(parts)


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cf00000301010018dd8db00000000049454e44ae426082"
)
HTML_SCRIPT = b"<!doctype html><html><body><script>fetch('/x')</script></body></html>\n" * 20
SHELL_SCRIPT = b"#!/bin/sh\necho 'this is not audio'\n" * 50
TEXT = "Đây không phải là tệp âm thanh.\n".encode() * 100

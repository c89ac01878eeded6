"""The audio signal path, on real files decoded by real FFmpeg (no mocks).

Loudness is checked the way a listener's device would get it: normalise, encode to MP3/Opus,
decode, and measure the decoded audio with pyloudnorm and an 8x-oversampled true peak.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from thongtincoso.speech import dsp
from thongtincoso.speech.clip import PIPELINE_RATE, Clip
from thongtincoso.speech.errors import AudioInputError
from thongtincoso.speech.tests import audio_samples as s

REPO = Path(__file__).resolve().parents[3]


def clip(x: np.ndarray, rate: int = PIPELINE_RATE) -> Clip:
    return Clip(np.asarray(x, dtype=np.float32), rate)


def error_code(data: object, **kwargs: float) -> str:
    with pytest.raises(AudioInputError) as info:
        dsp.decode(data, **kwargs)  # type: ignore[arg-type]
    assert info.value.code in dsp.ERROR_CODES
    return info.value.code


@functools.cache
def signal_named(name: str) -> np.ndarray:
    return {
        "quiet_-40": lambda: s.quiet_recording(12.0),
        "clipped_hot_-5": lambda: s.clipped_hot(12.0),
        "sharp_peaks": lambda: s.with_sharp_peaks(12.0),
    }[name]()


@functools.cache
def normalised(name: str, target: float) -> np.ndarray:
    return dsp.normalize_loudness(clip(signal_named(name)), target_lufs=target).samples


# --- Loudness normalisation, measured after the codecs ---------------------------------------


@pytest.mark.parametrize("name", ["quiet_-40", "clipped_hot_-5", "sharp_peaks"])
@pytest.mark.parametrize("target", [-16.0, -23.0, -14.0])
@pytest.mark.parametrize("codec", ["mp3", "opus"])
def test_decoded_output_meets_loudness_and_true_peak(name: str, target: float, codec: str) -> None:
    y = normalised(name, target)
    encoded = dsp.encode_mp3(clip(y)) if codec == "mp3" else dsp.encode_opus(clip(y))
    decoded = dsp.decode(encoded).samples
    assert abs(s.loudness(decoded) - target) <= 0.5
    assert s.true_peak_db(decoded) <= -1.5
    assert abs(len(decoded) - len(y)) <= PIPELINE_RATE * 0.03


def test_input_signals_are_what_they_claim() -> None:
    assert s.loudness(signal_named("quiet_-40")) == pytest.approx(-40, abs=0.1)
    assert s.loudness(signal_named("clipped_hot_-5")) == pytest.approx(-5, abs=0.3)
    assert np.max(np.abs(signal_named("clipped_hot_-5"))) == pytest.approx(1.0)
    speech = s.speech_like(12.0)
    assert 15 <= s.true_peak_db(speech) - s.loudness(speech) <= 21  # speech-like PLR


def test_other_max_true_peak() -> None:
    y = dsp.normalize_loudness(clip(signal_named("quiet_-40")), target_lufs=-18, max_true_peak=-3)
    decoded = dsp.decode(dsp.encode_mp3(y)).samples
    assert abs(s.loudness(decoded) + 18) <= 0.5
    assert s.true_peak_db(decoded) <= -3.0


def test_limiter_leaves_quiet_material_alone() -> None:
    x = s.at_loudness(s.speech_like(6.0, seed=9), -30)
    y = dsp.normalize_loudness(clip(x), target_lufs=-23).samples
    # Peaks stay below the ceiling: pure gain, no limiting (the waveform shape is unchanged).
    gain = float(np.dot(y, x) / np.dot(x, x))
    assert 20 * math.log10(gain) == pytest.approx(7.0, abs=0.15)
    assert np.max(np.abs(y - gain * x)) < 1e-5


def test_silence_is_refused_and_progress_is_reported() -> None:
    with pytest.raises(AudioInputError) as info:
        dsp.normalize_loudness(Clip.silence(3.0))
    assert info.value.code == "silent"
    with pytest.raises(AudioInputError):
        dsp.normalize_loudness(clip(np.full(48000, 1e-6, dtype=np.float32)))  # below -70 LUFS
    seen: list[float] = []
    dsp.normalize_loudness(clip(s.at_loudness(s.speech_like(3.0), -20)), progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 1.0


def test_progress_can_cancel() -> None:
    from thongtincoso.speech.errors import Cancelled

    def cancel(_: float) -> None:
        raise Cancelled()

    with pytest.raises(Cancelled):
        dsp.normalize_loudness(clip(s.at_loudness(s.speech_like(3.0), -20)), progress=cancel)


def test_normalize_accepts_other_rates() -> None:
    x = s.speech_like(4.0, rate=22050)
    y = dsp.normalize_loudness(clip(x, 22050))
    assert y.sample_rate == PIPELINE_RATE
    assert y.duration == pytest.approx(4.0, abs=0.001)
    assert abs(s.loudness(y.samples) + 16) <= 0.2


# --- Measurement --------------------------------------------------------------------------------


def test_measure_matches_pyloudnorm() -> None:
    for x in (signal_named("quiet_-40"), s.speech_like(7.33, seed=5), s.tone(1.0)):
        m = dsp.measure(clip(x))
        assert m.integrated_lufs == pytest.approx(s.loudness(x), abs=0.01)
        assert m.duration == pytest.approx(len(x) / PIPELINE_RATE)


def test_true_peak_sees_intersample_peaks() -> None:
    # A sine at fs/4 sampled 45 degrees off its crest: every sample is at 0.707, the wave at 1.0.
    n = np.arange(48000)
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32)
    assert 20 * math.log10(np.max(np.abs(x))) == pytest.approx(-3.01, abs=0.01)
    assert dsp.measure(clip(x)).true_peak_dbtp == pytest.approx(0.0, abs=0.2)


@pytest.mark.parametrize("rate", [48000, 24000, 44100])
def test_true_peak_equals_oversampling_everything(rate: int) -> None:
    # true_peak oversamples only where the maximum can be; the result must be exactly what
    # oversampling the whole signal with resample_poly gives.
    from scipy import signal

    rng = np.random.default_rng(4)
    cases = [
        s.speech_like(5.0, rate=rate),
        s.clipped_hot(5.0)[: 5 * rate],
        s.with_sharp_peaks(5.0)[: 5 * rate],
        (0.3 * rng.standard_normal(rate)).astype(np.float32),
        s.tone(0.01, 11000.0, rate, amp=0.9),  # shorter than a block
    ]
    factor = dsp._oversampling_factor(rate)
    for x in cases:
        up = signal.resample_poly(x, factor, 1)
        ref = 20 * math.log10(max(float(np.max(np.abs(x))), float(np.max(np.abs(up)))))
        assert dsp.true_peak(x, rate) == pytest.approx(ref, abs=1e-4)


@pytest.mark.parametrize(
    ("name", "tolerance_db"), [("speech", 0.05), ("sharp_peaks", 0.2), ("clipped_hot_-5", 0.2)]
)
def test_fast_envelope_is_close_and_bounded(name: str, tolerance_db: float) -> None:
    # The limiter's envelope (short interpolator) against resample_poly's, block by block:
    # always within the proven bound, and close where the limiter acts (single-sample clicks,
    # the broadest-band case, are the worst: 0.14 dB; flat clipped tops 0.11 dB).
    x = s.speech_like(6.0, seed=8) if name == "speech" else signal_named(name)
    nb = -(-len(x) // dsp._PB)
    exact = dsp._exact_block_peaks(x, 4, np.arange(-(-nb // (dsp._SB // dsp._PB)))).ravel()[:nb]
    fast = dsp._fast_block_peaks(x, 4)
    bound = dsp._neighbourhood(dsp._block_peaks(x)) * dsp._core_filters(4)[1]
    assert np.all(np.abs(fast - exact) <= bound + 1e-6)
    loud = exact > 0.25 * exact.max()
    assert np.max(np.abs(20 * np.log10(fast[loud] / exact[loud]))) < tolerance_db


@pytest.mark.parametrize("codec", ["mp3", "opus"])
def test_measure_encoded_matches_decode_and_measure(codec: str) -> None:
    y = clip(normalised("quiet_-40", -16.0))
    data = dsp.encode_mp3(y) if codec == "mp3" else dsp.encode_opus(y)
    fast = dsp.measure_encoded(data)
    slow = dsp.measure(dsp.decode(data))
    assert fast.integrated_lufs == pytest.approx(slow.integrated_lufs, abs=0.05)
    assert fast.true_peak_dbtp == pytest.approx(slow.true_peak_dbtp, abs=0.15)
    assert fast.duration == pytest.approx(slow.duration, abs=0.01)
    with pytest.raises(AudioInputError):
        dsp.measure_encoded(b"not audio at all")


def test_margin_db_lowers_the_ceiling() -> None:
    x = clip(signal_named("quiet_-40"))
    default = dsp.measure(dsp.normalize_loudness(x))
    wider = dsp.measure(dsp.normalize_loudness(x, margin_db=3.0))
    assert default.true_peak_dbtp <= -1.5 - dsp.CODEC_MARGIN_DB + 0.1
    assert wider.true_peak_dbtp <= -4.5 + 0.1
    assert abs(wider.integrated_lufs + 16) <= 0.2


def test_encoders_are_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    a = clip(s.speech_like(4.0, seed=2) * np.float32(0.5))
    b = clip(s.speech_like(4.0, seed=3) * np.float32(0.5))
    expected = [dsp.encode_mp3(a), dsp.encode_opus(a), dsp.encode_mp3(b), dsp.encode_opus(b)]
    with ThreadPoolExecutor(4) as pool:
        got = list(
            pool.map(
                lambda job: job[0](job[1]),
                [
                    (dsp.encode_mp3, a),
                    (dsp.encode_opus, a),
                    (dsp.encode_mp3, b),
                    (dsp.encode_opus, b),
                ],
            )
        )
    assert got == expected


def test_measure_short_and_empty_clips() -> None:
    short = dsp.measure(clip(s.tone(0.3)))  # shorter than a 400 ms gating block
    longer = dsp.measure(clip(s.tone(2.0)))
    assert short.integrated_lufs == pytest.approx(longer.integrated_lufs, abs=0.2)
    assert dsp.measure(clip(np.zeros(0))).integrated_lufs == -math.inf
    assert dsp.measure(Clip.silence(1.0)).integrated_lufs == -math.inf


# --- Encoding -----------------------------------------------------------------------------------

_ENCODE_SCRIPT = """
import hashlib, numpy as np
from thongtincoso.speech import dsp
from thongtincoso.speech.clip import Clip
from thongtincoso.speech.tests import audio_samples as s
c = Clip(s.speech_like(3.0, seed=21) * np.float32(0.5), 48000)
print(hashlib.sha256(dsp.encode_mp3(c)).hexdigest(), hashlib.sha256(dsp.encode_opus(c)).hexdigest())
"""


def test_encoders_are_deterministic_across_processes() -> None:
    c = clip(s.speech_like(3.0, seed=21) * np.float32(0.5))
    mp3, opus = dsp.encode_mp3(c), dsp.encode_opus(c)
    assert dsp.encode_mp3(c) == mp3
    assert dsp.encode_opus(c) == opus
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _ENCODE_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    ).stdout.split()
    assert out == [hashlib.sha256(mp3).hexdigest(), hashlib.sha256(opus).hexdigest()]


@pytest.mark.parametrize(("kind", "codec"), [("mp3", "mp3float"), ("opus", "opus")])
def test_encoded_files_are_mono_without_timestamps(kind: str, codec: str) -> None:
    c = clip(s.speech_like(2.0) * np.float32(0.5))
    data = dsp.encode_mp3(c) if kind == "mp3" else dsp.encode_opus(c)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == codec
        rate = dsp.MP3_RATE if kind == "mp3" else PIPELINE_RATE
        assert stream.codec_context.sample_rate == rate
        assert stream.codec_context.channels == 1
        assert not {k.lower() for k in container.metadata} & {"creation_time", "date"}
    assert re.search(rb"Lav[fc]\d", data) is None  # no FFmpeg version string (bitexact)
    assert dsp.decode(data).duration == pytest.approx(2.0, abs=0.03)
    if kind == "opus":
        assert data[:4] == b"OggS"
        assert data[14:18] == b"\x00\x00\x00\x00"  # fixed Ogg serial number, not a random one


def test_mp3_keeps_the_level() -> None:
    x = s.tone(2.0, 1000.0, amp=0.5)
    decoded = dsp.decode(dsp.encode_mp3(clip(x))).samples
    assert s.loudness(decoded) == pytest.approx(s.loudness(x), abs=0.05)


@functools.cache
def long_signal(name: str) -> np.ndarray:
    """70 s (over MP3_SPLIT_SECONDS), normalised to -16 LUFS: what encode_mp3 splits."""
    x = {
        "speech": lambda: s.speech_like(70.0, seed=5),
        "tone": lambda: s.tone(70.0, 997.0, amp=0.5),
    }[name]()
    return dsp.normalize_loudness(clip(x)).samples


def _splices(n_samples: int, segments: int) -> list[int]:
    """Positions (samples at PIPELINE_RATE) where encode_mp3 joins its segments."""
    frames = -(-n_samples // 2) // dsp._MP3_FRAME
    return [2 * dsp._MP3_FRAME * (frames * i // segments) for i in range(1, segments)]


@pytest.mark.parametrize("name", ["speech", "tone"])
@pytest.mark.parametrize("segments", [2, 3])
def test_split_mp3_equals_a_single_pass(name: str, segments: int) -> None:
    x = long_signal(name)
    single = dsp.encode_mp3(clip(x), segments=1)
    gain = dsp._lame_gain(dsp.MP3_BITRATE)
    split = dsp._encode_mp3_split(x, dsp.MP3_BITRATE, gain, segments)
    assert split is not None  # joined, not the single-pass fallback
    assert split == single  # same frames, same Xing/LAME header (frame count, delay, padding)
    if segments == dsp.MP3_SEGMENTS:
        assert dsp.encode_mp3(clip(x)) == single
    a, b = dsp.decode(split).samples, dsp.decode(single).samples
    assert len(a) == len(b)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["speech", "tone"])
def test_split_mp3_has_no_seam(name: str) -> None:
    """Codec error (decoded - input) in 20 ms windows: no larger at a splice than elsewhere."""
    x = long_signal(name)
    decoded = dsp.decode(dsp.encode_mp3(clip(x), segments=3)).samples[: len(x)]
    assert len(decoded) == len(x)
    win = PIPELINE_RATE // 50
    n = len(x) // win
    err = np.sqrt(np.mean(np.square((decoded - x)[: n * win].reshape(n, win), dtype=np.float64), 1))
    sig = np.sqrt(np.mean(np.square(x[: n * win].reshape(n, win), dtype=np.float64), 1))
    active = sig > 1e-3
    seam_windows: set[int] = set()
    for pos in _splices(len(x), 3):
        seam_windows.update(range(pos // win - 2, pos // win + 3))
    seam = [i for i in seam_windows if active[i]]
    rest = [i for i in range(n) if active[i] and i not in seam_windows]
    assert seam
    ratio = err / np.maximum(sig, 1e-9)
    assert np.max(ratio[seam]) <= np.percentile(ratio[rest], 99)


def test_long_mp3_meets_loudness_and_true_peak_and_length() -> None:
    x = long_signal("speech")
    data = dsp.encode_mp3(clip(x))
    decoded = dsp.decode(data).samples
    assert len(decoded) == len(x) + (len(x) % 2)  # whole 24 kHz samples: at most one more
    assert abs(s.loudness(decoded) + 16.0) <= 0.5
    assert s.true_peak_db(decoded) <= -1.5
    assert dsp.measure_encoded(data).duration == pytest.approx(len(x) / PIPELINE_RATE, abs=1e-4)


def test_only_long_clips_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = dsp._encode_mp3_split

    def spy(x: np.ndarray, bitrate: int, gain: float, segments: int) -> bytes | None:
        calls.append(len(x))
        return real(x, bitrate, gain, segments)

    monkeypatch.setattr(dsp, "_encode_mp3_split", spy)
    short = s.tone(dsp.MP3_SPLIT_SECONDS - 0.5, 440.0, amp=0.3)
    dsp.encode_mp3(clip(short))
    assert calls == []
    dsp.encode_mp3(clip(s.tone(dsp.MP3_SPLIT_SECONDS, 440.0, amp=0.3)))
    assert calls == [dsp.MP3_SPLIT_SECONDS * PIPELINE_RATE]


def test_split_mp3_falls_back_to_a_single_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the frames around a splice differ (here: compared from a frame the later segment
    makes before it has settled), encode_mp3 encodes in one pass instead."""
    x = long_signal("tone")
    single = dsp.encode_mp3(clip(x), segments=1)
    monkeypatch.setattr(dsp, "_MP3_SETTLE", 0)
    gain = dsp._lame_gain(dsp.MP3_BITRATE)
    assert dsp._encode_mp3_split(x, dsp.MP3_BITRATE, gain, 2) is None
    assert dsp.encode_mp3(clip(x)) == single


_SPLIT_SCRIPT = """
import hashlib, numpy as np
from thongtincoso.speech import dsp
from thongtincoso.speech.clip import Clip
from thongtincoso.speech.tests import audio_samples as s
c = Clip(s.speech_like(65.0, seed=22) * np.float32(0.3), 48000)
print(hashlib.sha256(dsp.encode_mp3(c)).hexdigest())
"""


def test_split_mp3_is_deterministic_across_processes() -> None:
    c = clip(s.speech_like(65.0, seed=22) * np.float32(0.3))
    mp3 = dsp.encode_mp3(c)
    assert dsp.encode_mp3(c) == mp3
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _SPLIT_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    ).stdout.split()
    assert out == [hashlib.sha256(mp3).hexdigest()]


# --- Decoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "rate", "channels"),
    [
        ("wav", 22050, 2),  # 16-bit 22.05 kHz stereo
        ("mp3", 44100, 2),
        ("mp3", 48000, 1),
        ("ogg", 48000, 1),
        ("webm", 48000, 1),  # Chrome's MediaRecorder: WebM/Opus
        ("flac", 16000, 1),
        ("m4a", 44100, 1),
    ],
)
def test_decodes_formats_to_48k_mono(kind: str, rate: int, channels: int) -> None:
    x = s.tone(3.0, 440.0, rate, amp=0.4)
    decoded = dsp.decode(s.encode(x, kind, rate=rate, channels=channels))
    assert decoded.sample_rate == PIPELINE_RATE
    assert decoded.samples.dtype == np.float32
    assert decoded.samples.ndim == 1
    assert decoded.duration == pytest.approx(3.0, abs=0.03)
    spectrum = np.abs(np.fft.rfft(decoded.samples))
    assert np.argmax(spectrum) / decoded.duration == pytest.approx(440.0, abs=2)
    middle = decoded.samples[PIPELINE_RATE : 2 * PIPELINE_RATE]
    assert np.max(np.abs(middle)) == pytest.approx(0.4, rel=0.15)  # stereo down-mix keeps level


def test_decodes_browser_recording_without_duration() -> None:
    data = s.encode(s.tone(3.0), "webm", container_options={"live": "1"})
    assert dsp.decode(data).duration == pytest.approx(3.0, abs=0.03)


def test_decode_accepts_paths_and_file_objects_and_ignores_names(tmp_path: Path) -> None:
    mp3 = s.encode(s.tone(2.0), "mp3")
    misnamed = tmp_path / "bai-doc.txt"
    misnamed.write_bytes(mp3)
    assert dsp.decode(misnamed).duration == pytest.approx(2.0, abs=0.03)
    assert dsp.decode(str(misnamed)).duration == pytest.approx(2.0, abs=0.03)
    with misnamed.open("rb") as f:
        assert dsp.decode(f).duration == pytest.approx(2.0, abs=0.03)
    shifted = io.BytesIO(b"xy" + mp3)
    shifted.read(2)
    assert dsp.decode(shifted).duration == pytest.approx(2.0, abs=0.03)

    class Pipe(io.RawIOBase):  # not seekable, like an upload stream
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:  # type: ignore[override]
            return self._inner.read(n)

    assert dsp.decode(Pipe(mp3)).duration == pytest.approx(2.0, abs=0.03)  # type: ignore[arg-type]
    fake = tmp_path / "x.mp3"
    fake.write_bytes(s.TEXT)
    assert error_code(fake) == "not_audio"


@pytest.mark.parametrize(
    ("data", "codes"),
    [
        (s.TEXT, {"not_audio"}),
        (s.PNG_1X1, {"not_audio"}),
        (s.HTML_SCRIPT, {"not_audio"}),
        (s.SHELL_SCRIPT, {"not_audio"}),
        (b"", {"empty"}),
        (np.random.default_rng(0).bytes(100_000), {"not_audio", "damaged"}),
        (b"\xff\xfb" + np.random.default_rng(1).bytes(50_000), {"not_audio", "damaged"}),
        (s.wav_bytes(np.zeros(0)), {"empty"}),
        (s.encode(s.tone(0.1), "wav"), {"too_short"}),
        (s.encode(s.tone(0.1), "mp3"), {"too_short"}),
    ],
    ids=[
        "text",
        "png",
        "html",
        "script",
        "zero",
        "random",
        "mp3sync",
        "nodata",
        "short",
        "shortmp3",
    ],
)
def test_bad_inputs(data: bytes, codes: set[str]) -> None:
    assert error_code(data) in codes


def test_too_short_params() -> None:
    with pytest.raises(AudioInputError) as info:
        dsp.decode(s.encode(s.tone(0.1), "wav"))
    assert info.value.params == {"seconds": 0.1, "min": dsp.MIN_INPUT_SECONDS}


def test_four_hour_files_are_refused_without_decoding_them() -> None:
    started = time.monotonic()
    long_mp3 = s.raw_mp3_frames(10.0) * 1440  # a real 4-hour MP3 (8 kb/s), 14 MB
    with pytest.raises(AudioInputError) as info:
        dsp.decode(long_mp3)
    assert info.value.code == "too_long"
    assert info.value.params["max"] == dsp.MAX_INPUT_SECONDS
    assert info.value.params["seconds"] == pytest.approx(4 * 3600, rel=0.05)
    lying_wav = s.wav_bytes(s.tone(2.0), declared_frames=PIPELINE_RATE * 4 * 3600)
    assert error_code(lying_wav) == "too_long"
    assert time.monotonic() - started < 5


def test_length_is_enforced_while_decoding() -> None:
    # A browser recording declares no duration: the limit is enforced as samples arrive.
    data = s.encode(s.tone(30.0), "webm", container_options={"live": "1"})
    with pytest.raises(AudioInputError) as info:
        dsp.decode(data, max_seconds=10)
    assert info.value.code == "too_long"
    assert info.value.params == {"seconds": 11, "max": 10} or info.value.params["seconds"] <= 12
    # An MP3 whose Xing header says 2 s, followed by 20 s more of frames.
    head = s.encode(s.tone(2.0), "mp3")
    tail = s.encode(
        s.tone(20.0), "mp3", container_options={"write_xing": "0", "id3v2_version": "0"}
    )
    assert error_code(head + tail, max_seconds=10) == "too_long"
    assert dsp.decode(head + tail).duration == pytest.approx(22.0, abs=0.1)


def test_too_large(tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    with big.open("wb") as f:
        f.truncate(dsp.MAX_INPUT_BYTES + 1)  # sparse: no disk used
    with pytest.raises(AudioInputError) as info:
        dsp.decode(big)
    assert info.value.code == "too_large"
    assert info.value.params == {
        "bytes": dsp.MAX_INPUT_BYTES + 1,
        "max": dsp.MAX_INPUT_BYTES,
        "limit": 200,
    }


@pytest.mark.parametrize("kind", ["mp3", "wav", "flac", "m4a", "webm"])
def test_truncated_files(kind: str) -> None:
    data = s.encode(s.speech_like(10.0) * np.float32(0.5), kind)
    assert error_code(data[: len(data) // 2]) == "truncated"


def test_truncated_ogg_decodes_what_is_there() -> None:
    # Ogg declares no total length (players read the last page's position), so a cut Ogg is a
    # shorter Ogg: what is there decodes correctly. See docs/speech-audio.md.
    data = s.encode(s.speech_like(10.0) * np.float32(0.5), "ogg")
    assert 3.0 < dsp.decode(data[: len(data) // 2]).duration < 7.0


def test_a_tiny_cut_at_the_end_is_accepted() -> None:
    data = s.encode(s.speech_like(10.0) * np.float32(0.5), "mp3")
    assert dsp.decode(data[: len(data) - 200]).duration == pytest.approx(10.0, abs=0.1)


def test_damaged_middle() -> None:
    data = bytearray(s.encode(s.speech_like(10.0) * np.float32(0.5), "flac"))
    rng = np.random.default_rng(3)
    for pos in rng.integers(len(data) // 4, 3 * len(data) // 4, 400):
        data[pos] ^= 0xFF
    outcome: str | float
    try:
        outcome = dsp.decode(bytes(data)).duration
    except AudioInputError as exc:
        outcome = exc.code
    # Either refused as damaged/truncated, or FFmpeg concealed the errors and the length is right.
    assert outcome in {"damaged", "truncated"} or outcome == pytest.approx(10.0, abs=0.5)


def test_error_codes_are_documented() -> None:
    assert set(dsp.ERROR_CODES) == {
        "not_audio",
        "empty",
        "too_large",
        "too_short",
        "too_long",
        "truncated",
        "damaged",
        "silent",
    }


# --- Resample, trim, concat ---------------------------------------------------------------------


@pytest.mark.parametrize("rate", [22050, 16000, 24000, 44100, 8000])
def test_resample_is_exact(rate: int) -> None:
    x = s.tone(2.5, 1000.0, rate)
    y = dsp.resample(clip(x, rate))
    assert y.sample_rate == PIPELINE_RATE
    assert len(y.samples) == len(x) * PIPELINE_RATE // rate
    assert y.duration == pytest.approx(2.5)
    assert y.samples.dtype == np.float32
    ref = s.tone(2.5, 1000.0, PIPELINE_RATE)
    inner = slice(PIPELINE_RATE // 10, -PIPELINE_RATE // 10)
    assert np.max(np.abs(y.samples[inner] - ref[inner])) < 0.01
    back = dsp.resample(y, rate)
    assert len(back.samples) == len(x)


def test_trim_silence() -> None:
    x = np.concatenate([np.zeros(24000), s.tone(1.0), np.zeros(48000)]).astype(np.float32)
    x[:24000] += np.float32(1e-4) * np.random.default_rng(0).standard_normal(24000).astype(
        np.float32
    )  # -80 dBFS hiss
    y = dsp.trim_silence(clip(x))
    assert y.duration == pytest.approx(1.0, abs=0.02)
    assert dsp.trim_silence(Clip.silence(1.0)).duration == 0.0
    assert dsp.trim_silence(clip(np.zeros(0))).duration == 0.0


def test_concat_gaps_and_fades() -> None:
    a, b, c = s.tone(1.0, amp=0.5), s.tone(0.5, amp=0.5), s.tone(0.25, amp=0.5, rate=24000)
    out = dsp.concat([clip(a), clip(b), clip(c, 24000)], gap_seconds=[0.5, 0.25], fade_ms=5)
    assert out.sample_rate == PIPELINE_RATE
    assert len(out.samples) == 48000 + 24000 + 24000 + 12000 + 12000
    assert not out.samples[48000 : 48000 + 24000].any()  # the first gap is silent
    assert not out.samples[96000 : 96000 + 12000].any()
    # Fades at the joins: the part ends/starts at zero, no step into the silence.
    assert abs(out.samples[47999]) < 0.01
    assert abs(out.samples[72000]) < 0.01
    # Outer edges are untouched; the middle of each part too.
    assert out.samples[:100] == pytest.approx(a[:100])
    assert out.samples[24000:24100] == pytest.approx(a[24000:24100])
    # No clicks at the joins: no sample-to-sample jump larger than the tone's own.
    steps = np.abs(np.diff(out.samples))
    for join in (48000, 72000, 96000, 108000):
        assert np.max(steps[join - 480 : join + 480]) <= 1.05 * np.max(np.abs(np.diff(a)))
    single = dsp.concat([clip(a)], gap_seconds=1.0)
    assert single.samples == pytest.approx(a)
    assert dsp.concat([]).duration == 0.0
    with pytest.raises(ValueError, match="gaps"):
        dsp.concat([clip(a), clip(b)], gap_seconds=[0.1, 0.2])


def test_concat_without_gap_crossfades_nothing_but_fades() -> None:
    a = np.full(4800, 0.5, dtype=np.float32)
    out = dsp.concat([clip(a), clip(a)], fade_ms=5).samples
    assert len(out) == 9600
    assert out[4799] < 0.01
    assert out[4800] < 0.01
    assert out[2400] == pytest.approx(0.5)

"""espeak-ng through ctypes: the offline default engine.

The shared library and its data come from the `espeakng-loader` wheel, so nothing needs apt. The
library is a process-global, non-thread-safe state machine: every use of it happens under one
process-wide `_LOCK` (Huey and gunicorn run renderers in threads), and each utterance gets a
freshly loaded copy so the output is deterministic (see "process-global library state" below).
Audio is synthesised synchronously into memory through the synth callback.

Rate: espeak's speed unit is a nominal "words per minute"; ours is syllables per minute.
Vietnamese espeak speaks ~1.45 syllables per nominal word, so `espeak_speed()` maps through a
table measured on real Vietnamese text (see docs/speech-engines.md, "Calibration"), so that rate
180 is really about 180 syllables a minute.
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..clip import Clip
from ..errors import EngineError
from .base import DEFAULT_RATE, MAX_RATE, MIN_RATE, Voice

# --- espeak-ng C API constants (speak_lib.h) -------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return errors instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PUNCTUATION = 5
_PARAM_CAPITALS = 6
_PARAM_WORDGAP = 7

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

# Our voice ids are the espeak-ng file names in espeak-ng-data/lang/aav/.
VOICES: tuple[Voice, ...] = (
    Voice(id="vi", name="Tiếng Việt – giọng Bắc (espeak-ng)", region="north"),
    Voice(id="vi-VN-x-central", name="Tiếng Việt – giọng Trung (espeak-ng)", region="central"),
    Voice(id="vi-VN-x-south", name="Tiếng Việt – giọng Nam (espeak-ng)", region="south"),
)
_VOICE_IDS = frozenset(v.id for v in VOICES)

# Calibration, measured on espeak-ng 1.52.0 (see docs/speech-engines.md): (espeak wpm setting,
# espeak word gap in 10 ms units, Vietnamese syllables per minute over 16 announcement sentences,
# 205 syllables, each sentence's leading/trailing silence excluded, clause pauses at commas
# included; mean of the three regional voices, which differ by under 3 %). Vietnamese espeak
# runs ~1.45 syllables per nominal "word", so its slowest setting (80 wpm) already gives ~122
# syll/min; slower rates add a gap between words (= syllables) at 80 wpm.
CALIBRATION: tuple[tuple[int, int, float], ...] = (
    (80, 12, 71.2),
    (80, 8, 82.4),
    (80, 6, 89.4),
    (80, 4, 97.7),
    (80, 2, 107.6),
    (80, 1, 113.1),
    (80, 0, 121.6),
    (90, 0, 130.0),
    (100, 0, 144.5),
    (110, 0, 158.8),
    (120, 0, 174.0),
    (130, 0, 189.3),
    (145, 0, 211.6),
    (160, 0, 233.7),
    (175, 0, 256.8),
    (190, 0, 278.6),
    (210, 0, 310.1),
    (230, 0, 340.7),
    (260, 0, 389.7),
)

# --- process-global library state ----------------------------------------------------------
#
# Determinism: espeak-ng keeps function-static state across utterances that no API call resets
# (the pitch-flutter phase `Flutter_ix` in wavegen.c's AdvanceParameters, among others), so the
# same sentence came out a few samples different on every call. The pipeline caches audio by
# input and needs identical output, so each utterance runs in a freshly loaded library: a private
# copy of libespeak-ng.so (so no other user of the wheel's file keeps it mapped) is dlopen()ed,
# initialised, used and dlclose()d, which re-creates all static state. That costs ~2 ms per
# sentence (docs/speech-engines.md has the figures).

_LOCK = threading.Lock()
_state: dict[str, Any] = {}  # "path" (private copy), "data", "version", "sample_rate"
_chunks: list[np.ndarray] = []  # filled by the callback, only while _LOCK is held


def _on_audio(wav: Any, numsamples: int, _events: Any) -> int:
    if wav and numsamples > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
    return 0  # 0 = continue


_CALLBACK_REF = _CALLBACK(_on_audio)  # module lifetime: the C side holds a bare pointer


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint),
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None


def _prepare() -> dict[str, Any]:
    """Once per process: find the wheel's library and data, make the private copy, read the
    version. Call with _LOCK held."""
    if _state:
        return _state
    try:
        import espeakng_loader

        source = espeakng_loader.get_library_path()
        data = espeakng_loader.get_data_path()
        private = Path(tempfile.mkdtemp(prefix="thongtincoso-espeak-")) / "libespeak-ng.so"
        shutil.copyfile(source, private)
    except (ImportError, OSError, RuntimeError) as exc:
        raise EngineError("engine_unavailable", engine="espeak", reason=type(exc).__name__) from exc
    atexit.register(shutil.rmtree, private.parent, ignore_errors=True)
    _state.update(path=str(private), data=data)
    lib, sample_rate = _open()
    try:
        _state["version"] = (lib.espeak_Info(None) or b"").decode("ascii", "replace")
        _state["sample_rate"] = sample_rate
    finally:
        _close(lib)
    return _state


def _open() -> tuple[ctypes.CDLL, int]:
    """A freshly loaded and initialised library. Call with _LOCK held, after _prepare()."""
    try:
        lib = ctypes.CDLL(_state["path"])
    except OSError as exc:
        raise EngineError("engine_unavailable", engine="espeak", reason="OSError") from exc
    _declare(lib)
    sample_rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, _state["data"].encode(), _INITIALIZE_DONT_EXIT
    )
    if sample_rate <= 0:
        _close(lib, terminate=False)
        raise EngineError("engine_unavailable", engine="espeak", reason="initialise failed")
    lib.espeak_SetSynthCallback(_CALLBACK_REF)
    lib.espeak_ng_SetRandSeed(1)  # noise in fricatives/breath uses espeak's own PRNG
    return lib, int(sample_rate)


def _close(lib: ctypes.CDLL, *, terminate: bool = True) -> None:
    if terminate:
        lib.espeak_Terminate()
    _ctypes.dlclose(lib._handle)  # type: ignore[attr-defined]


def espeak_version() -> str:
    """The espeak-ng library version, e.g. "1.52.0"."""
    with _LOCK:
        return str(_prepare()["version"])


def espeak_speed(rate: int) -> tuple[int, int]:
    """Our rate (syllables/min) → (espeak wpm, word gap), interpolated in CALIBRATION."""
    rate = max(MIN_RATE, min(MAX_RATE, int(rate)))
    measured = [c[2] for c in CALIBRATION]
    wpm = float(np.interp(rate, measured, [c[0] for c in CALIBRATION]))
    gap = float(np.interp(rate, measured, [c[1] for c in CALIBRATION]))
    return round(wpm), round(gap)


def trim_silence(samples: np.ndarray, sample_rate: int, *, threshold: float = 0.01) -> np.ndarray:
    """Cut leading/trailing near-silence (below `threshold` of full scale, 10 ms margin kept)."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return samples[:0]
    margin = sample_rate // 100
    start = max(0, int(loud[0]) - margin)
    end = min(len(samples), int(loud[-1]) + 1 + margin)
    return samples[start:end]


def synthesize_raw(text: str, voice: str, wpm: int, wordgap: int = 0) -> tuple[np.ndarray, int]:
    """Synthesise with espeak at a raw wpm setting: (int16 samples, sample rate). Untrimmed."""
    data = text.encode("utf-8") + b"\0"
    buf = ctypes.create_string_buffer(data, len(data))
    with _LOCK:
        _prepare()
        lib, sample_rate = _open()
        try:
            return _speak(lib, buf, len(data), voice, wpm, wordgap), sample_rate
        finally:
            _close(lib)


def _speak(
    lib: ctypes.CDLL, buf: ctypes.Array[ctypes.c_char], size: int, voice: str, wpm: int, gap: int
) -> np.ndarray:
    if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
        raise EngineError("voice_not_found", voice=voice)
    lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
    lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
    lib.espeak_SetParameter(_PARAM_PUNCTUATION, 0, 0)
    lib.espeak_SetParameter(_PARAM_CAPITALS, 0, 0)
    lib.espeak_SetParameter(_PARAM_WORDGAP, gap, 0)
    _chunks.clear()
    try:
        err = lib.espeak_Synth(buf, size, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err == _EE_OK:
            err = lib.espeak_Synchronize()
        audio = np.concatenate(_chunks) if _chunks else np.zeros(0, dtype=np.int16)
    finally:
        _chunks.clear()
    if err != _EE_OK:
        raise EngineError("engine_failed", engine="espeak", reason=f"espeak error {err}")
    return audio


class EspeakEngine:
    """espeak-ng, in-process. Cheap to construct: the library is shared by the whole process."""

    name = "espeak"

    def voices(self) -> list[Voice]:
        return list(VOICES)

    def synthesize(self, text: str, *, voice: str, rate: int = DEFAULT_RATE) -> Clip:
        if voice not in _VOICE_IDS:
            raise EngineError("voice_not_found", voice=voice)
        if not text.strip():
            raise EngineError("text_empty")
        wpm, gap = espeak_speed(rate)
        raw, sample_rate = synthesize_raw(text, voice, wpm, gap)
        samples = trim_silence(raw.astype(np.float32) / 32768.0, sample_rate)
        if samples.size == 0:
            raise EngineError("engine_failed", engine="espeak", reason="no audio")
        return Clip(np.ascontiguousarray(samples, dtype=np.float32), sample_rate)

    def fingerprint(self, voice: str) -> str:
        table = ",".join(f"{w}/{g}:{s}" for w, g, s in CALIBRATION)
        return f"espeak-ng {espeak_version()} voice={voice} cal={table}"

"""Piper (VITS neural voices, ONNX) as an optional engine.

Operators drop `<name>.onnx` + `<name>.onnx.json` pairs (Piper's own format) into a voice
directory; each valid pair is a voice whose id is `<name>`. Loaded voices (`piper.PiperVoice`, an
onnxruntime session) are cached per process, keyed by the files' path, mtime and size, so
replacing a file loads the new model; onnxruntime sessions may be run from several threads.

Determinism: VITS draws random noise inside the model (RandomNormalLike), scaled by the
`noise_scale` and `noise_w` inputs, and onnxruntime offers no per-run seed. The pipeline caches
audio by its input, so by default this engine feeds both noise scales as 0, which makes the
output a pure function of (text, voice, rate). Pass `deterministic=False` to use the voice's own
noise scales (livelier prosody, different samples on every call).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..clip import Clip
from ..errors import EngineError
from .base import DEFAULT_RATE, MAX_RATE, MIN_RATE, Voice
from .espeak import trim_silence

_LOGGER = logging.getLogger(__name__)

_REQUIRED_KEYS = ("num_symbols", "num_speakers", "audio", "espeak", "phoneme_id_map")

# (onnx path, onnx mtime_ns, onnx size, json mtime_ns, json size) → loaded object
_Key = tuple[str, int, int, int, int]
_LOAD_LOCK = threading.Lock()
_VOICE_CACHE: dict[str, tuple[_Key, Any]] = {}  # keyed by onnx path; one version per path
_HASH_CACHE: dict[str, tuple[_Key, str]] = {}


def _key(onnx: Path, config: Path) -> _Key:
    a, b = onnx.stat(), config.stat()
    return (str(onnx), a.st_mtime_ns, a.st_size, b.st_mtime_ns, b.st_size)


def _read_config(config: Path) -> dict[str, Any]:
    """The parsed .onnx.json, or ValueError/OSError saying why it is unusable."""
    with config.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError("config is not a JSON object")
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"config lacks {', '.join(missing)}")
    rate = data["audio"].get("sample_rate") if isinstance(data["audio"], dict) else None
    if not isinstance(rate, int) or rate <= 0:
        raise ValueError("config has no valid audio.sample_rate")
    return data


def _looks_like_onnx(path: Path) -> bool:
    """Cheap check without loading: an ONNX ModelProto starts with field 1 (ir_version), 0x08."""
    with path.open("rb") as f:
        return f.read(1) == b"\x08"


def _load_voice(voice: str, onnx: Path, config: Path) -> Any:
    try:
        key = _key(onnx, config)
    except OSError:
        raise EngineError("voice_not_found", voice=voice) from None
    with _LOAD_LOCK:
        cached = _VOICE_CACHE.get(str(onnx))
        if cached and cached[0] == key:
            return cached[1]
        try:
            _read_config(config)
            from piper import PiperVoice

            loaded = PiperVoice.load(onnx, config_path=config)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/…
            raise EngineError(
                "voice_invalid", voice=voice, reason=f"{type(exc).__name__}: {str(exc)[:200]}"
            ) from exc
        _VOICE_CACHE[str(onnx)] = (key, loaded)
        return loaded


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def length_scale_for(rate: int, default_length_scale: float) -> float:
    """Rate 180 ↔ the voice's own length_scale; durations scale as 1/rate."""
    rate = max(MIN_RATE, min(MAX_RATE, int(rate)))
    return default_length_scale * DEFAULT_RATE / rate


class PiperEngine:
    name = "piper"

    def __init__(self, voice_dir: str | os.PathLike[str] = "", deterministic: bool = True):
        self.voice_dir = Path(voice_dir) if voice_dir else None
        self.deterministic = deterministic

    def _paths(self, voice: str) -> tuple[Path, Path]:
        if (
            self.voice_dir is None
            or not voice
            or "/" in voice
            or "\\" in voice
            or voice.startswith(".")
        ):
            raise EngineError("voice_not_found", voice=voice)
        onnx = self.voice_dir / f"{voice}.onnx"
        config = self.voice_dir / f"{voice}.onnx.json"
        if not onnx.is_file() or not config.is_file():
            raise EngineError("voice_not_found", voice=voice)
        return onnx, config

    def voices(self) -> list[Voice]:
        if self.voice_dir is None:
            return []
        try:
            candidates = sorted(self.voice_dir.glob("*.onnx"))
        except OSError:
            return []
        found = []
        for onnx in candidates:
            config = onnx.with_name(onnx.name + ".json")
            try:
                data = _read_config(config)
                if not _looks_like_onnx(onnx):
                    raise ValueError("not an ONNX model")
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                _LOGGER.warning("Skipping Piper voice %s: %s", onnx.name, exc)
                continue
            found.append(Voice(id=onnx.stem, name=_display_name(onnx.stem, data)))
        return found

    def synthesize(self, text: str, *, voice: str, rate: int = DEFAULT_RATE) -> Clip:
        onnx, config = self._paths(voice)
        if not text.strip():
            raise EngineError("text_empty")
        loaded = _load_voice(voice, onnx, config)
        from piper import SynthesisConfig

        syn = SynthesisConfig(
            length_scale=length_scale_for(rate, loaded.config.length_scale),
            noise_scale=0.0 if self.deterministic else None,
            noise_w_scale=0.0 if self.deterministic else None,
        )
        try:
            chunks = [c.audio_float_array for c in loaded.synthesize(text, syn_config=syn)]
        except Exception as exc:  # a model with the wrong signature fails here, not on load
            raise EngineError(
                "voice_invalid", voice=voice, reason=f"{type(exc).__name__}: {str(exc)[:200]}"
            ) from exc
        sample_rate = int(loaded.config.sample_rate)
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        samples = np.nan_to_num(samples.astype(np.float32).reshape(-1))
        samples = trim_silence(np.clip(samples, -1.0, 1.0), sample_rate)
        if samples.size == 0:
            raise EngineError("engine_failed", engine="piper", reason="no audio")
        return Clip(np.ascontiguousarray(samples, dtype=np.float32), sample_rate)

    def fingerprint(self, voice: str) -> str:
        onnx, config = self._paths(voice)
        try:
            key = _key(onnx, config)
        except OSError:
            raise EngineError("voice_not_found", voice=voice) from None
        with _LOAD_LOCK:
            cached = _HASH_CACHE.get(str(onnx))
        if cached and cached[0] == key:
            digest = cached[1]
        else:
            try:
                digest = hashlib.sha256(f"{_sha256(onnx)} {_sha256(config)}".encode()).hexdigest()
            except OSError as exc:
                raise EngineError("voice_invalid", voice=voice, reason=type(exc).__name__) from exc
            with _LOAD_LOCK:
                _HASH_CACHE[str(onnx)] = (key, digest)
        noise = "off" if self.deterministic else "voice"
        return f"piper-tts {_piper_version()} sha256={digest} noise={noise}"


@functools.cache
def _piper_version() -> str:
    """piper-tts's version: its phonemizer (bundled espeak-ng) shapes the output too."""
    try:
        return importlib.metadata.version("piper-tts")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _display_name(stem: str, data: dict[str, Any]) -> str:
    language = data.get("language") if isinstance(data.get("language"), dict) else {}
    parts = [str(data.get("dataset") or stem)]
    quality = data["audio"].get("quality")
    if quality:
        parts.append(str(quality))
    native = language.get("name_native") if isinstance(language, dict) else None
    if native:
        parts.append(str(native))
    return f"{' – '.join(parts)} (Piper)"

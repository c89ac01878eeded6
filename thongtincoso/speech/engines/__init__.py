"""Speech engines: one `Engine` interface (base.py), three implementations.

- "espeak": espeak-ng in-process through ctypes (offline default, formant voice);
- "piper": Piper neural voices from operator-supplied .onnx/.onnx.json files;
- "http": a commercial TTS service spoken to over HTTP.

No Django here: errors are `EngineError(code, **params)`; every code used is in ERROR_CODES, and
`thongtincoso.speech.messages` turns them into Vietnamese. See docs/speech-engines.md.
"""

from __future__ import annotations

from typing import Any

from ..errors import EngineError
from .base import DEFAULT_RATE, MAX_RATE, MIN_RATE, Engine, Voice

ENGINE_NAMES = ("espeak", "piper", "http")

# code → English meaning (params in brackets). The Django layer owns the Vietnamese messages.
ERROR_CODES: dict[str, str] = {
    "unknown_engine": "No engine has this name [name].",
    "engine_misconfigured": "An engine setting is missing or not accepted [engine, setting].",
    "engine_unavailable": "The engine cannot start on this machine, e.g. the espeak-ng library "
    "failed to load [engine, reason].",
    "text_empty": "The sentence to speak is empty or only whitespace.",
    "voice_not_found": "The engine has no voice with this id here [voice].",
    "voice_invalid": "The voice files exist but are not a usable model [voice, reason].",
    "engine_failed": "The engine ran but produced no audio or reported an error [engine, reason].",
    "service_auth": "The TTS service refused the API key (HTTP 401/403).",
    "service_error": "The TTS service answered with an HTTP error [status].",
    "service_unreachable": "The TTS service could not be reached or did not finish within the "
    "timeout [url, without the key].",
    "service_bad_audio": "The TTS service's answer is not decodable audio (nor JSON naming it).",
}

_SETTINGS: dict[str, frozenset[str]] = {
    "espeak": frozenset(),
    "piper": frozenset({"voice_dir", "deterministic"}),
    "http": frozenset({"url", "api_key", "timeout", "key_header", "voices"}),
}


def get_engine(name: str, **config: Any) -> Engine:
    """A (cheap) engine object; heavy state is cached per process inside each module.

    espeak: no settings. piper: voice_dir, deterministic (default True). http: url, api_key,
    timeout (30 s), key_header ("Authorization"), voices (list of voice ids)."""
    if name not in _SETTINGS:
        raise EngineError("unknown_engine", name=name)
    unknown = sorted(set(config) - _SETTINGS[name])
    if unknown:
        raise EngineError("engine_misconfigured", engine=name, setting=unknown[0])
    if name == "espeak":
        from .espeak import EspeakEngine

        return EspeakEngine()
    if name == "piper":
        from .piper import PiperEngine

        return PiperEngine(**config)
    from .http import HttpEngine

    try:
        timeout = float(config.pop("timeout", 30.0))
    except (TypeError, ValueError):
        raise EngineError("engine_misconfigured", engine=name, setting="timeout") from None
    if timeout <= 0:
        raise EngineError("engine_misconfigured", engine=name, setting="timeout")
    return HttpEngine(timeout=timeout, **config)


__all__ = [
    "DEFAULT_RATE",
    "ENGINE_NAMES",
    "ERROR_CODES",
    "MAX_RATE",
    "MIN_RATE",
    "Engine",
    "EngineError",
    "Voice",
    "get_engine",
]

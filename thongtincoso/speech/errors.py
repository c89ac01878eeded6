"""Errors of the Django-free speech layers (normaliser, engines, DSP, pipeline).

They carry a stable `code` and `params` instead of a sentence, because those layers do not import
Django's translation machinery: `thongtincoso.speech.messages` turns each code into a Vietnamese
(or English) message that says what to fix. Every new code needs a message there (a test checks).
"""

from __future__ import annotations

from typing import Any


class SpeechError(Exception):
    """Something in the input (text, audio file, engine answer) cannot become audio."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code}: {params}" if params else code)
        self.code = code
        self.params = params


class AudioInputError(SpeechError):
    """An uploaded or recorded file is not usable audio (not audio, truncated, too long/short)."""


class EngineError(SpeechError):
    """A speech engine failed (missing voice file, service unreachable, bad answer)."""


class Cancelled(SpeechError):
    """The person who started the rendering cancelled it; nothing is stored."""

    def __init__(self) -> None:
        super().__init__("cancelled")

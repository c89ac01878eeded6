"""The one interface every speech engine implements.

An engine turns one already-normalised sentence into a `Clip`. It knows nothing about pauses,
jingles, loudness or storage: the pipeline does those the same way for every engine, so changing a
unit's engine changes only the voice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..clip import Clip

# Loudspeaker announcers read at about 180 syllables a minute (slower than conversation, so words
# carry over outdoor echo). Every engine maps this one unit onto its own speed parameter.
DEFAULT_RATE = 180
MIN_RATE = 100
MAX_RATE = 300


@dataclass(frozen=True)
class Voice:
    id: str  # stable, stored in settings ("vi", "vi-VN-x-central", a Piper file stem …)
    name: str  # shown to people
    region: str = ""  # "north" | "central" | "south" | "" when unknown


@runtime_checkable
class Engine(Protocol):
    name: str  # "espeak" | "piper" | "http"

    def voices(self) -> list[Voice]:
        """The voices this engine can speak with here and now (may be empty)."""
        ...

    def synthesize(self, text: str, *, voice: str, rate: int = DEFAULT_RATE) -> Clip:
        """Speak one normalised sentence. Raises EngineError (never returns an empty clip for
        non-empty text). `rate` is in syllables per minute."""
        ...

    def fingerprint(self, voice: str) -> str:
        """What, besides text/voice/rate, changes this engine's output (engine version, voice file
        hash, endpoint): part of the cache key, so a new voice file renders again."""
        ...

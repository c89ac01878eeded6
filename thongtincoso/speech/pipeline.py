"""Reading text -> one finished programme: normalise, synthesise, join, jingles, loudness, encode.

No Django here: the Django layer (`services.py`, `tasks.py`) decides what to render and stores the
result; this module only turns inputs into bytes, reporting progress and honouring cancellation
through the callback it is given. Everything that changes the output is part of `render_key`, so
the same input is rendered once and then found again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from . import dsp
from .clip import Clip
from .engines.base import Engine
from .errors import SpeechError
from .normalizer import ReadingOptions, count_syllables, normalize, split_sentences

# Bump when a change to the pipeline changes its output: every cached rendering is then redone.
PIPELINE_VERSION = "1"

# A bulletin longer than this is refused rather than rendered in chunks: at 180 syllables a minute
# 20,000 characters are about 35 minutes of speech, longer than any TT 39 broadcast session.
MAX_TEXT_CHARS = 20_000

# Pauses an announcer makes: after a sentence, between paragraphs, around jingles.
SENTENCE_PAUSE = 0.45
PARAGRAPH_PAUSE = 0.9
JINGLE_GAP = 0.6
LEAD_IN = 0.3  # silence before the first sound, so a device's amplifier is awake

_PARAGRAPHS = re.compile(r"\n\s*\n|\r\n\s*\r\n")

# progress(stage, done, total); raises (e.g. Cancelled) to stop the rendering.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Script:
    """What will be read: normalised sentences, grouped in paragraphs."""

    paragraphs: tuple[tuple[str, ...], ...]

    @property
    def sentences(self) -> list[str]:
        return [s for p in self.paragraphs for s in p]

    @property
    def text(self) -> str:
        return "\n\n".join(" ".join(p) for p in self.paragraphs)

    @property
    def syllables(self) -> int:
        return sum(count_syllables(s) for s in self.sentences)


@dataclass(frozen=True)
class Rendered:
    mp3: bytes
    opus: bytes
    loudness: dsp.Loudness  # measured on the clip that was encoded
    sample_rate: int


def prepare_script(text: str, reading: ReadingOptions) -> Script:
    """Normalise and split; refuse what cannot or should not be read aloud."""
    if len(text) > MAX_TEXT_CHARS:
        raise SpeechError("text_too_long", chars=len(text), limit=MAX_TEXT_CHARS)
    if not text.strip():
        raise SpeechError("text_empty")
    paragraphs = []
    for block in _PARAGRAPHS.split(text):
        sentences = tuple(split_sentences(normalize(block, reading)))
        if sentences:
            paragraphs.append(sentences)
    script = Script(tuple(paragraphs))
    if not script.syllables:
        # Only symbols, emoji or a script the Vietnamese voices cannot read.
        raise SpeechError("text_unreadable")
    return script


def render_key(
    script: Script,
    *,
    engine: str,
    engine_fingerprint: str,
    voice: str,
    rate: int,
    target_lufs: float,
    intro_sha256: str = "",
    outro_sha256: str = "",
) -> str:
    """SHA-256 of everything that determines the audio. Equal keys mean equal output."""
    material = {
        "pipeline": PIPELINE_VERSION,
        "text": script.text,
        "engine": engine,
        "engine_fingerprint": engine_fingerprint,
        "voice": voice,
        "rate": rate,
        "target_lufs": round(target_lufs, 2),
        "intro": intro_sha256,
        "outro": outro_sha256,
    }
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def synthesise(
    script: Script,
    engine: Engine,
    *,
    voice: str,
    rate: int,
    progress: Progress | None = None,
) -> Clip:
    """Every sentence through the engine, joined with a sentence's or a paragraph's pause."""
    total = len(script.sentences)
    parts: list[Clip] = []
    gaps: list[float] = []
    done = 0
    for p_index, paragraph in enumerate(script.paragraphs):
        for s_index, sentence in enumerate(paragraph):
            if progress:
                progress("synthesising", done, total)
            clip = dsp.resample(
                dsp.trim_silence(engine.synthesize(sentence, voice=voice, rate=rate))
            )
            if parts:
                gaps.append(PARAGRAPH_PAUSE if s_index == 0 and p_index > 0 else SENTENCE_PAUSE)
            parts.append(clip)
            done += 1
    if progress:
        progress("synthesising", done, total)
    return dsp.concat(parts, gap_seconds=gaps)


def finish(
    speech: Clip,
    *,
    target_lufs: float,
    intro: Clip | None = None,
    outro: Clip | None = None,
    progress: Progress | None = None,
) -> Rendered:
    """Jingles around the speech, then one loudness for the whole, then both encodings."""
    parts: list[Clip] = [Clip.silence(LEAD_IN)]
    gaps: list[float] = []
    for clip in (intro, speech, outro):
        if clip is None:
            continue
        gaps.append(0.0 if len(parts) == 1 else JINGLE_GAP)
        parts.append(dsp.resample(clip))
    programme = dsp.concat(parts, gap_seconds=gaps)
    if progress:
        progress("loudness", 0, 3)
    programme = dsp.normalize_loudness(programme, target_lufs=target_lufs)
    if progress:
        progress("encoding", 1, 3)
    mp3 = dsp.encode_mp3(programme)
    if progress:
        progress("encoding", 2, 3)
    opus = dsp.encode_opus(programme)
    # Measured on what devices will actually play, not on the clip before the codec.
    loudness = dsp.measure(dsp.decode(mp3, min_seconds=0))
    if progress:
        progress("encoding", 3, 3)
    return Rendered(mp3=mp3, opus=opus, loudness=loudness, sample_rate=programme.sample_rate)


def render(
    script: Script,
    engine: Engine,
    *,
    voice: str,
    rate: int,
    target_lufs: float,
    intro: Clip | None = None,
    outro: Clip | None = None,
    progress: Progress | None = None,
) -> Rendered:
    speech = synthesise(script, engine, voice=voice, rate=rate, progress=progress)
    return finish(speech, target_lufs=target_lufs, intro=intro, outro=outro, progress=progress)


def prepare_upload(
    data: bytes, *, target_lufs: float, progress: Progress | None = None
) -> tuple[Rendered, float]:
    """An uploaded or recorded file through the same decode -> loudness -> encode path.

    Returns the result and the input's own loudness (for the record: how much it was changed).
    """
    if progress:
        progress("decoding", 0, 1)
    clip = dsp.decode(data)
    before = dsp.measure(clip).integrated_lufs
    return finish(clip, target_lufs=target_lufs, progress=progress), before

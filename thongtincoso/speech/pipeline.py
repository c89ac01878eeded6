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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from . import dsp
from .clip import Clip
from .engines.base import Engine
from .errors import SpeechError
from .normalizer import ReadingOptions, count_syllables, normalize, split_sentences

# Bump when a change to the pipeline changes its output: every cached rendering is then redone.
PIPELINE_VERSION = "2"  # 2: MP3 at 24 kHz without the bit reservoir

# A bulletin longer than this is refused rather than rendered in chunks: at 180 syllables a minute
# 20,000 characters are about 35 minutes of speech, longer than any TT 39 broadcast session.
MAX_TEXT_CHARS = 20_000

# Pauses an announcer makes: after a sentence, between paragraphs, around jingles.
SENTENCE_PAUSE = 0.45
PARAGRAPH_PAUSE = 0.9
JINGLE_GAP = 0.6
LEAD_IN = 0.3  # silence before the first sound, so a device's amplifier is awake

MAX_TRUE_PEAK = -1.5  # dBTP, measured on the decoded MP3
MAX_LIMIT_ATTEMPTS = 3

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
    sample_rate: int  # of the MP3, the file devices play


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
    """Every sentence through the engine, joined with a sentence's or a paragraph's pause.

    While the engine speaks sentence n, a second thread trims and resamples sentence n-1: the
    engines run in C (ctypes, onnxruntime, a socket) without the GIL, so the two overlap.
    """
    total = len(script.sentences)
    pending: list[Future[Clip]] = []
    gaps: list[float] = []
    done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="resample") as pool:
        for p_index, paragraph in enumerate(script.paragraphs):
            for s_index, sentence in enumerate(paragraph):
                if progress:
                    progress("synthesising", done, total)
                raw = engine.synthesize(sentence, voice=voice, rate=rate)
                if pending:
                    gaps.append(PARAGRAPH_PAUSE if s_index == 0 and p_index > 0 else SENTENCE_PAUSE)
                pending.append(pool.submit(_prepare_sentence, raw))
                done += 1
        parts = [future.result() for future in pending]
    if progress:
        progress("synthesising", done, total)
    return dsp.concat(parts, gap_seconds=gaps)


def _prepare_sentence(clip: Clip) -> Clip:
    return dsp.resample(dsp.trim_silence(clip))


def finish(
    speech: Clip,
    *,
    target_lufs: float,
    intro: Clip | None = None,
    outro: Clip | None = None,
    progress: Progress | None = None,
) -> Rendered:
    """Jingles around the speech, then one loudness for the whole, then both encodings.

    The MP3 is what devices play, so it is decoded and measured: if the codec pushed its true peak
    above the limit after all (rare: the limiter keeps a margin for codec overshoot), the
    programme is limited again with a margin widened by the excess.
    """
    parts: list[Clip] = [Clip.silence(LEAD_IN)]
    gaps: list[float] = []
    for clip in (intro, speech, outro):
        if clip is None:
            continue
        gaps.append(0.0 if len(parts) == 1 else JINGLE_GAP)
        parts.append(dsp.resample(clip))
    programme = dsp.concat(parts, gap_seconds=gaps)
    margin = dsp.CODEC_MARGIN_DB
    for _attempt in range(MAX_LIMIT_ATTEMPTS):
        if progress:
            progress("loudness", 0, 3)
        normalised = dsp.normalize_loudness(
            programme, target_lufs=target_lufs, max_true_peak=MAX_TRUE_PEAK, margin_db=margin
        )
        if progress:
            progress("encoding", 1, 3)
        mp3, opus, loudness = _encode_and_measure(normalised)
        if loudness.true_peak_dbtp <= MAX_TRUE_PEAK:
            break
        margin += loudness.true_peak_dbtp - MAX_TRUE_PEAK + 0.2
    if progress:
        progress("encoding", 3, 3)
    return Rendered(mp3=mp3, opus=opus, loudness=loudness, sample_rate=dsp.MP3_RATE)


def _encode_and_measure(clip: Clip) -> tuple[bytes, bytes, dsp.Loudness]:
    """MP3 (then its measurement) in one thread while Opus encodes in another: PyAV releases the
    GIL while encoding and decoding, so the two take the time of the longer."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="opus") as pool:
        opus = pool.submit(dsp.encode_opus, clip)
        mp3 = dsp.encode_mp3(clip)
        loudness = dsp.measure_encoded(mp3)
        return mp3, opus.result(), loudness


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
) -> Rendered:
    """An uploaded or recorded file through the same decode -> loudness -> encode path."""
    if progress:
        progress("decoding", 0, 1)
    return finish(dsp.decode(data), target_lufs=target_lufs, progress=progress)

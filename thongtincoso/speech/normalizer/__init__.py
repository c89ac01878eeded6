"""Vietnamese text normaliser: written bulletin text -> what a careful radio announcer says.

Pure Python (standard library only) so that engines, workers and tools can use it without Django.
The rules and the decisions behind them are described in docs/speech-normaliser.md.
"""

from __future__ import annotations

from .abbreviations import BUILTIN_ABBREVIATIONS
from .cleanup import clean_characters, tidy
from .options import ReadingOptions
from .rules import PASSES, Reader
from .sentences import count_syllables, split_sentences

__all__ = [
    "BUILTIN_ABBREVIATIONS",
    "ReadingOptions",
    "count_syllables",
    "normalize",
    "split_sentences",
]

_DEFAULT_OPTIONS = ReadingOptions()


def _normalize_line(line: str, reader: Reader) -> str:
    line = " ".join(line.split())  # rules expect single spaces
    for rewrite in PASSES:
        line = rewrite(line, reader)
    return tidy(line)


def normalize(text: str, options: ReadingOptions | None = None) -> str:
    """Spoken form of `text`: words and . , ; : ? ! only; lines kept, empty lines dropped."""
    reader = Reader(options or _DEFAULT_OPTIONS)
    lines = (_normalize_line(line, reader) for line in clean_characters(text).split("\n"))
    return "\n".join(line for line in lines if line)

"""Cutting spoken text into chunks a speech engine can take."""

from __future__ import annotations

import re

_SENTENCE_RE = re.compile(r"[^.!?;\n]*(?:[.!?;]+|\n|$)")
_COMMA_PART_RE = re.compile(r"[^,]*(?:,|$)")
_WORD_RE = re.compile(r"\S+")


def count_syllables(spoken: str) -> int:
    """Vietnamese writes one syllable per word: count the space-separated words with letters."""
    return sum(1 for word in _WORD_RE.findall(spoken) if any(c.isalpha() for c in word))


def _pack(parts: list[str], max_syllables: int) -> list[str]:
    """Join consecutive parts while they fit; a part alone that does not fit is cut at spaces."""
    chunks: list[str] = []
    current: list[str] = []
    for part in parts:
        if count_syllables(part) > max_syllables:
            if current:
                chunks.append(" ".join(current))
                current = []
            words = part.split()
            for start in range(0, len(words), max_syllables):
                chunks.append(" ".join(words[start : start + max_syllables]))
            continue
        if current and count_syllables(" ".join([*current, part])) > max_syllables:
            chunks.append(" ".join(current))
            current = []
        current.append(part)
    if current:
        chunks.append(" ".join(current))
    return chunks


def split_sentences(spoken: str, max_syllables: int = 60) -> list[str]:
    """Sentences at . ! ? ; and line ends; long ones cut at commas, then at spaces."""
    max_syllables = max(1, max_syllables)
    chunks: list[str] = []
    for match in _SENTENCE_RE.finditer(spoken):
        sentence = match.group().strip()
        if not sentence:
            continue
        if count_syllables(sentence) <= max_syllables:
            chunks.append(sentence)
            continue
        parts = [p.strip() for p in _COMMA_PART_RE.findall(sentence) if p.strip()]
        chunks.extend(_pack(parts, max_syllables))
    return [c for c in (chunk.strip() for chunk in chunks) if c]

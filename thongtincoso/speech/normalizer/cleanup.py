"""Character filtering before the rules, punctuation tidying after them."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Symbols the rules understand or turn into pauses; every other non-Latin character goes.
_KEPT_SYMBOLS = frozenset("–—−‘’“”«»…°º²³•·′")
_SPACES = frozenset("\t\v\f\u00a0\u2007\u202f\u3000")


@lru_cache(maxsize=4096)
def _keep(char: str) -> str:
    """What `char` becomes: itself, a space, or nothing (emoji, CJK, Cyrillic, controls...)."""
    if char == "\n" or (" " <= char <= "~"):
        return char
    if char in _SPACES or unicodedata.category(char) == "Zs":
        return " "
    if char in _KEPT_SYMBOLS:
        return char
    if unicodedata.category(char).startswith("L") and "LATIN" in unicodedata.name(char, ""):
        return char
    if unicodedata.category(char) == "Mn":
        return char  # a combining tone mark that NFC could not compose; harmless
    return ""


# "m²" is "m2" to the unit rules; a superscript anywhere else is not read.
_UNIT_POWER_RE = re.compile(r"(?<=[A-Za-z])[²³]")
_OTHER_POWER_RE = re.compile(r"[²³]")


def clean_characters(text: str) -> str:
    text = unicodedata.normalize("NFC", text)  # text from Word often arrives decomposed (NFD)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(_keep(c) for c in text)
    text = _UNIT_POWER_RE.sub(lambda m: "2" if m.group() == "²" else "3", text)
    return _OTHER_POWER_RE.sub("", text)


# --- Punctuation after the rules ---------------------------------------------------------------

_ELLIPSIS_RE = re.compile(r"(?:\.{3,}|…)(?P<end>\s*$)?")
_BRACKET_RE = re.compile(r"[()\[\]{}]")
_QUOTE_RE = re.compile(r"[\"'‘’“”«»`′]")
_CLAUSE_DASH_RE = re.compile(r"(?:^|\s)[-–—]+(?=\s|$)|[–—]")
_WORD_HYPHEN_RE = re.compile(r"(?<=\w)-(?=\w)")
_SYMBOL_WORDS = {"&": " và ", "@": " a còng ", "%": " phần trăm "}
_SYMBOL_RE = re.compile(r"[&@%]")
_NOT_SPOKEN_RE = re.compile(r"[^\w\s.,;:?!]|[\d_]")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+(?=[.,;:?!])")
_PUNCT_RUN_RE = re.compile(r"[.,;:?!](?:\s*[.,;:?!])+")
_NO_SPACE_AFTER_RE = re.compile(r"([.,;:?!])(?=[^\W\d_])")
_LEADING_PUNCT_RE = re.compile(r"^[\s.,;:?!]+")
_TRAILING_COMMA_RE = re.compile(r"(?<![\s,;])[\s,;]+$")  # look-behind: linear time
_SPACES_RE = re.compile(r"\s{2,}")


def _strongest(match: re.Match[str]) -> str:
    """', .' or ': ,' (left by removed brackets, dashes) -> the longest pause among them."""
    marks = match.group()
    for mark in ("?", "!", ".", ";", ":"):
        if mark in marks:
            return mark
    return ","


def tidy(line: str) -> str:
    """Only words and . , ; : ? ! remain, single spaces, no space before punctuation."""
    # "..." is a pause mid-sentence and a full stop at the end of a line.
    line = _ELLIPSIS_RE.sub(lambda m: "." if m["end"] is not None else ", ", line)
    line = _BRACKET_RE.sub(", ", line)
    line = _QUOTE_RE.sub(" ", line)
    line = _CLAUSE_DASH_RE.sub(", ", line)
    line = _WORD_HYPHEN_RE.sub(" ", line)
    line = _SYMBOL_RE.sub(lambda m: _SYMBOL_WORDS[m.group()], line)
    line = _NOT_SPOKEN_RE.sub(" ", line)
    line = _SPACES_RE.sub(" ", line)  # before the rules below, which scan runs of spaces
    line = _SPACE_BEFORE_PUNCT_RE.sub("", line)
    line = _PUNCT_RUN_RE.sub(_strongest, line)
    line = _NO_SPACE_AFTER_RE.sub(r"\1 ", line)
    line = _LEADING_PUNCT_RE.sub("", line)
    line = _TRAILING_COMMA_RE.sub("", line)
    return _SPACES_RE.sub(" ", line).strip()

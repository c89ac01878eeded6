"""Letter names for spelling acronyms and codes, and a test for 'is this a Vietnamese syllable'."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .numbers import ASCII_DIGITS, read_digits

# One consistent set, the names used in Vietnamese schools and on the radio.
LETTER_NAMES = {
    "a": "a",
    "ă": "á",
    "â": "ớ",
    "b": "bê",
    "c": "xê",
    "d": "dê",
    "đ": "đê",
    "e": "e",
    "ê": "ê",
    "f": "ép",
    "g": "gờ",
    "h": "hát",
    "i": "i",
    "j": "gi",
    "k": "ca",
    "l": "e lờ",
    "m": "em mờ",
    "n": "en nờ",
    "o": "o",
    "ô": "ô",
    "ơ": "ơ",
    "p": "pê",
    "q": "quy",
    "r": "e rờ",
    "s": "ét xì",
    "t": "tê",
    "u": "u",
    "ư": "ư",
    "v": "vê",
    "w": "vê kép",
    "x": "ích xì",
    "y": "i dài",
    "z": "dét",
}

# Onset + vowel cluster + coda, on text without tone marks. Clusters that end in a glide
# (ai, ao, eo, ...) cannot take a final consonant, which keeps 'haiphong' = hai|phong.
_ONSET = r"(?:ngh|ng|gh|gi|kh|nh|ph|qu|th|tr|ch|[bcdghklmnprstvx])?"
_CLOSED_NUCLEUS = r"(?:uye|ie|ye|uo|oa|oe|ue|uy|ua|a|e|i|o|u|y)"
_OPEN_NUCLEUS = (
    r"(?:uoi|uou|ieu|yeu|oai|oay|uay|uya|uyu|ai|ao|au|ay|eo|eu|ia|iu|oa|oe|oi|"
    r"ua|ue|ui|uu|uy|a|e|i|o|u|y)"
)
_CODA = r"(?:ng|nh|ch|[cmnpt])"
SYLLABLE_RE = re.compile(rf"{_ONSET}(?:{_CLOSED_NUCLEUS}{_CODA}|{_OPEN_NUCLEUS})")


def strip_marks(text: str) -> str:
    """'Khẩn' -> 'Khan', 'Đ' -> 'D': for comparing with the syllable pattern."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def base_letter(char: str) -> str:
    """'ấ' -> 'â' (keep the vowel's hat, drop the tone), for letter names."""
    decomposed = unicodedata.normalize("NFD", char.lower())
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in tones))


def is_syllable(word: str) -> bool:
    return SYLLABLE_RE.fullmatch(strip_marks(word).lower()) is not None


def spell(token: str) -> str:
    """'HTX' -> 'hát tê ích xì'; digits inside are read one by one."""
    words = []
    for char in token:
        if char in ASCII_DIGITS:
            words.append(read_digits(char))
        elif char.isalpha():
            words.append(LETTER_NAMES.get(base_letter(char), base_letter(char)))
    return " ".join(words)


@lru_cache(maxsize=4096)
def segment_syllables(word: str) -> tuple[str, ...] | None:
    """'dichvucong' -> ('dich', 'vu', 'cong'): the fewest syllables; None if impossible."""
    lowered = word.lower()
    size = len(lowered)
    best: list[tuple[int, int] | None] = [None] * (size + 1)  # (syllables, previous cut)
    best[0] = (0, 0)
    for end in range(1, size + 1):
        for start in range(max(0, end - 7), end):
            previous = best[start]
            if previous is None or not SYLLABLE_RE.fullmatch(lowered, start, end):
                continue
            candidate = (previous[0] + 1, start)
            current = best[end]
            if current is None or candidate[0] < current[0]:
                best[end] = candidate
    if best[size] is None:
        return None
    pieces = []
    end = size
    while end:
        cut = best[end]
        assert cut is not None
        pieces.append(word[cut[1] : end])
        end = cut[1]
    return tuple(reversed(pieces))

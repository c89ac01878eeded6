"""The normaliser against the hand-written regression corpus, plus properties of its parts."""

from __future__ import annotations

import csv
import random
import re
import time
from pathlib import Path

import pytest

from thongtincoso.speech.normalizer import (
    BUILTIN_ABBREVIATIONS,
    ReadingOptions,
    count_syllables,
    normalize,
    split_sentences,
)
from thongtincoso.speech.normalizer.numbers import read_cardinal

CORPUS_DIR = Path(__file__).parent / "corpus"
ALLOWED_OUTPUT_RE = re.compile(r"^[^\W\d_]+(?:[.,;:?!]?(?:\s|$)[^\W\d_]*)*$")


def parse_options(text: str) -> ReadingOptions:
    """'thousand=ngàn;odd=lẻ;abbr.HTX=hợp tác xã' -> ReadingOptions."""
    settings: dict[str, str] = {}
    abbreviations: dict[str, str] = {}
    for item in filter(None, text.split(";")):
        name, value = item.split("=", 1)
        if name.startswith("abbr."):
            abbreviations[name.removeprefix("abbr.")] = value
        else:
            settings[name] = value
    return ReadingOptions(**settings, abbreviations=abbreviations)


def corpus_rows() -> list[tuple[str, str, str, str, str]]:
    """(id, rule, input, expected, options) for every row of every corpus file."""
    rows = []
    for path in sorted(CORPUS_DIR.glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader)
            assert header == ["rule", "input", "expected", "options"], path
            for line_number, row in enumerate(reader, start=2):
                rule, text, expected, options = row
                rows.append((f"{rule}-{path.stem}:{line_number}", rule, text, expected, options))
    return rows


CORPUS = corpus_rows()


def test_corpus_is_large_and_covers_every_rule() -> None:
    assert len(CORPUS) >= 320
    counts: dict[str, int] = {}
    for _, rule, *_ in CORPUS:
        counts[rule] = counts.get(rule, 0) + 1
    small = {rule: n for rule, n in counts.items() if n < 4}
    assert not small, small


@pytest.mark.parametrize(
    ("rule", "text", "expected", "options"),
    [pytest.param(*row[1:], id=row[0]) for row in CORPUS],
)
def test_corpus(rule: str, text: str, expected: str, options: str) -> None:
    assert normalize(text, parse_options(options)) == expected


@pytest.mark.parametrize(
    ("number", "spoken"),
    [
        (0, "không"),
        (5, "năm"),
        (10, "mười"),
        (11, "mười một"),
        (15, "mười lăm"),
        (21, "hai mươi mốt"),
        (24, "hai mươi tư"),
        (25, "hai mươi lăm"),
        (100, "một trăm"),
        (105, "một trăm linh năm"),
        (110, "một trăm mười"),
        (1000, "một nghìn"),
        (1005, "một nghìn không trăm linh năm"),
        (1_250_000, "một triệu hai trăm năm mươi nghìn"),
        (1_000_000_000, "một tỷ"),
        (2_000_000_015, "hai tỷ không trăm mười lăm"),
        (10**12, "một nghìn tỷ"),
    ],
)
def test_read_cardinal(number: int, spoken: str) -> None:
    assert read_cardinal(number) == spoken


def test_read_cardinal_southern_words() -> None:
    assert read_cardinal(2005, thousand="ngàn", odd="lẻ") == "hai ngàn không trăm lẻ năm"


def _sampled_numbers() -> list[int]:
    generator = random.Random(20240420)
    samples = list(range(0, 2100))
    for digits in range(4, 13):
        samples += [generator.randrange(10 ** (digits - 1), 10**digits) for _ in range(300)]
    return [*samples, 10**12]


def test_every_number_is_read_as_words_only() -> None:
    """0 .. 10^12, sampled: words only, no doubled spaces, never a digit."""
    for number in _sampled_numbers():
        spoken = read_cardinal(number)
        assert re.fullmatch(r"[^\W\d_]+(?: [^\W\d_]+)*", spoken), (number, spoken)


def test_written_numbers_leave_no_digits() -> None:
    for number in _sampled_numbers()[::7]:
        grouped = f"{number:,}".replace(",", ".")
        for text in (f"Có {number} hộ.", f"Có {grouped} hộ.", f"{number}%", f"{grouped}đ/kg"):
            spoken = normalize(text)
            assert not re.search(r"\d", spoken), (text, spoken)


def test_no_digits_or_symbols_in_any_corpus_output() -> None:
    for _, _, text, _, options in CORPUS:
        spoken = normalize(text, parse_options(options))
        assert not re.search(r"[\d\-/()\"'%&@]", spoken), (text, spoken)
        assert "  " not in spoken
        assert spoken == spoken.strip()
        assert not re.search(r"\s[.,;:?!]", spoken), spoken


def test_lines_are_kept_and_empty_lines_dropped() -> None:
    assert normalize("Dòng 1\n\nDòng 2\r\nDòng 3") == "Dòng một\nDòng hai\nDòng ba"


def test_empty_and_symbol_only_text() -> None:
    assert normalize("") == ""
    assert normalize(" \t \n ") == ""
    assert normalize("🌧️⚡ *** ---") == ""


def test_unreadable_characters_are_removed() -> None:
    text = "Bà\u200b con\u200d ơi\ufeff \ufffd\u0000 ✅ Привет 中文 chú ý"
    assert normalize(text) == "Bà con ơi chú ý"


def test_nfd_input_equals_nfc_input() -> None:
    import unicodedata

    text = "Thông báo khẩn: lũ quét ở huyện Hướng Hóa ngày 20/4."
    assert normalize(unicodedata.normalize("NFD", text)) == normalize(text)


def test_long_input_is_fast() -> None:
    paragraph = (
        "Ngày 20/4/2024, UBND xã thông báo: giá lúa 8.200 đồng/kg, tăng 2,5%; "
        "liên hệ 0912 345 678 hoặc tiepdan@hue.gov.vn (từ 7h30-11h). "
    )
    text = paragraph * (50_000 // len(paragraph) + 1)
    assert len(text) >= 50_000
    started = time.perf_counter()
    spoken = normalize(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed
    assert not re.search(r"\d", spoken)


@pytest.mark.parametrize(
    "text",
    ["-" * 50_000, "a-" * 25_000, "1m-" * 16_000, "1 " * 25_000, ", " * 25_000, "1/" * 25_000],
    ids=["dashes", "hyphenated", "unit-ranges", "spaced-digits", "commas", "slashes"],
)
def test_pathological_input_stays_linear(text: str) -> None:
    """Long runs of one character must not make a regex rescan the run from every position."""
    started = time.perf_counter()
    spoken = normalize(text)
    assert time.perf_counter() - started < 1.0
    assert not re.search(r"\d", spoken)


def test_unit_abbreviation_overrides_builtin() -> None:
    assert normalize("UBND xã") == "ủy ban nhân dân xã"
    options = ReadingOptions(abbreviations={"UBND": "Ủy ban"})
    assert normalize("UBND xã", options) == "Ủy ban xã"


def test_unit_abbreviation_is_a_whole_token() -> None:
    options = ReadingOptions(abbreviations={"HT": "hệ thống"})
    assert normalize("HT loa và HTX", options) == "hệ thống loa và hợp tác xã"


def test_builtin_table_is_large_and_read_only() -> None:
    assert len(BUILTIN_ABBREVIATIONS) >= 80
    assert BUILTIN_ABBREVIATIONS["UBND"] == "ủy ban nhân dân"
    with pytest.raises(TypeError):
        BUILTIN_ABBREVIATIONS["X"] = "y"  # type: ignore[index]


def test_options_key_is_stable_and_options_hashable() -> None:
    first = ReadingOptions(abbreviations={"B": "bê", "A": "a"})
    second = ReadingOptions(abbreviations={"A": "a", "B": "bê"})
    assert first.key() == second.key()
    assert hash(first) == hash(second)
    assert first == second
    assert ReadingOptions().key() != ReadingOptions(thousand="ngàn").key()
    assert ReadingOptions(odd="lẻ").key() == ReadingOptions(odd="lẻ").key()
    assert {first: 1}[second] == 1


def test_options_are_validated_and_frozen() -> None:
    with pytest.raises(ValueError, match="thousand"):
        ReadingOptions(thousand="ngàns")
    with pytest.raises(ValueError, match="odd"):
        ReadingOptions(odd="le")
    source = {"A": "a"}
    options = ReadingOptions(abbreviations=source)
    source["A"] = "changed"
    assert options.abbreviations["A"] == "a"


def test_count_syllables() -> None:
    assert count_syllables("") == 0
    assert count_syllables("Ủy ban nhân dân xã, thông báo.") == 7
    assert count_syllables("  một   hai\nba ! ") == 3


def test_split_sentences_at_stops_and_newlines() -> None:
    spoken = "Thông báo khẩn. Mưa lớn! Có lũ không? Bà con chú ý; di dời ngay\nCảm ơn"
    assert split_sentences(spoken) == [
        "Thông báo khẩn.",
        "Mưa lớn!",
        "Có lũ không?",
        "Bà con chú ý;",
        "di dời ngay",
        "Cảm ơn",
    ]


def test_split_sentences_never_returns_empty_strings() -> None:
    assert split_sentences("") == []
    assert split_sentences(" . ; \n\n !") == [".", ";", "!"]
    assert all(split_sentences("a.. b;; c!?"))


def test_long_sentence_is_split_at_commas_then_spaces() -> None:
    clause = "bà con chú ý giữ gìn vệ sinh môi trường"  # 9 syllables
    sentence = ", ".join([clause] * 10) + "."
    chunks = split_sentences(sentence, max_syllables=20)
    assert all(count_syllables(c) <= 20 for c in chunks)
    assert " ".join(chunks) == sentence
    assert chunks[0] == f"{clause}, {clause},"

    words = " ".join(["một"] * 130)
    chunks = split_sentences(words, max_syllables=60)
    assert [count_syllables(c) for c in chunks] == [60, 60, 10]


def test_split_normalized_bulletin_fits_engine() -> None:
    text = "Ngày 20/4/2024, " + ", ".join(f"thôn {n} có {n * 37} hộ" for n in range(1, 40)) + "."
    chunks = split_sentences(normalize(text))
    assert all(0 < count_syllables(c) <= 60 for c in chunks)

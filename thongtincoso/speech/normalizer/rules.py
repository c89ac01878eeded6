"""The rewriting passes, applied in order to one line of text.

Each pass turns one kind of written form (a date, a phone number, an abbreviation ...) into
spoken words. Passes output lowercase words without digits, so a later pass never re-reads
what an earlier one produced; the order below is therefore the order of precedence
(a document number is not a date, a phone number is not a thousands-separated number, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from .abbreviations import (
    BUILTIN_ABBREVIATIONS,
    CODE_PREFIXES,
    CONDITIONAL_ABBREVIATIONS,
    DOCUMENT_TYPES,
    ISSUERS,
    PER_UNITS,
    UNITS,
    URL_LABELS,
)
from .letters import is_syllable, segment_syllables, spell
from .numbers import (
    read_digits,
    read_integer_string,
    read_month,
    read_number,
    read_ordinal,
    roman_value,
)
from .options import ReadingOptions

Match = re.Match[str]

# A number as written in Vietnamese: "1.250.000", "1.250.000,5", "92,5", "1.5", "2024".
NUM = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?"
# Not in the middle of another number or word.
NUM_START = r"(?<![\w.,])"
NUM_END = r"(?![\w]|[.,]\d)"


def _alternation(words: Iterable[str]) -> str:
    """Longest first, because the regex engine takes the first alternative that matches."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@dataclass(frozen=True)
class Reader:
    """Number reading with the unit's regional words."""

    options: ReadingOptions

    def number(self, written: str) -> str:
        return read_number(written, self.options.thousand, self.options.odd)

    def integer(self, digits: str) -> str:
        return read_integer_string(digits, self.options.thousand, self.options.odd)

    def ordinal(self, n: int) -> str:
        return read_ordinal(n, self.options.thousand, self.options.odd)


def _before(match: Match, chars: int = 40) -> str:
    return match.string[max(0, match.start() - chars) : match.start()]


def _after(match: Match, chars: int = 40) -> str:
    return match.string[match.end() : match.end() + chars]


def _pad(words: str) -> str:
    """Spaces around an expansion; the final clean-up collapses them."""
    return f" {words} "


# --- Web addresses and e-mail ---------------------------------------------------------------

_TLD = r"(?:vn|com|net|org|gov|edu|info)"
# The look-behinds start a match only at the beginning of a run of address characters; without
# them a long run ("-----...") would be rescanned from every position (quadratic time).
EMAIL_RE = re.compile(r"(?<![\w.@-])[A-Za-z0-9._-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?![\w-])")
URL_RE = re.compile(
    rf"""(?<![\w.@/-])
    (?:https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*      # explicit scheme: any host
      |(?:www\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.{_TLD}(?![\w-]))  # or a known ending
    (?:/[\w\-./?=&%#~]*[\w\-/=&%#~])?                  # path, not ending on a full stop
    """,
    re.VERBOSE,
)
_URL_PIECE_RE = re.compile(r"[^\W\d_]+|\d+|[./@]")
_URL_SYMBOLS = {".": "chấm", "/": "gạch chéo", "@": "a còng"}


def _read_label(label: str) -> str:
    lowered = label.lower()
    if lowered in URL_LABELS:
        return URL_LABELS[lowered]
    if not lowered.isascii():
        return lowered  # a path with diacritics ("tin-tức") is already Vietnamese words
    syllables = segment_syllables(lowered)
    return " ".join(syllables) if syllables else spell(lowered)


def read_address(address: str) -> str:
    """'https://hue.gov.vn/tin-tuc' -> 'hue chấm gờ o vê chấm vê en gạch chéo tin tuc'."""
    address = re.sub(r"^https?://", "", address)
    words = []
    for piece in _URL_PIECE_RE.findall(address):
        if piece in _URL_SYMBOLS:
            words.append(_URL_SYMBOLS[piece])
        elif piece.isdigit():
            words.append(read_digits(piece))
        else:
            words.append(_read_label(piece))
    return _pad(" ".join(words))


def addresses(text: str, reader: Reader) -> str:
    text = EMAIL_RE.sub(lambda m: read_address(m.group()), text)
    return URL_RE.sub(lambda m: read_address(m.group()), text)


# --- Document numbers: "Nghị định số 49/2024/NĐ-CP" --------------------------------------------

DOC_RE = re.compile(
    r"(?<![\w/.,])(?P<num>\d+)(?:/(?P<year>\d{4}))?/"
    r"(?P<code>[A-ZĐ][A-Za-zĐđ0-9]*(?:[-–][A-ZĐ][A-Za-zĐđ0-9]*)*)(?![\w])"
)
# The rest of the sentence says "của …" (whose document it is).
_NAMES_ISSUER_RE = re.compile(r"[^.;!?\n]*?(?<!\w)của(?!\w)", re.IGNORECASE)
_CODE_PART_RE = re.compile(r"(?P<letters>[A-Za-zĐđ]+)(?P<digits>\d*)")


def _issuer(part: str, reader: Reader) -> str | None:
    match = _CODE_PART_RE.fullmatch(part)
    if not match or match["letters"] not in ISSUERS:
        return None
    words = ISSUERS[match["letters"]]
    if match["digits"]:
        words += " khóa " + reader.integer(match["digits"])  # QH15: Quốc hội khóa mười lăm
    return words


def _issuer_named_after(match: Match, parts: list[str], reader: Reader) -> bool:
    """Does the rest of the sentence say "của <this document's issuer>"?"""
    named = _NAMES_ISSUER_RE.match(_after(match, 80))
    if not named:
        return False
    following = _after(match, 80)[named.end() : named.end() + 40].lower()
    for part in parts:
        issuer = _issuer(part, reader)
        letters = _CODE_PART_RE.fullmatch(part)
        if not issuer or letters is None:
            continue
        code = re.escape(letters["letters"].lower())
        if issuer.lower() in following or re.search(rf"(?<!\w){code}(?!\w)", following):
            return True
    return False


def _document(match: Match, reader: Reader) -> str:
    words = [reader.integer(match["num"])]
    if match["year"]:
        words += ["năm", reader.integer(match["year"])]
    parts = re.split(r"[-–]", match["code"])
    doc_type = DOCUMENT_TYPES.get(parts[0])
    if doc_type:
        parts = parts[1:]
        # "Nghị định số 49/2024/NĐ-CP": the type was just said, do not repeat it.
        if doc_type not in _before(match, 30).lower():
            words.append(doc_type)
    if _issuer_named_after(match, parts, reader):
        # "… 49/2024/NĐ-CP của Chính phủ", "1234/QĐ-UBND ngày … của UBND tỉnh": the sentence names
        # the issuer itself, so its code is not read (it would say "của Chính phủ" twice).
        return _pad(" ".join(words))
    said_of = False
    for part in parts:
        issuer = _issuer(part, reader)
        if issuer and not said_of:
            words += ["của", issuer]
            said_of = True
        else:
            words.append(issuer or spell(part))
    return _pad(" ".join(words))


def documents(text: str, reader: Reader) -> str:
    return DOC_RE.sub(lambda m: _document(m, reader), text)


# --- Phone numbers -----------------------------------------------------------------------------

INTERNATIONAL_PHONE_RE = re.compile(
    r"(?<![\w+])\+84[ .-]?(?P<rest>\d{2,3}(?:[ .-]?\d{3,4}){2})(?![\w]|[.,]\d)"
)
PHONE_RE = re.compile(
    r"(?<![\w.,])(?:0\d{2,3}(?:[ .-]\d{3,4}){2}|0\d{3}[ .-]\d{6,7}|0\d{9,10})(?![\w]|[.,]\d)"
)
HOTLINE_RE = re.compile(
    r"(?<![\w.,])1[89]00(?:[ .-]?\d{4}|[ .]\d{2}[ .]\d{2}|[ .]\d{3}[ .]\d{3})(?!\w)"
)
EMERGENCY_RE = re.compile(
    r"(?P<lead>(?i:gọi|số|đường dây nóng|tổng đài|hotline)(?:\s+(?i:ngay|tới|đến|số|cho))*\s+)"
    r"(?P<numbers>(?:11[1-6]|1022)(?:\s*(?:,|và|hoặc|/)\s*(?:11[1-6]|1022))*)(?![\w]|[.,]\d)"
)
_PHONE_GROUPING = {10: (4, 3, 3), 11: (4, 4, 3)}


def _read_phone_groups(groups: list[str]) -> str:
    return _pad(", ".join(read_digits(g) for g in groups))


def _phone(match: Match) -> str:
    written = match.group()
    groups = re.split(r"[ .-]", written)
    digits = "".join(groups)
    if len(digits) not in _PHONE_GROUPING:
        return written  # not a phone number: leave it to the number rules
    if len(groups) == 1:  # written without spaces: use the usual grouping
        sizes, groups, start = _PHONE_GROUPING[len(digits)], [], 0
        for size in sizes:
            groups.append(digits[start : start + size])
            start += size
    return _read_phone_groups(groups)


def _emergency(match: Match) -> str:
    numbers = re.sub(r"\d+", lambda m: read_digits(m.group()), match["numbers"])
    return match["lead"] + numbers + " "


def _international_phone(match: Match) -> str:
    groups = re.split(r"[ .-]", match["rest"])
    return _pad("cộng tám bốn, " + ", ".join(read_digits(g) for g in groups))


def phones(text: str, reader: Reader) -> str:
    text = INTERNATIONAL_PHONE_RE.sub(_international_phone, text)
    text = PHONE_RE.sub(_phone, text)
    text = HOTLINE_RE.sub(lambda m: _read_phone_groups(re.split(r"[ .-]", m.group())), text)
    return EMERGENCY_RE.sub(_emergency, text)


# "1 000 000" (groups of three separated by spaces, as some word processors write): after the
# phone numbers have been read, the spaces become the usual thousands dots.
SPACE_GROUPED_RE = re.compile(r"(?<![\w.,])\d{1,3}(?: \d{3})+(?![\w.,]|\s\d)")


def space_grouped_numbers(text: str, reader: Reader) -> str:
    return SPACE_GROUPED_RE.sub(lambda m: m.group().replace(" ", "."), text)


# "1. Thời gian: ...", "a) Địa điểm": a list marker is a number followed by a pause.
LIST_MARKER_RE = re.compile(r"^(?P<marker>\d{1,2}|[a-zđ])[.)]\s+(?=[^\W\d_])")


def list_markers(text: str, reader: Reader) -> str:
    return LIST_MARKER_RE.sub(lambda m: f"{m['marker']}, ", text)


# --- Abbreviations -----------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _abbreviation_table(options: ReadingOptions) -> tuple[Mapping[str, str], re.Pattern[str]]:
    """The merged table (the unit's entries win) and one pattern matching any of its keys."""
    own = {k: v for k, v in options.abbreviations.items() if k.strip()}
    table = {**BUILTIN_ABBREVIATIONS, **own}
    # A key ending in a letter must end a word; "TP." may be glued to the name ("TP.Huế").
    alternatives = [
        re.escape(k) + (r"(?![\w&])" if k[-1].isalnum() else "")
        for k in sorted(table, key=len, reverse=True)
    ]
    return table, re.compile(r"(?<![\w&.])(?:" + "|".join(alternatives) + ")")


def _abbreviation(match: Match, table: Mapping[str, str], own: Mapping[str, str]) -> str:
    written = match.group()
    if written in CONDITIONAL_ABBREVIATIONS and written not in own:
        following = _after(match, 3).lstrip()
        if not following or not (following[0].isupper() or following[0].isdigit()):
            return written  # "... đội X." ends a sentence: not "xã"
    if written.endswith(".") and not _after(match, 3).strip():
        # "TP." at the very end is an abbreviation without a name: still read it, keep the stop
        return _pad(table[written]) + "."
    return _pad(table[written])


def abbreviations(text: str, reader: Reader) -> str:
    table, pattern = _abbreviation_table(reader.options)
    return pattern.sub(lambda m: _abbreviation(m, table, reader.options.abbreviations), text)


# "CN" is Sunday only in a date ("Thứ 7 và CN", "CN, ngày 20/4"); elsewhere it is spelled.
SUNDAY_RE = re.compile(r"(?<![\w])CN(?![\w])")
_SUNDAY_AFTER_RE = re.compile(r"^\s*[,(–-]?\s*(?:(?i:ngày)\b|\d{1,2}[/.-]\d)")
_SUNDAY_BEFORE_RE = re.compile(r"(?i:thứ)\s+(?:\d|[^\W\d_]+)\s*(?:,|và|-|–|đến|tới)\s*$")


def _sunday(match: Match) -> str:
    if _SUNDAY_AFTER_RE.match(_after(match)) or _SUNDAY_BEFORE_RE.search(_before(match)):
        return "chủ nhật"
    return match.group()


def weekdays(text: str, reader: Reader) -> str:
    return SUNDAY_RE.sub(_sunday, text)


# --- Licence plates ----------------------------------------------------------------------------

PLATE_RE = re.compile(
    r"(?<![\w.,])(?P<province>\d{2})(?P<series>[A-Z]{1,2}\d?)[-. ]?"
    r"(?P<number>\d{3}\.\d{2}|\d{4,5})(?![\w]|[.,]\d)"
)


def _plate(match: Match) -> str:
    number = read_digits(match["number"])
    return _pad(f"{read_digits(match['province'])} {spell(match['series'])}, {number}")


def plates(text: str, reader: Reader) -> str:
    return PLATE_RE.sub(_plate, text)


# --- Dates -------------------------------------------------------------------------------------

_DAY_WORD = r"(?:(?P<pre>(?i:ngày))\s+)?"
DATE_RANGE_RE = re.compile(
    _DAY_WORD + r"(?<![\w.,/])(?P<d1>\d{1,2})\s*[-–]\s*(?P<d2>\d{1,2})/(?P<m>\d{1,2})"
    r"(?:/(?P<y>\d{4}))?(?![\w/]|[.,]\d)"
)
DATE_RE = re.compile(
    _DAY_WORD + r"(?<![\w.,/-])(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4})"
    r"(?![\w/]|[.,]\d)"
)
DAY_MONTH_RE = re.compile(_DAY_WORD + r"(?<![\w.,/-])(?P<d>\d{1,2})/(?P<m>\d{1,2})(?![\w/]|[.,]\d)")
MONTH_YEAR_RE = re.compile(
    r"(?:(?P<pre>(?i:tháng))\s+)?(?<![\w.,/-])(?P<m>\d{1,2})(?P<sep>[/-])(?P<y>\d{4})"
    r"(?![\w/]|[.,]\d)"
)
# "từ 20/4 - 25/4": after "từ" the dash between two dates is "đến" ("30/4 - 1/5" is a pair).
_DATE = r"\d{1,2}/\d{1,2}(?:/\d{4})?"
DATE_SPAN_RE = re.compile(
    rf"(?P<first>(?<![\w])(?i:từ)\s+(?:(?i:ngày)\s+)?{_DATE})\s*[-–]\s*(?P<last>{_DATE})(?![\w/])"
)
# "2/3 kinh phí" is a fraction: a day/month pair followed by a word that counts a share.
_FRACTION_NOUN_AFTER_RE = re.compile(
    r"\s+(?:số|tổng|diện tích|kinh phí|chi phí|dân số|giá trị|khối lượng|sản lượng|còn lại)\b"
)
_NUMBER_WORD_BEFORE_RE = re.compile(r"(?i:số)\s*$")
# "số 12/5", "hẻm 12/5" are house numbers, not the 12th of May.
_ADDRESS_BEFORE_RE = re.compile(r"(?i:số|nhà|hẻm|kiệt|ngõ|ngách|lô)\s*$")
# Streets and places named after a date are said without "ngày": "đường ba tháng hai".
_NAMED_AFTER_DATE_RE = re.compile(r"(?i:đường|phố|cầu|chợ|quảng trường|công viên)\s*$")


def _valid_date(day: str, month: str) -> bool:
    return 1 <= int(day) <= 31 and 1 <= int(month) <= 12


# "Ngày Quốc khánh 2/9": the day was already announced by name; do not say "ngày" twice.
_NAMED_DAY_RE = re.compile(r"(?:^|\s)[Nn]gày(?P<name>(?:\s+[^\W\d_]+){1,4})\s*$")


def _day(match: Match, reader: Reader, day: str) -> str:
    if match["pre"]:
        return f"{match['pre']} {reader.integer(day)}"
    named = _NAMED_DAY_RE.search(_before(match, 50))
    if named and named["name"].split()[0][0].isupper():  # a holiday's name is capitalised
        return reader.integer(day)
    return f"ngày {reader.integer(day)}"


def _month_year(reader: Reader, month: str, year: str | None) -> str:
    words = f"tháng {read_month(int(month))}"
    return words + (f" năm {reader.integer(year)}" if year else "")


def _date_range(match: Match, reader: Reader) -> str:
    if not (_valid_date(match["d1"], match["m"]) and _valid_date(match["d2"], match["m"])):
        return match.group()
    first = _day(match, reader, match["d1"])
    second = f"ngày {reader.integer(match['d2'])}"
    return _pad(f"{first} đến {second} {_month_year(reader, match['m'], match['y'])}")


def _date(match: Match, reader: Reader) -> str:
    if not _valid_date(match["d"], match["m"]):
        return match.group()
    year = match.groupdict().get("y")
    if year is None and not match["pre"] and _FRACTION_NOUN_AFTER_RE.match(_after(match)):
        denominator = "tư" if int(match["m"]) == 4 else reader.integer(match["m"])  # ba phần tư
        return _pad(f"{reader.integer(match['d'])} phần {denominator}")
    if year is None and not match["pre"]:
        if _ADDRESS_BEFORE_RE.search(_before(match, 10)):
            return match.group()
        if _NAMED_AFTER_DATE_RE.search(_before(match, 20)):
            return _pad(f"{reader.integer(match['d'])} {_month_year(reader, match['m'], None)}")
    return _pad(f"{_day(match, reader, match['d'])} {_month_year(reader, match['m'], year)}")


def _month_with_year(match: Match, reader: Reader) -> str:
    if not match["pre"] and match["sep"] == "/" and _NUMBER_WORD_BEFORE_RE.search(_before(match)):
        # "Quyết định số 15/2024": a document number without its code, read like one.
        return _pad(f"{reader.integer(match['m'])} năm {reader.integer(match['y'])}")
    if not 1 <= int(match["m"]) <= 12 or (match["sep"] == "-" and not match["pre"]):
        return match.group()  # "7-2024" without "tháng" is a range, not a month
    spoken = _month_year(reader, match["m"], match["y"])
    if match["pre"]:
        spoken = match["pre"] + spoken[len("tháng") :]
    return _pad(spoken)


def dates(text: str, reader: Reader) -> str:
    text = DATE_SPAN_RE.sub(lambda m: f"{m['first']} đến {m['last']}", text)
    text = DATE_RANGE_RE.sub(lambda m: _date_range(m, reader), text)
    text = DATE_RE.sub(lambda m: _date(m, reader), text)
    text = MONTH_YEAR_RE.sub(lambda m: _month_with_year(m, reader), text)
    return DAY_MONTH_RE.sub(lambda m: _date(m, reader), text)


# --- Times -------------------------------------------------------------------------------------

_TIME = r"\d{1,2}(?:[hg:]\d{2}(?:'|p\b)?|h(?![\w]))"
TIME_RE = re.compile(
    rf"(?<![\w.,:])(?P<first>{_TIME}|\d{{1,2}}(?=\s*[-–]\s*{_TIME}))"  # "7-11h": hour implied
    rf"(?:\s*[-–]\s*(?P<second>{_TIME}))?(?![\w]|[.,:]\d)"
)
MINUTES_RE = re.compile(r"(?<![\w.,])(?P<n>\d{1,3})\s?[''′](?![\w])")


def _read_time(written: str, reader: Reader) -> str | None:
    if written.isdigit():  # the first hour of "7-11h": "bảy đến mười một giờ"
        return reader.integer(written) if int(written) <= 24 else None
    hours, _, minutes = re.split(r"([hg:])", written.rstrip("'p"), maxsplit=1)
    if int(hours) > 24 or (minutes and int(minutes) > 59):
        return None
    words = f"{reader.integer(hours)} giờ"
    if minutes and int(minutes):
        words += f" {reader.integer(minutes)} phút"
    return words


def _time(match: Match, reader: Reader) -> str:
    first = _read_time(match["first"], reader)
    second = _read_time(match["second"], reader) if match["second"] else ""
    if first is None or second is None:
        return match.group()
    return _pad(f"{first} đến {second}" if second else first)


def times(text: str, reader: Reader) -> str:
    text = TIME_RE.sub(lambda m: _time(m, reader), text)
    return MINUTES_RE.sub(lambda m: _pad(f"{reader.integer(m['n'])} phút"), text)


# --- Roman numerals, ordinals, months, ranks ---------------------------------------------------

ROMAN_RE = re.compile(
    r"(?P<lead>(?i:khóa|khoá|thế kỷ|thế kỉ|đại hội|chương|phần|quân khu|học kỳ|học kì|cấp độ|cấp"
    r"|thứ))"
    r"\s+(?P<roman>[IVXL]+)(?![\w])"
)
WEEKDAY_RANGE_RE = re.compile(
    r"(?<![\w])(?i:thứ)\s+(?P<first>[2-7])\s*[-–]\s*(?:(?i:thứ)\s+)?(?P<last>[2-7])" + NUM_END
)
ORDINAL_RE = re.compile(r"(?<![\w])(?i:thứ)\s+(?P<n>\d{1,3})" + NUM_END)
MONTH_RE = re.compile(r"(?<![\w])(?P<lead>(?i:tháng))\s+(?P<n>\d{1,2})" + NUM_END)
RANK_RE = re.compile(r"(?<![\w])(?P<lead>(?i:hạng|giải))\s+(?P<n>[1-3])" + NUM_END)
_RANKS = {"1": "nhất", "2": "nhì", "3": "ba"}


def _roman(match: Match, reader: Reader) -> str:
    value = roman_value(match["roman"])
    if value is None:
        return match.group()
    lead = match["lead"]
    spoken = reader.ordinal(value) if lead.lower() == "thứ" else reader.integer(str(value))
    return f"{lead} {spoken}"


def ordinals(text: str, reader: Reader) -> str:
    text = ROMAN_RE.sub(lambda m: _roman(m, reader), text)
    # "Thứ 2" is a weekday as much as an ordinal; both read "thứ hai" (lowercase, see docs).
    text = WEEKDAY_RANGE_RE.sub(
        lambda m: f"thứ {reader.ordinal(int(m['first']))} đến thứ {reader.ordinal(int(m['last']))}",
        text,
    )
    text = ORDINAL_RE.sub(lambda m: f"thứ {reader.ordinal(int(m['n']))}", text)
    text = MONTH_RE.sub(
        lambda m: f"{m['lead']} {read_month(int(m['n']))}" if 1 <= int(m["n"]) <= 12 else m.group(),
        text,
    )
    return RANK_RE.sub(lambda m: f"{m['lead']} {_RANKS[m['n']]}", text)


# --- Quantities: units, currency, percentages, ranges ------------------------------------------

_SPOKEN_UNITS = {**UNITS, "h": "giờ"}
UNIT_RE = re.compile(
    rf"(?P<neg>(?<![\w.,])[-−])?{NUM_START}(?P<n1>{NUM})"
    rf"(?:(?:\s?(?P<unit1>{_alternation(_SPOKEN_UNITS)}))?\s*[-–]\s*(?P<n2>{NUM}))?"
    rf"\s?(?P<unit>{_alternation(_SPOKEN_UNITS)})(?![\w²³])"
)
DOLLAR_RE = re.compile(rf"\$\s?(?P<n>{NUM}){NUM_END}")
PER_RE = re.compile(rf"(?<=[^\W\d_])(?P<chain>(?:\s?/\s?(?:{_alternation(PER_UNITS)})(?![\w]))+)")
_PER_UNIT_RE = re.compile(r"[^\s/]+")
# "ngày/tháng/năm sinh" is a list of fields, not "per month"; every other word may take "/kg".
_NOT_PER_HOSTS = frozenset({"ngày", "tháng", "năm", "tuần", "quý", "giờ", "Ngày", "Tháng", "Năm"})
RANGE_RE = re.compile(rf"{NUM_START}(?P<n1>{NUM})\s*[-–]\s*(?P<n2>{NUM}){NUM_END}")
FRACTION_RE = re.compile(rf"{NUM_START}(?P<n1>{NUM})\s?/\s?(?P<n2>{NUM}){NUM_END}")


def _quantity(match: Match, reader: Reader) -> str:
    words = ("âm " if match["neg"] else "") + reader.number(match["n1"])
    if match["unit1"]:  # "22°C - 25°C"
        words += " " + _SPOKEN_UNITS[match["unit1"]]
    if match["n2"]:
        words += " đến " + reader.number(match["n2"])
    return _pad(f"{words} {_SPOKEN_UNITS[match['unit']]}")


def _per(match: Match) -> str:
    host = re.search(r"(\w+)\s*$", _before(match, 20))
    if host and host.group(1) in _NOT_PER_HOSTS:
        return match.group()
    units = _PER_UNIT_RE.findall(match["chain"])
    return "".join(f" một {PER_UNITS[unit]}" for unit in units)


def quantities(text: str, reader: Reader) -> str:
    text = DOLLAR_RE.sub(lambda m: _pad(f"{reader.number(m['n'])} đô la Mỹ"), text)
    text = UNIT_RE.sub(lambda m: _quantity(m, reader), text)
    text = PER_RE.sub(_per, text)
    text = RANGE_RE.sub(lambda m: _pad(_two_numbers(m, "đến", reader)), text)
    return FRACTION_RE.sub(lambda m: _pad(_two_numbers(m, "trên", reader)), text)


def _two_numbers(match: Match, joiner: str, reader: Reader) -> str:
    return f"{reader.number(match['n1'])} {joiner} {reader.number(match['n2'])}"


# --- Codes mixing letters and digits: "QL1A", "1A", "H5N1", "4G" -------------------------------

CODE_RE = re.compile(r"(?<![\w])(?=\w*\d)(?=\w*[^\W\d_])\w+(?![\w])")
_CODE_RUN_RE = re.compile(r"[^\W\d_]+|\d+")


def _code(match: Match, reader: Reader) -> str:
    words = []
    for run in _CODE_RUN_RE.findall(match.group()):
        if run.isdigit():
            # A short number is a number ("QL14B"); a long one is an identifier ("HS4460123...").
            words.append(reader.integer(run) if len(run) <= 4 else read_digits(run))
        elif run in CODE_PREFIXES:
            words.append(CODE_PREFIXES[run])
        else:
            words.append(spell(run))
    return _pad(" ".join(words))


def codes(text: str, reader: Reader) -> str:
    return CODE_RE.sub(lambda m: _code(m, reader), text)


# --- Plain numbers -----------------------------------------------------------------------------

NUMBER_RE = re.compile(rf"(?P<neg>[-−])?(?<![\w.,])(?P<n>{NUM})")


def _is_negative(match: Match) -> bool:
    sign = match["neg"]
    if sign == "−":
        return True
    if sign != "-":
        return False
    # "-" is a minus after a word ("xuống -3"), not a bullet at line start nor "5 -3" (a range).
    before = _before(match, 20).rstrip()
    return bool(before) and before[-1].isalpha() and match.string[match.start() - 1].isspace()


def _number(match: Match, reader: Reader) -> str:
    words = reader.number(match["n"])
    if _is_negative(match):
        return _pad("âm " + words)
    return (match["neg"] or "") + _pad(words)


def numbers(text: str, reader: Reader) -> str:
    text = NUMBER_RE.sub(lambda m: _number(m, reader), text)
    return re.sub(r"\d+", lambda m: _pad(read_digits(m.group())), text)  # anything left


# --- Words in capitals -------------------------------------------------------------------------

CAPS_RE = re.compile(r"(?<![\w])[^\W\d_]{2,}(?![\w])")


def _caps(match: Match) -> str:
    token = match.group()
    if not token.isupper():
        return token
    # A headline word ("THÔNG BÁO KHẨN") is a syllable with a tone mark, or a 3+ letter syllable;
    # anything else in capitals is an acronym and is spelled ("ATM" = a tê em mờ).
    if is_syllable(token) and (not token.isascii() or len(token) >= 3):
        return token.lower()
    return spell(token)


def capitals(text: str, reader: Reader) -> str:
    return CAPS_RE.sub(_caps, text)


PASSES: tuple[Callable[[str, Reader], str], ...] = (
    addresses,
    documents,
    list_markers,
    phones,
    space_grouped_numbers,
    weekdays,
    abbreviations,
    plates,
    dates,
    times,
    ordinals,
    quantities,
    codes,
    numbers,
    capitals,
)

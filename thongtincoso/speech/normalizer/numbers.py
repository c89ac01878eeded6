"""Reading numbers the way a Vietnamese radio announcer does.

All functions return lowercase words and never digits. `thousand` and `odd` are the regional
words from ReadingOptions ("nghìn"/"ngàn", "linh"/"lẻ").
"""

from __future__ import annotations

import re

ASCII_DIGITS = frozenset("0123456789")  # "²".isdigit() is true, but it is not a digit to read
DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
MONTHS = (
    "",
    "một",
    "hai",
    "ba",
    "tư",  # "tháng tư", never "tháng bốn"
    "năm",
    "sáu",
    "bảy",
    "tám",
    "chín",
    "mười",
    "mười một",
    "mười hai",
)
BILLION = 10**9
# Numbers longer than this are not quantities (IDs, account numbers): read digit by digit.
MAX_CARDINAL_DIGITS = 15

ROMAN_RE = re.compile(r"^(?=[IVXL])(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def read_digits(digits: str) -> str:
    """'0912' -> 'không chín một hai' (phone numbers, codes)."""
    return " ".join(DIGITS[int(d)] for d in digits if d in ASCII_DIGITS)


def _tens_and_units(tens: int, units: int) -> list[str]:
    if tens == 0:
        return [DIGITS[units]] if units else []
    words = ["mười"] if tens == 1 else [DIGITS[tens], "mươi"]
    if units == 0:
        return words
    if units == 5:
        words.append("lăm")
    elif units == 1 and tens > 1:
        words.append("mốt")
    elif units == 4 and tens > 1:
        words.append("tư")
    else:
        words.append(DIGITS[units])
    return words


def _triple(n: int, full: bool, odd: str) -> list[str]:
    """0 < n < 1000; `full` pads inner groups: 1.005 = một nghìn *không trăm linh* năm."""
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    if hundreds or full:
        words += [DIGITS[hundreds], "trăm"]
        if tens == 0 and units:
            return [*words, odd, DIGITS[units]]
    return words + _tens_and_units(tens, units)


def _below_billion(n: int, leading: bool, thousand: str, odd: str) -> list[str]:
    groups = ((n // 10**6, "triệu"), (n // 1000 % 1000, thousand), (n % 1000, ""))
    words: list[str] = []
    first = leading
    for value, scale in groups:
        if value == 0:
            continue  # "hai triệu không trăm linh năm": empty groups are not read
        words += _triple(value, full=not first, odd=odd)
        if scale:
            words.append(scale)
        first = False
    return words


def read_cardinal(n: int, thousand: str = "nghìn", odd: str = "linh") -> str:
    """1250000 -> 'một triệu hai trăm năm mươi nghìn'; 10**12 -> 'một nghìn tỷ'."""
    if n == 0:
        return DIGITS[0]
    if n < BILLION:
        return " ".join(_below_billion(n, True, thousand, odd))
    high, low = divmod(n, BILLION)
    words = f"{read_cardinal(high, thousand, odd)} tỷ"
    if low:
        words += " " + " ".join(_below_billion(low, False, thousand, odd))
    return words


def read_integer_string(digits: str, thousand: str = "nghìn", odd: str = "linh") -> str:
    """Digits as written (no separators). Leading zeros: '05' -> 'năm', but '0123456' is a code."""
    if len(digits) > 1 and digits.startswith("0"):
        if len(digits) > 3:
            return read_digits(digits)
        digits = digits.lstrip("0") or "0"
    if len(digits) > MAX_CARDINAL_DIGITS:
        return read_digits(digits)
    return read_cardinal(int(digits), thousand, odd)


def read_fraction_digits(digits: str, thousand: str = "nghìn", odd: str = "linh") -> str:
    """What follows 'phẩy': leading zeros one by one, then the rest as a number (0,05; 2,25)."""
    stripped = digits.lstrip("0")
    words = [DIGITS[0]] * (len(digits) - len(stripped))
    if stripped:
        if len(stripped) <= 3:
            words.append(read_cardinal(int(stripped), thousand, odd))
        else:
            words.append(read_digits(stripped))
    return " ".join(words)


def read_number(written: str, thousand: str = "nghìn", odd: str = "linh") -> str:
    """A number as written in Vietnamese: '1.250.000', '92,5', '1.5' (decimal, see docs)."""
    integer, fraction = written, ""
    if "," in written:
        integer, fraction = written.split(",", 1)
    if "." in integer:
        groups = integer.split(".")
        if all(len(g) == 3 for g in groups[1:]):
            integer = "".join(groups)  # "1.250.000": dots separate thousands
        else:
            integer, fraction = groups[0], "".join(groups[1:])  # "1.5": a decimal point
    words = read_integer_string(integer or "0", thousand, odd)
    if fraction:
        words += " phẩy " + read_fraction_digits(fraction, thousand, odd)
    return words


def read_ordinal(n: int, thousand: str = "nghìn", odd: str = "linh") -> str:
    """After 'thứ': 1 -> nhất, 4 -> tư, otherwise the cardinal (thứ hai, thứ mười bốn)."""
    if n == 1:
        return "nhất"
    if n == 4:
        return "tư"
    return read_cardinal(n, thousand, odd)


def read_month(n: int) -> str:
    return MONTHS[n]


def roman_value(token: str) -> int | None:
    """'XIII' -> 13 for I, V, X, L numerals (C, D, M are too often letters: 'mục C')."""
    if not ROMAN_RE.match(token):
        return None
    total = 0
    for char, following in zip(token, [*token[1:], ""], strict=True):
        value = _ROMAN_VALUES[char]
        total += -value if following and _ROMAN_VALUES[following] > value else value
    return total

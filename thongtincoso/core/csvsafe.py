"""CSV cells that a spreadsheet will not run as formulas (CSV injection, OWASP).

Station names, titles and other text people typed end up in CSV exports that officials open in
Excel or LibreOffice; a cell starting with "=", "+", "-", "@" (or a tab or carriage return before
one) would be evaluated. Such text gets a leading apostrophe, which spreadsheets show as text.
Numbers are left alone, negative ones included.
"""

from __future__ import annotations

from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_row(row: list[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]

"""Text folded for search: lower case, without Vietnamese diacritics ("Đèn đường" → "den duong").

People type with or without diacritics (and telex slips); staff search must find either way, on
SQLite too, whose LIKE folds only ASCII case. Rows keep a folded copy of their searchable text,
and queries fold the words they look for.
"""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", (text or "").replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())

"""How a unit wants numbers and abbreviations read (regional words, its own abbreviations)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

THOUSAND_WORDS = ("nghìn", "ngàn")
ODD_WORDS = ("linh", "lẻ")


@dataclass(frozen=True)
class ReadingOptions:
    """Reading choices; `key()` is a stable string for caches (rendered audio depends on it)."""

    thousand: str = "nghìn"  # or "ngàn" (Southern)
    odd: str = "linh"  # or "lẻ" (Southern): 105 = một trăm linh năm / một trăm lẻ năm
    # A unit's own table: keys as written ("UBND", "TP.", "HTX"), values spoken; overrides
    # the built-in table.
    abbreviations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.thousand not in THOUSAND_WORDS:
            raise ValueError(f"thousand must be one of {THOUSAND_WORDS}, not {self.thousand!r}")
        if self.odd not in ODD_WORDS:
            raise ValueError(f"odd must be one of {ODD_WORDS}, not {self.odd!r}")
        # A read-only copy: the caller's dict may change later, the options must not.
        frozen = MappingProxyType(dict(self.abbreviations))
        object.__setattr__(self, "abbreviations", frozen)

    def key(self) -> str:
        """The same options always give the same string, whatever the dict's insertion order."""
        return json.dumps(
            {
                "thousand": self.thousand,
                "odd": self.odd,
                "abbreviations": sorted(self.abbreviations.items()),
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    def __hash__(self) -> int:  # the generated hash would fail on the mapping
        return hash(self.key())

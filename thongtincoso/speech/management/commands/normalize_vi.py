"""`manage.py normalize_vi`: a filter from written Vietnamese to the spoken form, line by line."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError

from thongtincoso.speech.normalizer import ReadingOptions, normalize
from thongtincoso.speech.normalizer.options import ODD_WORDS, THOUSAND_WORDS

# Accepted spellings without diacritics, for shells and scripts that cannot type them.
_ASCII_ALIASES = {"nghin": "nghìn", "ngan": "ngàn", "le": "lẻ"}


def _regional_word(value: str) -> str:
    return _ASCII_ALIASES.get(value, value)


class Command(BaseCommand):
    help = (
        "Read Vietnamese text on stdin and print, for every input line, exactly one line with "
        "the spoken form (numbers, dates, units and abbreviations written out as words). "
        "Output is flushed line by line, so the command can be used as a filter."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--thousand",
            type=_regional_word,
            choices=THOUSAND_WORDS,
            default=None,
            help="Word for 1000: 'nghìn' (default, Northern) or 'ngàn' (Southern; 'ngan' works).",
        )
        parser.add_argument(
            "--odd",
            type=_regional_word,
            choices=ODD_WORDS,
            default=None,
            help="Word in 105, 2005...: 'linh' (default) or 'lẻ' (Southern; 'le' works).",
        )
        parser.add_argument(
            "--unit",
            default="",
            help="Read as this unit does (code, e.g. 00070): its regional readings and its own "
            "abbreviations and its province's; --thousand/--odd given explicitly still win.",
        )

    def reading_options(self, options: dict[str, Any]) -> ReadingOptions:
        """Options from the command line, or a unit's settings and abbreviations."""
        if not options.get("unit"):
            return ReadingOptions(
                thousand=options["thousand"] or "nghìn", odd=options["odd"] or "linh"
            )
        from thongtincoso.speech.services import reading_options_for
        from thongtincoso.units.models import Unit

        unit = Unit.objects.filter(code=options["unit"]).first()
        if unit is None:
            raise CommandError(f"No unit with code {options['unit']!r}.")
        own = reading_options_for(unit)
        return ReadingOptions(
            thousand=options["thousand"] or own.thousand,
            odd=options["odd"] or own.odd,
            abbreviations=own.abbreviations,
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reading = self.reading_options(options)
        # Bytes in and out: the input may not be valid UTF-8, the locale may not be UTF-8.
        source: BinaryIO = sys.stdin.buffer
        target: BinaryIO = sys.stdout.buffer
        for number, raw in enumerate(source, start=1):
            # A lone carriage return inside a line would make normalize() return two lines.
            spoken = normalize(self._decode(raw, number), reading).replace("\n", " ")
            target.write(spoken.encode("utf-8") + b"\n")
            target.flush()

    def _decode(self, raw: bytes, number: int) -> str:
        """One input line without its line ending; bytes that are not UTF-8 are dropped."""
        raw = raw.rstrip(b"\n").rstrip(b"\r")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.stderr.write(f"line {number}: invalid UTF-8 bytes dropped")
            return raw.decode("utf-8", errors="ignore")

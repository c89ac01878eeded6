#!/usr/bin/env python3
"""Check the translation catalogs: every entry translated, none fuzzy, placeholders kept.

    uv run python scripts/check_catalogs.py            # checks locale/vi
    uv run python scripts/check_catalogs.py vi en      # checks the named languages

Exits 1 and lists each problem as `path:line: kind: msgid` when something is wrong, 0 otherwise.
Run `manage.py makemessages` first so the catalog holds every string of the code (docs/i18n.md).
The test suite imports `catalog_problems` from here (thongtincoso/web/tests/test_i18n.py).
Only the standard library and polib: it needs neither Django nor GNU gettext.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
# Languages whose catalogs must be complete. English is the msgid language: its catalog exists
# so the language switch works, and its msgstr stay empty on purpose.
REQUIRED_LANGUAGES = ("vi",)
DOMAINS = ("django", "djangojs")

# %(name)s and %s style placeholders (python-format); "%%" is a literal percent sign.
_PERCENT = re.compile(
    r"%%|%\([^)]+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%[-#0 +]*\d*"
    r"(?:\.\d+)?[diouxXeEfFgGcrsa]"
)
# {name} style placeholders (python-brace-format).
_BRACE = re.compile(r"\{\{|\}\}|\{[^{}]*\}")


def _placeholders(text: str, flags: list[str]) -> Counter[str]:
    found: list[str] = []
    if "python-format" in flags:
        found += [m for m in _PERCENT.findall(text) if m != "%%"]
    if "python-brace-format" in flags:
        found += [m for m in _BRACE.findall(text) if m not in ("{{", "}}")]
    return Counter(found)


def _short(text: str, limit: int = 70) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def po_problems(po_path: Path) -> list[str]:
    """Problems of one .po file, one line each."""
    try:
        display = po_path.relative_to(ROOT)
    except ValueError:
        display = po_path
    po = polib.pofile(str(po_path))
    problems: list[str] = []
    if po.metadata_is_fuzzy:
        problems.append(f"{display}:1: fuzzy header: remove the '#, fuzzy' flag of the header")
    for entry in po:
        if entry.obsolete:
            continue
        where = f"{display}:{entry.linenum}"
        if "fuzzy" in entry.flags:
            problems.append(f"{where}: fuzzy: {_short(entry.msgid)}")
        if entry.msgid_plural:
            translations = [entry.msgstr_plural[k] for k in sorted(entry.msgstr_plural)]
        else:
            translations = [entry.msgstr]
        if not translations or any(not t.strip() for t in translations):
            problems.append(f"{where}: untranslated: {_short(entry.msgid)}")
            continue
        expected = _placeholders(entry.msgid, entry.flags)
        if entry.msgid_plural:
            # A language with one plural form (Vietnamese) may drop a count-free singular's
            # placeholders; what matters is that it never invents one.
            expected |= _placeholders(entry.msgid_plural, entry.flags)
            for t in translations:
                extra = _placeholders(t, entry.flags) - expected
                if extra:
                    problems.append(
                        f"{where}: unknown placeholder {sorted(extra)}: {_short(entry.msgid)}"
                    )
        elif _placeholders(translations[0], entry.flags) != expected:
            problems.append(
                f"{where}: placeholders differ from the msgid "
                f"{sorted(expected)}: {_short(entry.msgid)}"
            )
    return problems


def catalog_problems(
    languages: Iterable[str] = REQUIRED_LANGUAGES, locale_dir: Path = LOCALE_DIR
) -> list[str]:
    """Every problem in the catalogs of `languages`; an empty list means they are complete."""
    problems: list[str] = []
    for lang in languages:
        lc_dir = locale_dir / lang / "LC_MESSAGES"
        if not (lc_dir / "django.po").exists():
            problems.append(f"{lc_dir / 'django.po'}: missing catalog (run makemessages -l {lang})")
        for domain in DOMAINS:
            po_path = lc_dir / f"{domain}.po"
            if po_path.exists():
                problems += po_problems(po_path)
    return problems


def main(argv: list[str]) -> int:
    languages = argv or list(REQUIRED_LANGUAGES)
    problems = catalog_problems(languages)
    for line in problems:
        print(line)
    if problems:
        print(
            f"{len(problems)} problem(s) in the {', '.join(languages)} catalog(s); "
            "see docs/i18n.md.",
            file=sys.stderr,
        )
        return 1
    print(f"Catalogs complete: {', '.join(languages)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`normalize_vi --unit CODE`: the corpus rows that need a unit's own abbreviations, read through
the command with those abbreviations stored as the unit's (and its province's) entries."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from thongtincoso.speech.models import Abbreviation, SpeechSettings
from thongtincoso.speech.tests.test_normalizer import CORPUS, parse_options

pytestmark = pytest.mark.django_db


def _run(monkeypatch: Any, text: str, *arguments: str) -> list[str]:
    stdin = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys, "stdout", stdout)
    call_command("normalize_vi", *arguments)
    stdout.flush()
    return stdout.buffer.getvalue().decode("utf-8").split("\n")[:-1]  # type: ignore[attr-defined]


OWN_ROWS = [row for row in CORPUS if "abbr." in row[4]]


def test_corpus_rows_with_own_abbreviations_through_the_command(
    tree: Any, monkeypatch: Any
) -> None:
    assert len(OWN_ROWS) >= 5
    for row_id, _rule, text, expected, options in OWN_ROWS:
        Abbreviation.objects.all().delete()
        for written, spoken in parse_options(options).abbreviations.items():
            # Half at the province, half at the commune: both must apply to the commune.
            unit = tree.hanoi if len(written) % 2 else tree.hoankiem
            Abbreviation.objects.create(unit=unit, written=written, spoken=spoken)
        assert _run(monkeypatch, text + "\n", "--unit", tree.hoankiem.code) == [expected], row_id


def test_unit_regional_readings_and_explicit_options(tree: Any, monkeypatch: Any) -> None:
    SpeechSettings.objects.create(unit=tree.hcm, thousand="ngàn", odd="lẻ")
    lines = _run(monkeypatch, "Có 1.005 hộ.\n", "--unit", tree.saigon.code)
    assert lines == ["Có một ngàn không trăm lẻ năm hộ."]
    lines = _run(monkeypatch, "Có 1.005 hộ.\n", "--unit", tree.saigon.code, "--odd", "linh")
    assert lines == ["Có một ngàn không trăm linh năm hộ."]


def test_unknown_unit_is_a_clear_error(tree: Any, monkeypatch: Any) -> None:
    with pytest.raises(CommandError, match="No unit with code"):
        _run(monkeypatch, "x\n", "--unit", "99999")

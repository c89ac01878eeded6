"""Every error code the speech layers can raise has a message people can act on, in Vietnamese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import translation

from thongtincoso.speech import dsp, engines
from thongtincoso.speech.errors import SpeechError
from thongtincoso.speech.messages import MESSAGES, message_for

SPEECH_DIR = Path(__file__).resolve().parent.parent
RAISED = re.compile(r"""(?:SpeechError|AudioInputError|EngineError)\(\s*["']([a-z_]+)["']""")


def _codes_raised_in_sources() -> set[str]:
    codes: set[str] = set()
    for path in SPEECH_DIR.rglob("*.py"):
        if "tests" in path.parts:
            continue
        codes.update(RAISED.findall(path.read_text(encoding="utf-8")))
    return codes


def test_every_declared_and_raised_code_has_a_message() -> None:
    declared = set(dsp.ERROR_CODES) | set(engines.ERROR_CODES)
    raised = _codes_raised_in_sources()
    assert raised, "the source scan found nothing: the pattern is out of date"
    missing = sorted((declared | raised) - set(MESSAGES))
    assert not missing, f"codes without a message in speech/messages.py: {missing}"


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_messages_are_translated_and_fill_their_parameters(code: str) -> None:
    error = SpeechError(
        code,
        chars=25000,
        limit=20000,
        seconds=0.1,
        min=0.5,
        max=3600,
        name="x",
        voice="vi",
        reason="r",
        status=500,
        url="http://x",
        engine="espeak",
        setting="url",
    )
    with translation.override("vi"):
        vietnamese = message_for(error)
    with translation.override("en"):
        english = message_for(error)
    assert "%(" not in vietnamese
    assert "%(" not in english
    if code != "cancelled" or vietnamese != english:
        assert vietnamese != english, f"{code} has no Vietnamese translation"


def test_an_unknown_code_still_gives_a_sentence() -> None:
    assert "nope" in message_for(SpeechError("nope"))

"""What people read when speech or audio fails: one translatable message per error code.

The Django-free layers raise `SpeechError(code, **params)`; every entry point (page, API, job)
shows `message_for(error)`. `tests/test_messages.py` checks that every code the engines, the DSP
and the pipeline declare has a message here.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .errors import SpeechError

MESSAGES: dict[str, Promise] = {
    # Text
    "text_empty": _("The reading text is empty: write what should be read aloud."),
    "text_unreadable": _(
        "The reading text has nothing a voice can read (only symbols, emoji or another "
        "script). Write it in Vietnamese words."
    ),
    "text_too_long": _(
        "The reading text has %(chars)s characters; at most %(limit)s can be read as one item "
        "(about 35 minutes). Split it into several bulletins."
    ),
    # Audio files
    "not_audio": _(
        "This file is not audio (it could not be decoded as sound). Upload an MP3, WAV, OGG, "
        "M4A, FLAC or WebM recording."
    ),
    "empty": _("This audio file contains no sound."),
    "too_short": _(
        "This recording lasts %(seconds).1f seconds; it must last at least %(min).1f seconds."
    ),
    "too_long": _(
        "This recording lasts %(seconds).0f seconds; at most %(max).0f seconds (one hour) are "
        "accepted. Cut it into shorter items."
    ),
    "truncated": _(
        "This audio file is incomplete (it ends before its own declared length): upload it "
        "again or export it again from the recorder."
    ),
    "damaged": _("This audio file is damaged and cannot be decoded: export it again."),
    "silent": _("This audio is silent: there is nothing to make louder."),
    "too_large": _("This file is larger than %(limit)s MB."),
    # Engines
    "unknown_engine": _("The speech engine “%(name)s” is not available on this server."),
    "voice_not_found": _(
        "The voice “%(voice)s” is not available for this engine. Choose another voice in the "
        "speech settings."
    ),
    "voice_invalid": _(
        "The voice file “%(voice)s” cannot be loaded (%(reason)s). Ask the administrator to "
        "replace it."
    ),
    "service_auth": _(
        "The speech service refused our key. Ask the administrator to check TTCS_TTS_HTTP_KEY."
    ),
    "service_error": _("The speech service answered with an error (HTTP %(status)s). Try again."),
    "service_unreachable": _(
        "The speech service cannot be reached. Try again later or use the offline voice."
    ),
    "service_bad_audio": _("The speech service answered with something that is not audio."),
    "engine_misconfigured": _(
        "The speech engine “%(engine)s” is not configured correctly (setting %(setting)s). "
        "Ask the administrator to check it."
    ),
    "engine_unavailable": _(
        "The speech engine “%(engine)s” cannot start on this server. Choose another voice."
    ),
    "engine_failed": _("The speech engine failed on this text: %(reason)s"),
    "cancelled": _("Cancelled."),
}

FALLBACK = _("The audio could not be produced (%(code)s).")


def message_for(error: SpeechError) -> str:
    template = MESSAGES.get(error.code)
    if template is None:
        return str(FALLBACK) % {"code": error.code}
    try:
        return str(template) % error.params if "%(" in str(template) else str(template)
    except (KeyError, TypeError, ValueError):
        # A code raised with other parameters than its message expects: still say something.
        return str(template).split("%(")[0].rstrip(" (:") + "."

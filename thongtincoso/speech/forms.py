"""Forms of the speech pages. They check shapes; the services check the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .engines.base import DEFAULT_RATE, MAX_RATE, MIN_RATE
from .models import (
    DEFAULT_TARGET_LUFS,
    MAX_TARGET_LUFS,
    MIN_TARGET_LUFS,
    AudioSource,
    Odd,
    Thousand,
)
from .services import (
    MAX_ABBREVIATION_SPOKEN,
    MAX_ABBREVIATION_WRITTEN,
    engines_available,
    voices_of,
)


def _voice_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    groups = []
    for value, label in engines_available():
        groups.append((label, [(f"{value}:{v.id}", v.name) for v in voices_of(value)]))
    return groups


class SpeechSettingsForm(forms.Form):
    # One choice holds engine and voice ("espeak:vi-VN-x-south"): a voice belongs to an engine.
    engine_voice = forms.ChoiceField(label=_("Voice"))
    rate = forms.IntegerField(
        label=_("Speaking rate (syllables a minute)"),
        min_value=MIN_RATE,
        max_value=MAX_RATE,
        initial=DEFAULT_RATE,
        help_text=_("About 180 suits outdoor loudspeakers; conversation is faster."),
    )
    thousand = forms.ChoiceField(label=_("Reading of thousands"), choices=Thousand.choices)
    odd = forms.ChoiceField(label=_("Reading of a zero tens digit"), choices=Odd.choices)
    target_lufs = forms.FloatField(
        label=_("Loudness target (LUFS)"),
        min_value=MIN_TARGET_LUFS,
        max_value=MAX_TARGET_LUFS,
        initial=DEFAULT_TARGET_LUFS,
        help_text=_(
            "Every item of the station is made this loud (−16 LUFS unless told otherwise)."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["engine_voice"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = _voice_choices()

    def service_fields(self) -> dict[str, Any]:
        engine, _sep, voice = self.cleaned_data["engine_voice"].partition(":")
        data = {k: v for k, v in self.cleaned_data.items() if k != "engine_voice"}
        return {"engine": engine, "voice": voice, **data}


class RenderForm(forms.Form):
    """Render a bulletin's audio; an empty voice follows the unit's settings."""

    engine_voice = forms.ChoiceField(label=_("Voice"), required=False)
    rate = forms.IntegerField(
        label=_("Speaking rate (syllables a minute)"),
        min_value=MIN_RATE,
        max_value=MAX_RATE,
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["engine_voice"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("The unit's voice")), *_voice_choices()]

    def service_fields(self) -> dict[str, Any]:
        engine, _sep, voice = (self.cleaned_data.get("engine_voice") or "").partition(":")
        return {"engine": engine, "voice": voice, "rate": self.cleaned_data.get("rate")}


class AudioUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Audio file"),
        help_text=_(
            "MP3, WAV, OGG, M4A, FLAC or WebM; up to one hour. It is made as loud as the rest."
        ),
    )
    source = forms.ChoiceField(
        choices=[
            (AudioSource.UPLOAD, AudioSource.UPLOAD.label),
            (AudioSource.RECORDING, AudioSource.RECORDING.label),
        ],
        initial=AudioSource.UPLOAD,
        widget=forms.HiddenInput,
    )


class JingleForm(forms.Form):
    which = forms.ChoiceField(
        label=_("Jingle"), choices=[("intro", _("Intro jingle")), ("outro", _("Outro jingle"))]
    )
    file = forms.FileField(label=_("Audio file"), required=False)
    clear = forms.BooleanField(label=_("Remove this jingle"), required=False)


class AbbreviationForm(forms.Form):
    written = forms.CharField(
        label=_("As written"),
        max_length=MAX_ABBREVIATION_WRITTEN,
        help_text=_("Exactly as it appears in texts, e.g. HTX.NN or Tp."),
    )
    spoken = forms.CharField(
        label=_("As read"),
        max_length=MAX_ABBREVIATION_SPOKEN,
        help_text=_("In words, e.g. “hợp tác xã nông nghiệp”."),
    )


class PreviewForm(forms.Form):
    text = forms.CharField(
        label=_("Text"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

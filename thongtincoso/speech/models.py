"""Speech settings per unit, the unit's own abbreviations, and finished audio.

Audio is content-addressed: an `AudioAsset` is named by the SHA-256 of its MP3 (the file devices
play) and records how loud it is, so the broadcasting side can trust that every item it schedules is
already at the station's loudness. A rendering's input (text, engine, voice, rate, jingles,
loudness target, pipeline version) hashes to `render_key`: the same input finds the same asset
instead of rendering again.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from thongtincoso.units.models import Unit

from .engines.base import DEFAULT_RATE, MAX_RATE, MIN_RATE

DEFAULT_TARGET_LUFS = -16.0
MIN_TARGET_LUFS = -30.0
MAX_TARGET_LUFS = -10.0


class EngineName(models.TextChoices):
    ESPEAK = "espeak", _("espeak-ng (offline)")
    PIPER = "piper", _("Piper (neural, voice file supplied by the operator)")
    HTTP = "http", _("Speech service over HTTP")


class Thousand(models.TextChoices):
    NGHIN = "nghìn", pgettext_lazy("reading of 1000", "nghìn (Northern)")
    NGAN = "ngàn", pgettext_lazy("reading of 1000", "ngàn (Southern)")


class Odd(models.TextChoices):
    LINH = "linh", pgettext_lazy("reading of 105", "linh (một trăm linh năm)")
    LE = "lẻ", pgettext_lazy("reading of 105", "lẻ (một trăm lẻ năm)")


class AudioSource(models.TextChoices):
    SPEECH = "speech", _("Text to speech")
    UPLOAD = "upload", _("Uploaded file")
    RECORDING = "recording", _("Recorded in the browser")
    JINGLE = "jingle", _("Jingle")


def asset_name(sha256: str, extension: str) -> str:
    """Where a file named by its hash lives in storage (two-level fan-out, like Git)."""
    return f"audio/{sha256[:2]}/{sha256}.{extension}"


def mp3_path(instance: AudioAsset, filename: str) -> str:
    return asset_name(instance.sha256, "mp3")


def opus_path(instance: AudioAsset, filename: str) -> str:
    return asset_name(instance.opus_sha256, "opus")


class AudioAsset(models.Model):
    """One finished, loudness-normalised programme in two encodings (MP3 for devices, Opus for
    the web). Immutable: a new rendering makes a new asset, never rewrites one."""

    sha256 = models.CharField(_("SHA-256 of the MP3"), max_length=64, unique=True)
    mp3 = models.FileField(_("MP3 file"), upload_to=mp3_path, max_length=200)
    mp3_size = models.PositiveBigIntegerField(_("MP3 size"))
    opus_sha256 = models.CharField(_("SHA-256 of the Opus file"), max_length=64)
    opus = models.FileField(_("Opus file"), upload_to=opus_path, max_length=200)
    opus_size = models.PositiveBigIntegerField(_("Opus size"))
    duration = models.FloatField(_("duration (seconds)"))
    integrated_lufs = models.FloatField(_("integrated loudness (LUFS)"))
    true_peak_dbtp = models.FloatField(_("true peak (dBTP)"))
    target_lufs = models.FloatField(_("loudness target (LUFS)"))
    sample_rate = models.PositiveIntegerField(_("sample rate of the MP3"))
    source = models.CharField(_("source"), max_length=16, choices=AudioSource.choices)
    # Hash of everything that determined this audio; the cache key of renderings and uploads.
    render_key = models.CharField(_("input key"), max_length=64, unique=True, null=True, blank=True)
    # What was read (normalised text) or the uploaded file's name: shown to people, not a key.
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("audio")
        verbose_name_plural = _("audio")

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.duration:.1f} s)"


class SpeechSettings(models.Model):
    """How a unit's bulletins are read; a unit without its own row inherits its nearest
    ancestor's (a province sets the voice once for all its communes)."""

    unit = models.OneToOneField(
        Unit, on_delete=models.CASCADE, related_name="speech_settings", verbose_name=_("unit")
    )
    engine = models.CharField(
        _("speech engine"), max_length=16, choices=EngineName.choices, default=EngineName.ESPEAK
    )
    voice = models.CharField(_("voice"), max_length=100, default="vi")
    rate = models.PositiveSmallIntegerField(
        _("speaking rate (syllables a minute)"),
        default=DEFAULT_RATE,
        validators=[MinValueValidator(MIN_RATE), MaxValueValidator(MAX_RATE)],
    )
    thousand = models.CharField(
        _("reading of thousands"), max_length=8, choices=Thousand.choices, default=Thousand.NGHIN
    )
    odd = models.CharField(
        _("reading of a zero tens digit"), max_length=8, choices=Odd.choices, default=Odd.LINH
    )
    target_lufs = models.FloatField(
        _("loudness target (LUFS)"),
        default=DEFAULT_TARGET_LUFS,
        validators=[MinValueValidator(MIN_TARGET_LUFS), MaxValueValidator(MAX_TARGET_LUFS)],
    )
    intro = models.ForeignKey(
        AudioAsset,
        verbose_name=_("intro jingle"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outro = models.ForeignKey(
        AudioAsset,
        verbose_name=_("outro jingle"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("speech settings")
        verbose_name_plural = _("speech settings")

    def __str__(self) -> str:
        return str(self.unit)


class Abbreviation(models.Model):
    """A unit's own reading of an abbreviation ("HTX.NN" -> "hợp tác xã nông nghiệp").

    Inherited down the tree: a commune reads its own entries, then its province's, then the
    built-in table; the nearest wins.
    """

    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="abbreviations", verbose_name=_("unit")
    )
    written = models.CharField(_("as written"), max_length=40)
    spoken = models.CharField(_("as read"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("abbreviation")
        verbose_name_plural = _("abbreviations")
        ordering = ["written"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "written"], name="speech_abbreviation_unique")
        ]

    def __str__(self) -> str:
        return f"{self.written} → {self.spoken}"


class BulletinAudio(models.Model):
    """A bulletin's programme audio: rendered from its reading text, uploaded, or recorded.

    Engine, voice and rate left empty follow the unit's settings; set, they override them for
    this bulletin only.
    """

    bulletin = models.OneToOneField(
        "bulletins.Bulletin",
        on_delete=models.CASCADE,
        related_name="speech_audio",
        verbose_name=_("bulletin"),
    )
    engine = models.CharField(
        _("speech engine"), max_length=16, choices=EngineName.choices, blank=True
    )
    voice = models.CharField(_("voice"), max_length=100, blank=True)
    rate = models.PositiveSmallIntegerField(
        _("speaking rate (syllables a minute)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_RATE), MaxValueValidator(MAX_RATE)],
    )
    asset = models.ForeignKey(
        AudioAsset,
        verbose_name=_("audio"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bulletin_audio",
    )
    source = models.CharField(_("source"), max_length=16, choices=AudioSource.choices, blank=True)
    # SHA-256 of the reading text the asset was rendered from: a later edit makes it stale.
    text_sha256 = models.CharField(_("SHA-256 of the text read"), max_length=64, blank=True)
    job = models.ForeignKey(
        "jobs.JobStatus",
        verbose_name=_("rendering job"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "bulletin__unit"

    class Meta:
        verbose_name = _("bulletin audio")
        verbose_name_plural = _("bulletin audio")

    def __str__(self) -> str:
        return str(self.bulletin)

"""Speech settings, abbreviations, and bulletin audio: what may change, by whom, with an audit.

Rendering runs as a background job (`tasks.render_bulletin_audio`) with progress and
cancellation; uploads and browser recordings are processed in the request (decoding and loudness
take a second or two per ten minutes of audio, and the person sees a refusal on the form at once).
Assets are content-addressed and written atomically: a file appears under its final name only when
complete, and a database row only when both files exist.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils.translation import gettext as _

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from thongtincoso.jobs.models import JobStatus
from thongtincoso.units.models import Unit

from . import dsp, pipeline
from .clip import Clip
from .engines import ENGINE_NAMES, get_engine
from .engines.base import MAX_RATE, MIN_RATE, Engine, Voice
from .errors import SpeechError
from .messages import message_for
from .models import (
    MAX_TARGET_LUFS,
    MIN_TARGET_LUFS,
    Abbreviation,
    AudioAsset,
    AudioSource,
    BulletinAudio,
    EngineName,
    Odd,
    SpeechSettings,
    Thousand,
    asset_name,
)
from .normalizer import ReadingOptions

# Sent after a bulletin's programme audio was rendered (broadcasting re-plans on it). Uploads and
# removals happen only while the bulletin is a draft, so they never change what is on the air.
audio_changed = Signal()  # kwargs: bulletin

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User
    from thongtincoso.bulletins.models import Bulletin

log = logging.getLogger(__name__)

# Under nginx's client_max_body_size (100m, deploy/nginx/ttcs.conf), with room for the form.
MAX_UPLOAD_BYTES = 90 * 1024 * 1024
MAX_ABBREVIATION_WRITTEN = 40
MAX_ABBREVIATION_SPOKEN = 200

# What a unit's own settings row holds besides its jingles (copied when a unit gets its own row).
SETTINGS_FIELDS = ("engine", "voice", "rate", "thousand", "odd", "target_lufs")

# Who may change how a unit's bulletins sound: its administrators and its broadcast operators.
SETTINGS_ACTIONS = (Action.MANAGE_USERS, Action.BROADCAST)


def _speech_error(exc: SpeechError, field: str | None = None) -> ServiceError:
    return ServiceError(message_for(exc), field=field)


def _require_unit(actor: User | None, unit: Unit, actions: tuple[str, ...]) -> None:
    if any(policy.may(actor, a, unit) for a in actions):
        return
    if policy.may(actor, Action.VIEW, unit):
        raise PermissionDeniedError(
            _("You are not allowed to change this unit's speech settings or abbreviations.")
        )
    raise NotFoundError(_("Unit not found."))


# --- Settings -----------------------------------------------------------------------------------


def speech_settings_for(unit: Unit) -> SpeechSettings:
    """The settings in force for a unit: its own row, else its nearest ancestor's, else defaults."""
    own = (
        SpeechSettings.objects.filter(unit__in=unit.ancestors(include_self=True))
        .select_related("unit", "intro", "outro")
        .order_by("-unit__depth")
        .first()
    )
    return own or SpeechSettings(unit=unit)


def engine_for(name: str) -> Engine:
    """An engine configured from the settings (voice directory, service endpoint and key)."""
    if name == EngineName.PIPER:
        return get_engine(name, voice_dir=settings.TTCS_PIPER_VOICE_DIR)
    if name == EngineName.HTTP:
        config = settings.TTCS_TTS_HTTP
        if not config.get("url"):
            raise SpeechError("unknown_engine", name=name)
        return get_engine(name, **config)
    return get_engine(name)


def engines_available() -> list[tuple[str, str]]:
    """Engines this server can use now, as (value, label) choices: the HTTP service only when
    configured, Piper only when a voice file is there."""
    choices = []
    for value, label in EngineName.choices:
        if voices_of(value):
            choices.append((value, str(label)))
    return choices


def voices_of(engine_name: str) -> list[Voice]:
    try:
        return engine_for(engine_name).voices()
    except SpeechError:
        return []


def _check_voice(engine_name: str, voice: str) -> None:
    if engine_name not in ENGINE_NAMES:
        raise ServiceError(_("Choose a speech engine from the list."), field="engine")
    voices = voices_of(engine_name)
    if not voices:
        raise ServiceError(
            _("The speech engine “%(name)s” is not available on this server.")
            % {"name": EngineName(engine_name).label},
            field="engine",
        )
    if voice not in {v.id for v in voices}:
        raise ServiceError(
            _("The voice “%(voice)s” is not available for this engine; choose one of: %(list)s.")
            % {"voice": voice, "list": ", ".join(v.id for v in voices)},
            field="voice",
        )


def _check_rate(rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ServiceError(
            _("The speaking rate must be between %(min)d and %(max)d syllables a minute.")
            % {"min": MIN_RATE, "max": MAX_RATE},
            field="rate",
        )


def speech_settings_update(
    *,
    actor: User | None,
    unit: Unit,
    engine: str,
    voice: str,
    rate: int,
    thousand: str,
    odd: str,
    target_lufs: float,
) -> SpeechSettings:
    _require_unit(actor, unit, SETTINGS_ACTIONS)
    _check_voice(engine, voice)
    _check_rate(rate)
    if thousand not in Thousand.values or odd not in Odd.values:
        raise ServiceError(_("Choose the regional readings from the lists."), field="thousand")
    if not MIN_TARGET_LUFS <= target_lufs <= MAX_TARGET_LUFS:
        raise ServiceError(
            _("The loudness target must be between %(min)s and %(max)s LUFS.")
            % {"min": MIN_TARGET_LUFS, "max": MAX_TARGET_LUFS},
            field="target_lufs",
        )
    fields = SETTINGS_FIELDS
    with transaction.atomic():
        current = SpeechSettings.objects.select_for_update().filter(unit=unit).first()
        before = {f: getattr(current, f) for f in fields} if current else None
        current = current or SpeechSettings(unit=unit)
        current.engine, current.voice, current.rate = engine, voice, rate
        current.thousand, current.odd, current.target_lufs = thousand, odd, float(target_lufs)
        current.save()
        audit_record(
            actor=actor,
            action="speech.settings.update",
            obj=current,
            unit=unit,
            before=before,
            after={f: getattr(current, f) for f in fields},
        )
    return current


def jingle_set(
    *, actor: User | None, unit: Unit, which: str, stream: IO[bytes] | None, name: str = ""
) -> SpeechSettings:
    """Set (or, with no stream, clear) the unit's intro or outro jingle.

    The jingle goes through the same decode -> loudness -> encode path as any upload, so a quiet
    or a hot file sounds like the speech around it.
    """
    _require_unit(actor, unit, SETTINGS_ACTIONS)
    if which not in ("intro", "outro"):
        raise ServiceError(_("Unknown jingle."))
    inherited = speech_settings_for(unit)
    asset = None
    if stream is not None:
        asset = _asset_from_upload(
            _read_limited(stream),
            target_lufs=inherited.target_lufs,
            source=AudioSource.JINGLE,
            description=name,
        )
    with transaction.atomic():
        current = SpeechSettings.objects.select_for_update().filter(unit=unit).first()
        if current is None:
            # The unit gets its own row, starting from what it inherited.
            current = SpeechSettings(
                unit=unit,
                **{f: getattr(inherited, f) for f in SETTINGS_FIELDS},
                intro=inherited.intro,
                outro=inherited.outro,
            )
        before = getattr(current, f"{which}_id")
        setattr(current, which, asset)
        current.save()
        audit_record(
            actor=actor,
            action="speech.jingle.set",
            obj=current,
            unit=unit,
            before={which: before},
            after={which: asset.sha256 if asset else None},
        )
    return current


# --- Abbreviations ------------------------------------------------------------------------------


def abbreviations_for(unit: Unit) -> dict[str, str]:
    """A unit's abbreviation table: the province's entries, overridden by the commune's own."""
    table: dict[str, str] = {}
    rows = (
        Abbreviation.objects.filter(unit__in=unit.ancestors(include_self=True))
        .order_by("unit__depth", "written")
        .values_list("written", "spoken")
    )
    for written, spoken in rows:
        table[written] = spoken
    return table


def reading_options_for(unit: Unit) -> ReadingOptions:
    config = speech_settings_for(unit)
    return ReadingOptions(
        thousand=config.thousand, odd=config.odd, abbreviations=abbreviations_for(unit)
    )


def _clean_abbreviation(written: str, spoken: str) -> tuple[str, str]:
    written = " ".join(written.split())
    spoken = " ".join(spoken.split())
    if not written or not spoken:
        raise ServiceError(_("Write both the abbreviation and how it is read."), field="written")
    if len(written) > MAX_ABBREVIATION_WRITTEN or " " in written:
        raise ServiceError(
            _("An abbreviation is one word of at most %(n)d characters, as written.")
            % {"n": MAX_ABBREVIATION_WRITTEN},
            field="written",
        )
    if len(spoken) > MAX_ABBREVIATION_SPOKEN:
        raise ServiceError(
            _("The reading may have at most %(n)d characters.") % {"n": MAX_ABBREVIATION_SPOKEN},
            field="spoken",
        )
    if any(ch.isdigit() for ch in spoken):
        raise ServiceError(
            _("Write the reading in words, without digits (“hai mươi”, not “20”)."),
            field="spoken",
        )
    return written, spoken


def abbreviation_save(
    *,
    actor: User | None,
    unit: Unit,
    written: str,
    spoken: str,
    abbreviation: Abbreviation | None = None,
) -> Abbreviation:
    """Add a unit's own abbreviation, or change one (editors of the unit may)."""
    _require_unit(actor, abbreviation.unit if abbreviation else unit, (Action.EDIT,))
    written, spoken = _clean_abbreviation(written, spoken)
    action = "speech.abbreviation.update" if abbreviation else "speech.abbreviation.add"
    before = (
        {"written": abbreviation.written, "spoken": abbreviation.spoken} if abbreviation else None
    )
    row = abbreviation or Abbreviation(unit=unit, created_by=actor)
    row.written, row.spoken = written, spoken
    try:
        with transaction.atomic():
            row.save()
            audit_record(
                actor=actor,
                action=action,
                obj=row,
                unit=row.unit,
                before=before,
                after={"written": written, "spoken": spoken},
            )
    except IntegrityError as exc:
        raise ServiceError(
            _("“%(written)s” is already in this unit's list; change that entry instead.")
            % {"written": written},
            field="written",
        ) from exc
    return row


def abbreviation_remove(*, actor: User | None, abbreviation: Abbreviation) -> None:
    _require_unit(actor, abbreviation.unit, (Action.EDIT,))
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="speech.abbreviation.remove",
            obj=abbreviation,
            unit=abbreviation.unit,
            before={"written": abbreviation.written, "spoken": abbreviation.spoken},
        )
        abbreviation.delete()


# --- Assets -------------------------------------------------------------------------------------


def _write_atomically(name: str, data: bytes) -> None:
    """Store `data` under `name` so that the name only ever holds the complete file.

    On the local file system: a temporary file in the same directory, fsync, then rename. Object
    stores (S3) make a PUT visible only when complete, so they take the plain save.
    """
    if default_storage.exists(name):
        return  # content-addressed: the same name always holds the same bytes
    if not isinstance(storages["default"], FileSystemStorage):
        default_storage.save(name, ContentFile(data))
        return
    target = Path(default_storage.path(name))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_asset(
    rendered: pipeline.Rendered,
    *,
    source: str,
    render_key: str | None,
    description: str = "",
    target_lufs: float,
) -> AudioAsset:
    """Files first (atomically, named by their SHA-256), then the row; an existing asset with the
    same MP3 or the same input key is returned as it is."""
    sha = hashlib.sha256(rendered.mp3).hexdigest()
    if render_key:
        cached = AudioAsset.objects.filter(render_key=render_key).first()
        if cached:
            return cached
    existing = AudioAsset.objects.filter(sha256=sha).first()
    if existing:
        return existing
    opus_sha = hashlib.sha256(rendered.opus).hexdigest()
    _write_atomically(asset_name(sha, "mp3"), rendered.mp3)
    _write_atomically(asset_name(opus_sha, "opus"), rendered.opus)
    asset = AudioAsset(
        sha256=sha,
        mp3_size=len(rendered.mp3),
        opus_sha256=opus_sha,
        opus_size=len(rendered.opus),
        duration=round(rendered.loudness.duration, 3),
        integrated_lufs=round(rendered.loudness.integrated_lufs, 2),
        true_peak_dbtp=round(rendered.loudness.true_peak_dbtp, 2),
        target_lufs=target_lufs,
        sample_rate=rendered.sample_rate,
        source=source,
        render_key=render_key,
        description=description[:2000],
    )
    asset.mp3.name = asset_name(sha, "mp3")
    asset.opus.name = asset_name(opus_sha, "opus")
    try:
        with transaction.atomic():
            asset.save(force_insert=True)
    except IntegrityError:
        # Rendered twice at the same time (two workers): the other one's row stands.
        found = AudioAsset.objects.filter(sha256=sha).first() or (
            AudioAsset.objects.filter(render_key=render_key).first() if render_key else None
        )
        if found is None:
            raise
        return found
    return asset


def _read_limited(stream: IO[bytes]) -> bytes:
    data = stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ServiceError(
            _("This file is larger than %(limit)s MB.") % {"limit": MAX_UPLOAD_BYTES // 2**20}
        )
    return data


def _asset_from_upload(
    data: bytes, *, target_lufs: float, source: str, description: str
) -> AudioAsset:
    key = _upload_key(data, target_lufs)
    cached = AudioAsset.objects.filter(render_key=key).first()
    if cached:
        return cached
    try:
        rendered = pipeline.prepare_upload(data, target_lufs=target_lufs)
    except SpeechError as exc:
        raise _speech_error(exc, field="file") from exc
    return store_asset(
        rendered,
        source=source,
        render_key=key,
        description=description,
        target_lufs=target_lufs,
    )


def upload_asset(*, unit: Unit, stream: IO[bytes], source: str, name: str = "") -> AudioAsset:
    """Any uploaded or recorded file at the unit's loudness, as an asset (for other apps: a
    station's filler music, an emergency recording). Refusals name the field "file"."""
    config = speech_settings_for(unit)
    return _asset_from_upload(
        _read_limited(stream),
        target_lufs=config.target_lufs,
        source=source,
        description=name[:200],
    )


def _upload_key(data: bytes, target_lufs: float) -> str:
    material = f"upload|{pipeline.PIPELINE_VERSION}|{round(target_lufs, 2)}|".encode()
    return hashlib.sha256(material + hashlib.sha256(data).digest()).hexdigest()


def asset_clip(asset: AudioAsset) -> Clip:
    with default_storage.open(asset.mp3.name, "rb") as fh:
        return dsp.decode(fh.read(), min_seconds=0)


# --- Bulletin audio -----------------------------------------------------------------------------


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _require_bulletin_edit(actor: User | None, bulletin: Bulletin) -> None:
    if policy.may(actor, Action.EDIT, bulletin):
        if not bulletin.is_editable:
            raise ConflictError(
                _("The audio can only be changed while the bulletin is a draft or returned.")
            )
        return
    if policy.may(actor, Action.VIEW, bulletin):
        raise PermissionDeniedError(_("You are not allowed to do this with this bulletin."))
    raise NotFoundError(_("Bulletin not found."))


def bulletin_audio_of(bulletin: Bulletin) -> BulletinAudio | None:
    return BulletinAudio.objects.select_related("asset", "job").filter(bulletin=bulletin).first()


def voice_for(bulletin: Bulletin, row: BulletinAudio | None = None) -> tuple[str, str, int]:
    """(engine, voice, rate) for a bulletin: its own overrides, else its unit's settings."""
    config = speech_settings_for(bulletin.unit)
    row = row if row is not None else bulletin_audio_of(bulletin)
    if row is not None and row.engine:
        return row.engine, row.voice or config.voice, row.rate or config.rate
    return config.engine, config.voice, (row.rate if row and row.rate else config.rate)


def is_stale(bulletin: Bulletin, row: BulletinAudio | None) -> bool:
    """Speech rendered from a reading text that has changed since."""
    return bool(
        row
        and row.asset_id
        and row.source == AudioSource.SPEECH
        and row.text_sha256 != text_sha256(bulletin.reading_text)
    )


def audio_render_start(
    *,
    actor: User | None,
    bulletin: Bulletin,
    engine: str = "",
    voice: str = "",
    rate: int | None = None,
    system: bool = False,
) -> JobStatus:
    """Check the text and the voice now (so mistakes show on the page), then render in the
    background. `system` renders for publication, where the bulletin is no longer editable."""
    from .tasks import render_bulletin_audio

    if not system:
        _require_bulletin_edit(actor, bulletin)
    if engine:
        _check_voice(engine, voice)
    if rate is not None:
        _check_rate(rate)
    try:
        pipeline.prepare_script(bulletin.reading_text, reading_options_for(bulletin.unit))
    except SpeechError as exc:
        raise _speech_error(exc, field="reading_text") from exc
    with transaction.atomic():
        row, _created = BulletinAudio.objects.select_for_update().get_or_create(bulletin=bulletin)
        if row.job_id and row.job and not row.job.is_finished:
            raise ConflictError(_("The audio is already being rendered; wait or cancel it."))
        if not system:
            # The editor's choice for this bulletin; empty follows the unit's settings.
            row.engine, row.voice, row.rate = engine, voice if engine else "", rate
            row.updated_by = actor
        from thongtincoso.jobs.services import job_start

        job = job_start(
            render_bulletin_audio,
            row.pk,
            title=_("Audio of “%(title)s”") % {"title": bulletin.title[:200]},
            unit=bulletin.unit,
            created_by=actor,
        )
        row.job = job
        row.save()
        audit_record(
            actor=actor,
            action="speech.audio.render",
            obj=bulletin,
            unit=bulletin.unit,
            after={"engine": engine, "voice": voice, "rate": rate, "job": str(job.pk)},
        )
    return job


def render_bulletin(row_id: int, progress: Any = None) -> dict[str, Any]:
    """The job's work: render the bulletin's current reading text and attach the asset.

    Idempotent: a retry finds the cached asset. Raises SpeechError with a code the job page turns
    into a message; Cancelled (from `progress`) leaves nothing behind.
    """
    row = BulletinAudio.objects.select_related("bulletin", "bulletin__unit").get(pk=row_id)
    bulletin = row.bulletin
    engine_name, voice, rate = voice_for(bulletin, row)
    config = speech_settings_for(bulletin.unit)
    script = pipeline.prepare_script(bulletin.reading_text, reading_options_for(bulletin.unit))
    engine = engine_for(engine_name)
    key = pipeline.render_key(
        script,
        engine=engine_name,
        engine_fingerprint=engine.fingerprint(voice),
        voice=voice,
        rate=rate,
        target_lufs=config.target_lufs,
        intro_sha256=config.intro.sha256 if config.intro else "",
        outro_sha256=config.outro.sha256 if config.outro else "",
    )
    asset = AudioAsset.objects.filter(render_key=key).first()
    cached = asset is not None
    if asset is None:
        rendered = pipeline.render(
            script,
            engine,
            voice=voice,
            rate=rate,
            target_lufs=config.target_lufs,
            intro=asset_clip(config.intro) if config.intro else None,
            outro=asset_clip(config.outro) if config.outro else None,
            progress=progress,
        )
        asset = store_asset(
            rendered,
            source=AudioSource.SPEECH,
            render_key=key,
            description=script.text,
            target_lufs=config.target_lufs,
        )
    with transaction.atomic():
        BulletinAudio.objects.filter(pk=row.pk).update(
            asset=asset,
            source=AudioSource.SPEECH,
            text_sha256=text_sha256(bulletin.reading_text),
        )
        audit_record(
            actor=None,
            action="speech.audio.rendered",
            obj=bulletin,
            unit=bulletin.unit,
            after={"sha256": asset.sha256, "cached": cached, "duration": asset.duration},
        )
        # A published bulletin's audio arriving (rendered on publication) puts it on the air.
        transaction.on_commit(lambda: audio_changed.send(sender=BulletinAudio, bulletin=bulletin))
    return {
        "sha256": asset.sha256,
        "duration": asset.duration,
        "loudness": asset.integrated_lufs,
        "true_peak": asset.true_peak_dbtp,
        "cached": cached,
    }


def audio_upload(
    *,
    actor: User | None,
    bulletin: Bulletin,
    stream: IO[bytes],
    name: str = "",
    source: str = AudioSource.UPLOAD,
) -> AudioAsset:
    """Use an uploaded file or a browser recording as the bulletin's audio (same loudness path)."""
    _require_bulletin_edit(actor, bulletin)
    if source not in (AudioSource.UPLOAD, AudioSource.RECORDING):
        raise ServiceError(_("Unknown audio source."))
    data = _read_limited(stream)
    config = speech_settings_for(bulletin.unit)
    asset = _asset_from_upload(
        data, target_lufs=config.target_lufs, source=source, description=name[:200]
    )
    with transaction.atomic():
        row, _created = BulletinAudio.objects.select_for_update().get_or_create(bulletin=bulletin)
        if row.job_id and row.job and not row.job.is_finished:
            raise ConflictError(_("The audio is being rendered; cancel that first."))
        before = row.asset.sha256 if row.asset else None
        row.asset, row.source, row.text_sha256, row.updated_by = asset, source, "", actor
        row.save()
        audit_record(
            actor=actor,
            action="speech.audio.upload",
            obj=bulletin,
            unit=bulletin.unit,
            before={"sha256": before},
            after={"sha256": asset.sha256, "source": source, "duration": asset.duration},
        )
    return asset


def audio_remove(*, actor: User | None, bulletin: Bulletin) -> None:
    _require_bulletin_edit(actor, bulletin)
    with transaction.atomic():
        row = BulletinAudio.objects.select_for_update().filter(bulletin=bulletin).first()
        if row is None or row.asset_id is None:
            return
        before = row.asset.sha256 if row.asset else None
        row.asset, row.source, row.text_sha256 = None, "", ""
        row.save()
        audit_record(
            actor=actor,
            action="speech.audio.remove",
            obj=bulletin,
            unit=bulletin.unit,
            before={"sha256": before},
        )

"""/api/v1: bulletin audio (render, upload, status), the normaliser, and jobs' cancellation.

Same rules as the bulletin API: objects come through the policy (404 when out of scope), services
answer 403/409/400 with a message that says what to fix.
"""

# No `from __future__ import annotations`: ninja reads the evaluated signatures.
from typing import Any

from django.http import Http404, HttpRequest
from django.urls import reverse
from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status
from pydantic import Field

from thongtincoso.accounts import policy
from thongtincoso.accounts.api_auth import api_auth
from thongtincoso.accounts.roles import Action
from thongtincoso.bulletins import selectors as bulletin_selectors
from thongtincoso.bulletins.models import MAX_ID, Bulletin
from thongtincoso.core.errors import ServiceError
from thongtincoso.units.selectors import unit_for

from . import pipeline, services
from .engines.base import MAX_RATE, MIN_RATE
from .errors import SpeechError
from .messages import message_for
from .models import AudioAsset, AudioSource
from .normalizer import ReadingOptions, count_syllables, normalize, split_sentences

router = Router(tags=["speech"], auth=api_auth)


class AssetOut(Schema):
    sha256: str
    mp3_url: str
    opus_url: str
    mp3_size: int
    opus_size: int
    duration: float
    integrated_lufs: float
    true_peak_dbtp: float
    target_lufs: float
    source: str


class JobOut(Schema):
    id: str
    state: str
    percent: int | None
    stage: str
    message: str
    url: str


class BulletinAudioOut(Schema):
    asset: AssetOut | None
    stale: bool = Field(description="Rendered from a reading text that has changed since")
    source: str
    engine: str
    voice: str
    rate: int
    job: JobOut | None


class RenderIn(Schema):
    engine: str = Field("", description="Empty: the unit's engine (espeak, piper, http)")
    voice: str = ""
    rate: int | None = Field(None, ge=MIN_RATE, le=MAX_RATE, description="Syllables a minute")


class NormalizeIn(Schema):
    text: str = Field(..., max_length=pipeline.MAX_TEXT_CHARS)
    unit: str = Field("", description="Read with this unit's abbreviations and regional readings")


class NormalizeOut(Schema):
    spoken: str
    sentences: list[str]
    syllables: int


def _bulletin(request: HttpRequest, bulletin_id: int) -> Bulletin:
    bulletin = (
        bulletin_selectors.bulletin_for(request.user, bulletin_id)
        if 0 < bulletin_id <= MAX_ID
        else None
    )
    if bulletin is None:
        raise Http404(f"No bulletin {bulletin_id}")
    return bulletin


def asset_out(asset: AudioAsset) -> dict[str, Any]:
    return {
        "sha256": asset.sha256,
        "mp3_url": reverse("speech:audio_file", args=[asset.sha256, "mp3"]),
        "opus_url": reverse("speech:audio_file", args=[asset.opus_sha256, "opus"]),
        "mp3_size": asset.mp3_size,
        "opus_size": asset.opus_size,
        "duration": asset.duration,
        "integrated_lufs": asset.integrated_lufs,
        "true_peak_dbtp": asset.true_peak_dbtp,
        "target_lufs": asset.target_lufs,
        "source": asset.source,
    }


def _audio_out(bulletin: Bulletin) -> dict[str, Any]:
    row = services.bulletin_audio_of(bulletin)
    engine, voice, rate = services.voice_for(bulletin, row)
    job = row.job if row else None
    return {
        "asset": asset_out(row.asset) if row and row.asset else None,
        "stale": services.is_stale(bulletin, row),
        "source": row.source if row else "",
        "engine": engine,
        "voice": voice,
        "rate": rate,
        "job": _job_out(job) if job else None,
    }


def _job_out(job: Any) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "state": job.state,
        "percent": job.percent,
        "stage": job.stage,
        "message": job.message,
        "url": reverse("web:job_progress", args=[job.pk]),
    }


@router.get(
    "/bulletins/{bulletin_id}/audio",
    response=BulletinAudioOut,
    summary="A bulletin's audio: the finished asset and the state of its rendering",
)
def bulletin_audio(request: HttpRequest, bulletin_id: int) -> dict[str, Any]:
    return _audio_out(_bulletin(request, bulletin_id))


@router.post(
    "/bulletins/{bulletin_id}/audio/render",
    response={202: BulletinAudioOut},
    summary="Render the reading text to loudness-normalised MP3 and Opus in the background",
)
def bulletin_audio_render(
    request: HttpRequest, bulletin_id: int, payload: RenderIn
) -> Status[dict[str, Any]]:
    bulletin = _bulletin(request, bulletin_id)
    services.audio_render_start(
        actor=policy.acting_user(request),
        bulletin=bulletin,
        engine=payload.engine,
        voice=payload.voice if payload.engine else "",
        rate=payload.rate,
    )
    bulletin.refresh_from_db()
    return Status(202, _audio_out(bulletin))


@router.post(
    "/bulletins/{bulletin_id}/audio/upload",
    response=BulletinAudioOut,
    summary="Use an audio file (judged by decoding) as the bulletin's audio, at its loudness",
)
def bulletin_audio_upload(
    request: HttpRequest,
    bulletin_id: int,
    file: File[UploadedFile],
    source: Form[str] = AudioSource.UPLOAD,
) -> dict[str, Any]:
    bulletin = _bulletin(request, bulletin_id)
    services.audio_upload(
        actor=policy.acting_user(request),
        bulletin=bulletin,
        stream=file,
        name=file.name or "",
        source=source,
    )
    return _audio_out(bulletin)


@router.post(
    "/speech/normalize",
    response=NormalizeOut,
    summary="How a text is read aloud: the normaliser's spoken form, split into sentences",
)
def speech_normalize(request: HttpRequest, payload: NormalizeIn) -> dict[str, Any]:
    options = ReadingOptions()
    if payload.unit:
        unit = unit_for(request.user, payload.unit, Action.VIEW)
        if unit is None:
            raise Http404(f"No unit with code {payload.unit!r}")
        options = services.reading_options_for(unit)
    if not payload.text.strip():
        # Named like schema errors ("text: …"), so API clients see which field to fix.
        raise ServiceError(f"text: {message_for(SpeechError('text_empty'))}", field="text")
    spoken = normalize(payload.text, options)
    return {
        "spoken": spoken,
        "sentences": split_sentences(spoken),
        "syllables": count_syllables(spoken),
    }


@router.post(
    "/jobs/{job_id}/cancel",
    response=JobOut,
    summary="Cancel a queued or running background job (a rendering, an import)",
    tags=["jobs"],
)
def job_cancel(request: HttpRequest, job_id: str) -> dict[str, Any]:
    import uuid

    from thongtincoso.jobs.selectors import jobs_visible
    from thongtincoso.jobs.services import job_cancel as cancel

    try:
        key = uuid.UUID(job_id)
    except ValueError as exc:
        raise Http404(f"No job {job_id}") from exc
    user = policy.acting_user(request)
    job = jobs_visible(user).filter(pk=key).first()
    if job is None:
        raise Http404(f"No job {job_id}")
    cancel(job, actor=user)
    job.refresh_from_db()
    return _job_out(job)

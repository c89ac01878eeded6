"""Speech pages: a bulletin's audio panel, a unit's speech settings and abbreviations, audio files.

Thin: forms check shapes, services decide. The audio panel is one partial that htmx swaps in place
(and polls while a rendering runs); without JavaScript every form posts and redirects back.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.bulletins import selectors as bulletin_selectors
from thongtincoso.bulletins.models import Bulletin
from thongtincoso.core.errors import NotFoundError, ServiceError
from thongtincoso.core.throttling import public_rate_limit
from thongtincoso.portal.downloads import stored_file_response
from thongtincoso.web.shortcuts import form_error, scoped_unit

from . import dsp, pipeline, selectors, services
from .errors import SpeechError
from .forms import (
    AbbreviationForm,
    AudioUploadForm,
    JingleForm,
    PreviewForm,
    RenderForm,
    SpeechSettingsForm,
)
from .messages import message_for
from .models import Abbreviation
from .normalizer import normalize

PREVIEW_MAX_CHARS = 300
IMMUTABLE_MAX_AGE = 365 * 24 * 3600


def _bulletin(request: HttpRequest, pk: Any) -> Bulletin:
    bulletin = bulletin_selectors.bulletin_for(request.user, pk)
    if bulletin is None:
        raise Http404
    return bulletin


# --- A bulletin's audio -------------------------------------------------------------------------


def panel_context(
    request: HttpRequest, bulletin: Bulletin, *, error: str = "", **forms: Any
) -> dict[str, Any]:
    row = services.bulletin_audio_of(bulletin)
    engine, voice, rate = services.voice_for(bulletin, row)
    job = row.job if row else None
    can_edit = bulletin.is_editable and policy.may(request.user, Action.EDIT, bulletin)
    return {
        "bulletin": bulletin,
        "row": row,
        "asset": row.asset if row else None,
        "stale": services.is_stale(bulletin, row),
        "job": job,
        "rendering": job is not None and not job.is_finished,
        "voice_used": f"{engine} · {voice} · {rate}",
        "can_edit": can_edit,
        "error": error,
        "render_form": forms.get("render_form")
        or RenderForm(
            initial={
                "engine_voice": f"{row.engine}:{row.voice}" if row and row.engine else "",
                "rate": row.rate if row else None,
            }
        ),
        "upload_form": forms.get("upload_form") or AudioUploadForm(),
    }


def _panel(
    request: HttpRequest, bulletin: Bulletin, status: int = 200, **kwargs: Any
) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        return render(
            request,
            "speech/_bulletin_audio.html",
            panel_context(request, bulletin, **kwargs),
            status=status,
        )
    if kwargs.get("error"):
        messages.error(request, kwargs["error"])
    return redirect(reverse("bulletins:detail", args=[bulletin.pk]) + "#audio")


@login_required
@require_GET
def bulletin_audio(request: HttpRequest, pk: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    return render(request, "speech/_bulletin_audio.html", panel_context(request, bulletin))


@login_required
@require_POST
def bulletin_audio_render(request: HttpRequest, pk: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    form = RenderForm(request.POST)
    if not form.is_valid():
        return _panel(request, bulletin, status=400, render_form=form)
    try:
        services.audio_render_start(
            actor=policy.acting_user(request), bulletin=bulletin, **form.service_fields()
        )
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        return _panel(request, bulletin, status=400, error=str(exc.message))
    return _panel(request, bulletin)


@login_required
@require_POST
def bulletin_audio_upload(request: HttpRequest, pk: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    form = AudioUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _panel(request, bulletin, status=400, upload_form=form)
    upload = form.cleaned_data["file"]
    try:
        services.audio_upload(
            actor=policy.acting_user(request),
            bulletin=bulletin,
            stream=upload,
            name=upload.name or "",
            source=form.cleaned_data["source"],
        )
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        form_error(form, exc)
        return _panel(request, bulletin, status=400, upload_form=form)
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, _("The audio is ready."))
    return _panel(request, bulletin)


@login_required
@require_POST
def bulletin_audio_remove(request: HttpRequest, pk: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    try:
        services.audio_remove(actor=policy.acting_user(request), bulletin=bulletin)
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        return _panel(request, bulletin, status=400, error=str(exc.message))
    return _panel(request, bulletin)


@public_rate_limit
@require_GET
def audio_file(request: HttpRequest, sha256: str, extension: str) -> HttpResponseBase:
    """An asset's MP3 or Opus by its SHA-256: immutable, so cacheable for a year once public."""
    if extension not in ("mp3", "opus") or len(sha256) != 64:
        raise Http404
    asset = selectors.asset_by_hash(sha256, extension)
    if asset is None:
        raise Http404
    allowed, public = selectors.asset_access(request.user, asset)
    if not allowed:
        raise Http404
    field = asset.mp3 if extension == "mp3" else asset.opus
    return stored_file_response(
        request,
        name=field.name,
        content_type="audio/mpeg" if extension == "mp3" else "audio/ogg",
        filename=f"{sha256[:16]}.{extension}",
        inline=True,
        etag=sha256,
        public=public,
        max_age=IMMUTABLE_MAX_AGE,
    )


# --- A unit's speech settings -------------------------------------------------------------------


def _settings_initial(unit: Any) -> dict[str, Any]:
    current = services.speech_settings_for(unit)
    return {
        "engine_voice": f"{current.engine}:{current.voice}",
        "rate": current.rate,
        "thousand": current.thousand,
        "odd": current.odd,
        "target_lufs": current.target_lufs,
    }


def _settings_page(
    request: HttpRequest, unit: Any, status: int = 200, **forms: Any
) -> HttpResponse:
    current = services.speech_settings_for(unit)
    own = current.pk is not None and current.unit_id == unit.pk
    may_settings = any(policy.may(request.user, a, unit) for a in services.SETTINGS_ACTIONS)
    return render(
        request,
        "speech/settings.html",
        {
            "unit": unit,
            "current": current,
            "own": own,
            "inherited_from": current.unit if current.pk and not own else None,
            "may_settings": may_settings,
            "may_edit": policy.may(request.user, Action.EDIT, unit),
            "form": forms.get("form") or SpeechSettingsForm(initial=_settings_initial(unit)),
            "jingle_form": forms.get("jingle_form") or JingleForm(),
            "abbreviation_form": forms.get("abbreviation_form") or AbbreviationForm(),
            "preview_form": PreviewForm(),
            "own_abbreviations": Abbreviation.objects.filter(unit=unit),
            "inherited_abbreviations": Abbreviation.objects.filter(
                unit__in=unit.ancestors(include_self=False)
            ).select_related("unit"),
        },
        status=status,
    )


@login_required
def unit_speech(request: HttpRequest, code: str) -> HttpResponse:
    unit = scoped_unit(request, code)
    if request.method != "POST":
        return _settings_page(request, unit)
    form = SpeechSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.speech_settings_update(
                actor=policy.acting_user(request), unit=unit, **form.service_fields()
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Speech settings saved."))
            return redirect("speech:settings", code=unit.code)
    return _settings_page(request, unit, status=400, form=form)


@login_required
@require_POST
def unit_jingle(request: HttpRequest, code: str) -> HttpResponse:
    unit = scoped_unit(request, code)
    form = JingleForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data.get("file")
        if not upload and not form.cleaned_data.get("clear"):
            form.add_error("file", _("Choose an audio file, or tick “Remove this jingle”."))
        else:
            try:
                services.jingle_set(
                    actor=policy.acting_user(request),
                    unit=unit,
                    which=form.cleaned_data["which"],
                    stream=None if form.cleaned_data.get("clear") else upload,
                    name=getattr(upload, "name", "") or "",
                )
            except NotFoundError as exc:
                raise Http404 from exc
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Jingle saved."))
                return redirect("speech:settings", code=unit.code)
    return _settings_page(request, unit, status=400, jingle_form=form)


@login_required
@require_POST
def unit_abbreviation_add(request: HttpRequest, code: str) -> HttpResponse:
    unit = scoped_unit(request, code)
    form = AbbreviationForm(request.POST)
    if form.is_valid():
        existing = Abbreviation.objects.filter(
            unit=unit, written=form.cleaned_data["written"].strip()
        ).first()
        try:
            services.abbreviation_save(
                actor=policy.acting_user(request),
                unit=unit,
                abbreviation=existing,
                **form.cleaned_data,
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Abbreviation saved."))
            return redirect(reverse("speech:settings", args=[unit.code]) + "#abbreviations")
    return _settings_page(request, unit, status=400, abbreviation_form=form)


@login_required
@require_POST
def unit_abbreviation_remove(request: HttpRequest, code: str, item_id: int) -> HttpResponse:
    unit = scoped_unit(request, code)
    row = get_object_or_404(Abbreviation, pk=item_id, unit=unit)
    try:
        services.abbreviation_remove(actor=policy.acting_user(request), abbreviation=row)
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Abbreviation removed."))
    return redirect(reverse("speech:settings", args=[unit.code]) + "#abbreviations")


@login_required
@require_POST
def unit_preview(request: HttpRequest, code: str) -> HttpResponse:
    """htmx: how the unit's settings read a sentence (the spoken form, and a player for it)."""
    unit = scoped_unit(request, code)
    form = PreviewForm(request.POST)
    spoken, error = "", ""
    if form.is_valid():
        spoken = normalize(form.cleaned_data["text"], services.reading_options_for(unit))
        if not spoken:
            error = _("Nothing in this text can be read aloud.")
    else:
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
    return render(
        request,
        "speech/_preview.html",
        {
            "unit": unit,
            "spoken": spoken,
            "error": error,
            "text": request.POST.get("text", "")[:PREVIEW_MAX_CHARS],
        },
        status=200 if not error else 400,
    )


@login_required
@require_GET
def unit_preview_audio(request: HttpRequest, code: str) -> HttpResponse:
    """A short sample in the unit's voice, rendered on the spot and not stored."""
    unit = scoped_unit(request, code)
    text = request.GET.get("text", "")[:PREVIEW_MAX_CHARS]
    config = services.speech_settings_for(unit)
    try:
        script = pipeline.prepare_script(text, services.reading_options_for(unit))
        engine = services.engine_for(config.engine)
        speech = pipeline.synthesise(script, engine, voice=config.voice, rate=config.rate)
        programme = dsp.normalize_loudness(speech, target_lufs=config.target_lufs)
        data = dsp.encode_mp3(programme)
    except SpeechError as exc:
        return HttpResponse(message_for(exc), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(data, content_type="audio/mpeg")
    response["Cache-Control"] = "private, no-store"
    return response

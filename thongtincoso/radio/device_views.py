"""The device protocol over HTTP: /api/device/v1/…, /device-manifests/<capability>.json and
/device-alerts/<province code>.json.

Plain function views: devices authenticate with `Authorization: Bearer <credential>`, never with
sessions or CSRF tokens. The manifest poll has a fast path that touches no database: the
capability is computed from the bearer token, the file is stat'ed, and an unchanged ETag answers
304. Every answer is JSON; bad input gets a 4xx saying what is wrong (and counts as a fault in
the device's health when the device is known). docs/device-protocol.md describes it all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from thongtincoso.core.errors import ServiceError
from thongtincoso.core.throttling import PublicRateThrottle

from . import credentials, ingest
from .manifests import etag_for, utc_iso
from .models import Device

ENROL_LIMIT = 4 * 1024
HEARTBEAT_LIMIT = 64 * 1024
PLAYLOG_LIMIT = 1024 * 1024
PLAYLOG_MAX_EVENTS = 500
MANIFEST_CACHE_CONTROL = "private, no-cache"
ALERTS_CACHE_CONTROL = "no-cache"  # public information, like a CAP feed; always revalidated
AUDIO_CACHE_CONTROL = "private, max-age=31536000, immutable"


# --- Input schemas (strict: a number is not a string, a string is not a number) ------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class EnrolIn(_Strict):
    enrolment_code: str = Field(max_length=40)


class CommandAckIn(_Strict):
    id: int = Field(ge=1)
    ok: bool
    message: str = Field(default="", max_length=300)


class HeartbeatIn(_Strict):
    status: str = Field(default="", max_length=40)
    volume: int | None = Field(default=None, ge=0, le=100)
    firmware: str | None = Field(default=None, max_length=100)
    free_storage_mb: int | None = Field(default=None, ge=0, le=2**31 - 1)
    clock_offset_ms: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    current_item: str | None = Field(default=None, max_length=120)
    commands: list[CommandAckIn] = Field(default_factory=list, max_length=100)


class PlayEventIn(_Strict):
    event_id: str = Field(min_length=1, max_length=64)
    item_key: str = Field(min_length=1, max_length=120)
    started_at: AwareDatetime
    ended_at: AwareDatetime
    played_seconds: float = Field(ge=0, le=86400)
    outcome: Literal["completed", "partial", "preempted", "failed"]
    title: str = Field(default="", max_length=300)
    audio_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    device: str | None = Field(default=None, max_length=40)


class PlaylogIn(_Strict):
    # Each event is checked on its own: one bad event must not hold back the rest of the queue.
    events: list[Any] = Field(max_length=PLAYLOG_MAX_EVENTS)


# --- Helpers -------------------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, detail: str, status: int = 400, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail, self.status, self.field = detail, status, field


def _json_response(body: Any, *, status: int = 200) -> JsonResponse:
    # Vietnamese as it is, not as \u escapes (like /api/v1/); still valid JSON.
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def _error(detail: str, status: int, field: str | None = None) -> JsonResponse:
    body: dict[str, Any] = {"detail": detail}
    if field:
        body["field"] = field
    response = _json_response(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="ttcs-device"'
    return response


def _unauthorised() -> JsonResponse:
    return _error(_("Unknown or revoked device credential."), 401)


def _bearer(request: HttpRequest) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _authenticate(request: HttpRequest) -> Device | None:
    token = _bearer(request)
    return credentials.device_for_credential(token) if token else None


def _body(request: HttpRequest, limit: int) -> bytes:
    """The request body, refused before reading when it announces more than `limit` bytes."""
    raw_length = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw_length)
    except ValueError as exc:
        raise _BadRequest(_("Content-Length is not a number.")) from exc
    if length > limit:
        raise _BadRequest(
            _("The request is too large; send at most %(kb)s KB.") % {"kb": limit // 1024}, 413
        )
    body = request.body
    if len(body) > limit:
        raise _BadRequest(
            _("The request is too large; send at most %(kb)s KB.") % {"kb": limit // 1024}, 413
        )
    return body


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: "[[[[…" nested thousands deep is not JSON any device sends.
        raise _BadRequest(_("The body is not valid JSON.")) from exc


def _validation_problem(exc: ValidationError) -> tuple[str, str | None]:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    message = first.get("msg", "")
    if field:
        return _("%(field)s: %(problem)s") % {"field": field, "problem": message}, field
    return str(message), None


def _validate(model: type[BaseModel], body: bytes) -> Any:
    data = _json(body)
    if not isinstance(data, dict):
        raise _BadRequest(_("The body must be a JSON object."))
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        detail, field = _validation_problem(exc)
        raise _BadRequest(detail, 400, field) from exc


def device_endpoint(
    limit: int,
) -> Callable[[Callable[[HttpRequest, Device, bytes], HttpResponseBase]], Any]:
    """A POST endpoint for an authenticated device with a body of at most `limit` bytes.

    Bad input answers a JSON 4xx and is counted as a fault of the device.
    """

    def decorate(view: Callable[[HttpRequest, Device, bytes], HttpResponseBase]) -> Any:
        @csrf_exempt
        @require_http_methods(["POST"])
        def wrapped(request: HttpRequest) -> HttpResponseBase:
            device = _authenticate(request)
            if device is None:
                return _unauthorised()
            try:
                body = _body(request, limit)
                return view(request, device, body)
            except _BadRequest as exc:
                ingest.record_fault(device, f"{request.path}: {exc.detail}")
                return _error(exc.detail, exc.status, exc.field)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate


def _poll_interval(device: Device) -> int:
    from .slots import broadcast_rules_for

    return int(broadcast_rules_for(device.commune).poll_interval_seconds)


def _provinces(device: Device) -> list[str]:
    """The codes of the province(s) above the device's commune (one, in practice)."""
    from thongtincoso.units.models import PATH_SEGMENT_WIDTH, Unit, UnitKind

    path = device.commune.path
    ancestors = [path[:i] for i in range(PATH_SEGMENT_WIDTH, len(path), PATH_SEGMENT_WIDTH)]
    return list(
        Unit.objects.filter(path__in=ancestors, kind=UnitKind.PROVINCE)
        .order_by("path")
        .values_list("code", flat=True)
    )


def _mqtt_topics(device: Device, provinces: list[str]) -> list[str]:
    topics = [f"ttcs/devices/{device.code}/events"]
    if device.zone_id and device.zone:
        topics.append(f"ttcs/zones/{device.zone.code}/events")
    topics.append(f"ttcs/communes/{device.commune.code}/events")
    topics.extend(f"ttcs/provinces/{code}/events" for code in provinces)
    return topics


class _EnrolThrottle(PublicRateThrottle):
    scope = "device_enrol"


# --- Enrolment -----------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def enrol(request: HttpRequest) -> HttpResponseBase:
    """Exchange a one-time enrolment code for the device's credential."""
    throttle = _EnrolThrottle("1/s")
    if not throttle.allow_request(request):
        response = _error(_("Too many requests. Wait a moment and try again."), 429)
        wait = throttle.wait()
        if wait:
            response["Retry-After"] = str(int(wait) + 1)
        return response
    try:
        payload = _validate(EnrolIn, _body(request, ENROL_LIMIT))
        device, credential = credentials.enrol(payload.enrolment_code)
    except _BadRequest as exc:
        return _error(exc.detail, exc.status, exc.field)
    except ServiceError as exc:
        return _error(str(exc.message), 400, exc.field)
    capability = credentials.capability_for(credential)
    provinces = _provinces(device)
    return _json_response(
        {
            "device": device.code,
            "kind": device.kind,
            "commune": device.commune.code,
            "zone": device.zone.code if device.zone_id and device.zone else None,
            "credential": credential,
            "manifest_url": credentials.manifest_url(capability),
            "poll_interval": _poll_interval(device),
            "mqtt_topics": _mqtt_topics(device, provinces),
            "alerts_url": f"/device-alerts/{provinces[0]}.json" if provinces else None,
        },
        status=201,
    )


# --- Manifest ------------------------------------------------------------------------------------


def _etag_matches(request: HttpRequest, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate in (etag, "*"):
            return True
    return False


def _file_response(
    request: HttpRequest,
    path: os.PathLike[str] | str,
    cache_control: str = MANIFEST_CACHE_CONTROL,
) -> HttpResponse | None:
    """A manifest or alerts file as 200 or 304 (None when there is no file). No database."""
    try:
        with open(path, "rb") as stream:
            etag = etag_for(os.fstat(stream.fileno()))
            if _etag_matches(request, etag):
                response = HttpResponse(status=304)
            else:
                response = HttpResponse(
                    b"" if request.method == "HEAD" else stream.read(),
                    content_type="application/json",
                )
    except FileNotFoundError:
        return None
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response


@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def manifest(request: HttpRequest) -> HttpResponseBase:
    """The device's manifest; 304 when If-None-Match holds the current ETag."""
    token = _bearer(request)
    if not token or len(token) > 100:
        return _unauthorised()
    path = credentials.manifest_path(credentials.capability_for(token))
    response = _file_response(request, path)
    if response is not None:
        return response
    # No file: a revoked or unknown credential, or a device not rendered yet.
    device = credentials.device_for_credential(token)
    if device is None:
        return _unauthorised()
    from .manifests import build_manifest, canonical_json, refresh

    refresh([device])
    response = _file_response(request, path)
    if response is None:  # written and removed at once (revoked meanwhile): answer from memory
        response = HttpResponse(
            canonical_json(build_manifest(device)), content_type="application/json"
        )
        response["Cache-Control"] = MANIFEST_CACHE_CONTROL
    return response


@require_http_methods(["GET", "HEAD"])
def manifest_file(request: HttpRequest, capability: str) -> HttpResponseBase:
    """/device-manifests/<capability>.json: what nginx serves in production."""
    try:
        path = credentials.manifest_path(capability)
    except ValueError:
        path = None
    response = _file_response(request, path) if path is not None else None
    if response is None:
        return _error(_("Not found."), 404)
    return response


@require_http_methods(["GET", "HEAD"])
def alerts_file(request: HttpRequest, code: str) -> HttpResponseBase:
    """/device-alerts/<province code>.json: the emergencies on air there (alerts.py). Public, no
    credential; nginx or the fast path serve the file in production, this answers without them,
    and writes a province's file when it is first asked for."""
    from . import alerts

    try:
        path = alerts.alerts_path(code)
    except ValueError:
        return _error(_("Not found."), 404)
    response = _file_response(request, path, ALERTS_CACHE_CONTROL)
    if response is None and alerts.is_province(code):
        alerts.write_alerts([code])
        response = _file_response(request, path, ALERTS_CACHE_CONTROL)
    if response is None:
        return _error(_("Not found."), 404)
    return response


# --- Audio ---------------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def audio(request: HttpRequest, sha256: str) -> HttpResponseBase:
    """An MP3 by its SHA-256: immutable, with Range."""
    from django.http import Http404

    from thongtincoso.portal.downloads import stored_file_response
    from thongtincoso.speech.models import AudioAsset

    if _authenticate(request) is None:
        return _unauthorised()
    etag = f'"{sha256}"'
    if _etag_matches(request, etag):
        response: HttpResponseBase = HttpResponse(status=304)
        response["ETag"] = etag
        response["Cache-Control"] = AUDIO_CACHE_CONTROL
        return response
    asset = AudioAsset.objects.filter(sha256=sha256).only("sha256", "mp3").first()
    if asset is None or not asset.mp3:
        return _error(_("No audio with this SHA-256."), 404)
    try:
        response = stored_file_response(
            request,
            name=asset.mp3.name,
            content_type="audio/mpeg",
            filename=f"{sha256}.mp3",
            inline=True,
            etag=sha256,
            public=False,
        )
    except Http404:
        return _error(_("No audio with this SHA-256."), 404)
    response["Cache-Control"] = AUDIO_CACHE_CONTROL
    return response


# --- Reports from the device ---------------------------------------------------------------------


@device_endpoint(HEARTBEAT_LIMIT)
def heartbeat(request: HttpRequest, device: Device, body: bytes) -> HttpResponseBase:
    """Health and command acknowledgements; answers the server time and the manifest's ETag."""
    payload: HeartbeatIn = _validate(HeartbeatIn, body)
    ingest.heartbeat_ingest(device, payload.model_dump())
    device.refresh_from_db(fields=["manifest_etag"])
    return _json_response(
        {
            "server_time": utc_iso(timezone.now()),
            "manifest_etag": device.manifest_etag,
            "poll_interval": _poll_interval(device),
        }
    )


@device_endpoint(PLAYLOG_LIMIT)
def playlog(request: HttpRequest, device: Device, body: bytes) -> HttpResponseBase:
    """A batch of play events; idempotent by event id."""
    from django.utils.translation import gettext as _

    envelope: PlaylogIn = _validate(PlaylogIn, body)
    for index, raw in enumerate(envelope.events):
        named = raw.get("device") if isinstance(raw, dict) else None
        if named is not None and named != device.code:
            raise _BadRequest(
                _("A device may only report its own play events."), 403, f"events.{index}.device"
            )
    valid: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for index, raw in enumerate(envelope.events):
        try:
            event = PlayEventIn.model_validate_json(json.dumps(raw))
        except ValidationError as exc:
            detail, _field = _validation_problem(exc)
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            invalid.append(
                {
                    "index": index,
                    "event_id": event_id if isinstance(event_id, str) else None,
                    "detail": detail,
                }
            )
            continue
        valid.append({"index": index, **event.model_dump()})
    result = ingest.playlog_ingest(device, valid)
    # Indexes in the answer refer to the posted list.
    for rejection in result["rejected"]:
        rejection["index"] = valid[rejection["index"]]["index"]
    if invalid:
        ingest.record_fault(
            device,
            _("%(n)s play events rejected: %(d)s") % {"n": len(invalid), "d": invalid[0]["detail"]},
        )
    result["rejected"] = sorted(invalid + result["rejected"], key=lambda r: r["index"])
    return _json_response(result)


@device_endpoint(ENROL_LIMIT)
def credential_rotate(request: HttpRequest, device: Device, body: bytes) -> HttpResponseBase:
    """A new credential (the old one and its manifest URL stop working at once)."""
    try:
        credential = credentials.credential_rotate(device)
    except ServiceError as exc:
        return _error(str(exc.message), 401)
    return _json_response(
        {
            "credential": credential,
            "manifest_url": credentials.manifest_url(credentials.capability_for(credential)),
        }
    )

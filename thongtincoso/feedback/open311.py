"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) at /open311/v2/.

Other applications (a city app, a national portal) read our categories and public feedback and
post feedback on behalf of their users. Plain Django views rather than the ninja API: the
specification wants XML as well as JSON, and its own error format (`<errors><error>`), on every
path, including unknown ones.

What leaves here is built from `public.py` only (the same view of a feedback as the portal's), so
the sender's name, phone, e-mail and device id never appear in a response. Extensions to the
specification, documented in docs/open311.md: `commune_code` (required on POST, a filter on GET)
and photo uploads as multipart `media` files. `media_url` is ignored: the server never fetches
addresses a client names.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from thongtincoso.core.errors import ServiceError
from thongtincoso.core.throttling import PortalRateThrottle

from . import abuse, public, services
from .models import (
    MAX_PHOTOS,
    OPEN_STATUSES,
    Category,
    CategoryAttribute,
    Feedback,
    Open311Client,
    Photo,
    Source,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this endpoint's behaviour last changed (discovery "changeset"); bump with the docs.
CHANGESET = "2025-07-01T00:00:00+07:00"
KEY_SERVICE = "python manage.py open311_key create --name NAME; ask the province's administrator"
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The end of a working day: an answer "due" on a date is expected by then.
DUE_TIME = dt.time(17, 0)
DEFAULT_WINDOW = dt.timedelta(days=90)
MAX_RESULTS = 1000
MAX_IDS = 200
FORMATS = ("xml", "json")
CONTENT_TYPES = {
    "xml": "text/xml; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
# Our field names in ServiceError → the Open311 parameter the client sent.
PARAMETER_OF_FIELD = {
    "category": "service_code",
    "commune": "commune_code",
    "address": "address_string",
    "photos": "media",
    "name": "first_name",
}
# XML: the element name of one item in each list-valued field.
XML_ITEM = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
_ATTRIBUTE_PARAM = re.compile(r"^attribute\[([^\[\]]{1,40})\](\[\])?$")
# Characters XML 1.0 cannot carry at all (a description may hold any of them).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class FormatConverter:
    """`<fmt:fmt>`: the response format, "xml" or "json"."""

    regex = "xml|json"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


# --- Rendering ----------------------------------------------------------------------------------


class Open311Error(Exception):
    """Answered in the specification's error format with HTTP status = code."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def _xml_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_ILLEGAL.sub("", str(value))


def _xml_fill(element: ET.Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        child = ET.SubElement(element, key)
        if isinstance(value, list):
            item_name = XML_ITEM[key]
            for item in value:
                node = ET.SubElement(child, item_name)
                if isinstance(item, dict):
                    _xml_fill(node, item)
                else:
                    node.text = _xml_text(item)
        elif isinstance(value, dict):
            _xml_fill(child, value)
        else:
            child.text = _xml_text(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render(
    data: dict[str, Any] | list[dict[str, Any]],
    fmt: str,
    *,
    root: str,
    item: str = "",
    status: int = 200,
) -> HttpResponse:
    """`data` as the specification's JSON, or as XML under `root` (list items named `item`)."""
    if fmt == "xml":
        element = ET.Element(root)
        if isinstance(data, list):
            for entry in data:
                _xml_fill(ET.SubElement(element, item), entry)
        else:
            _xml_fill(element, data)
        body = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    else:
        body = json.dumps(data, ensure_ascii=False, default=_json_value).encode()
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])


def error_response(fmt: str, error: Open311Error) -> HttpResponse:
    response = render(
        [{"code": error.code, "description": error.description}],
        fmt if fmt in FORMATS else "json",
        root="errors",
        item="error",
        status=error.code,
    )
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def endpoint(
    *, methods: Iterable[str] = ("GET",)
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Method check, the per-address limit on reads, CORS on reads, errors in the spec's format.

    Anything unexpected while reading the request (a broken multipart body, too many fields)
    is the client's fault and answers 400; it must never surface as a server error page.
    """
    allowed = tuple(methods)

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, fmt: str = "json", **kwargs: Any) -> Any:
            method = "GET" if request.method == "HEAD" else request.method
            try:
                if method == "OPTIONS":
                    response = HttpResponse(status=204)
                    response["Allow"] = ", ".join(allowed)
                    _cors(response)
                    return response
                if method not in allowed:
                    response = error_response(
                        fmt,
                        Open311Error(
                            405,
                            _("This address accepts only %(allowed)s.")
                            % {"allowed": ", ".join(allowed)},
                        ),
                    )
                    response["Allow"] = ", ".join(allowed)
                    return response
                if method == "GET":
                    _read_limit(request)
                response = view(request, *args, fmt=fmt, **kwargs)
            except Open311Error as exc:
                response = error_response(fmt, exc)
            except RequestDataTooBig:
                response = error_response(fmt, Open311Error(413, _("The request is too large.")))
            except (
                BadRequest,
                MultiPartParserError,
                SuspiciousOperation,
                TooManyFieldsSent,
                UnicodeDecodeError,
            ):
                response = error_response(
                    fmt, Open311Error(400, _("The request could not be read."))
                )
            if method == "GET":
                _cors(response)
            return response

        return csrf_exempt(wrapped) if "POST" in allowed else wrapped

    return decorate


def _cors(response: HttpResponse) -> None:
    # Public data, read by other sites' pages; no cookies are involved.
    response["Access-Control-Allow-Origin"] = "*"


def _read_limit(request: HttpRequest) -> None:
    """The portal's per-address limit (TTCS_PORTAL_RATE), answered in the spec's format."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return
    throttle = PortalRateThrottle("1/s")
    if not throttle.allow_request(request):
        wait = throttle.wait()
        raise Open311Error(
            429,
            _("Too many requests. Wait a moment and try again."),
            retry_after=int(wait) + 1 if wait else 60,
        )


def w3c(value: dt.datetime | None) -> str:
    """A W3C datetime with Việt Nam's offset: 2025-07-01T09:30:00+07:00."""
    if value is None:
        return ""
    return value.astimezone(VN_TZ).isoformat(timespec="seconds")


def expected_datetime(due: dt.date) -> str:
    return dt.datetime.combine(due, DUE_TIME, tzinfo=VN_TZ).isoformat(timespec="seconds")


def service_notice(due: dt.date) -> str:
    return _("Expected answer by %(date)s") % {"date": due.strftime("%d/%m/%Y")}


# --- Discovery and services ---------------------------------------------------------------------


@endpoint()
def discovery(request: HttpRequest, *, fmt: str) -> HttpResponse:
    base = request.build_absolute_uri(reverse("open311:discovery", kwargs={"fmt": fmt}))
    base = base.rsplit("/", 1)[0]
    data = {
        "changeset": CHANGESET,
        "contact": settings.DEFAULT_FROM_EMAIL or "",
        "key_service": KEY_SERVICE,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(data, fmt, root="discovery")


def active_categories() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True).annotate(
        has_attributes=Exists(CategoryAttribute.objects.filter(category=OuterRef("pk")))
    )


@endpoint()
def service_list(request: HttpRequest, *, fmt: str) -> HttpResponse:
    data = [
        {
            "service_code": category.code,
            "service_name": category.name,
            "description": category.description,
            "metadata": bool(category.has_attributes),  # type: ignore[attr-defined]
            "type": "realtime",
            "keywords": category.keywords,
            "group": category.group,
        }
        for category in active_categories()
    ]
    return render(data, fmt, root="services", item="service")


@endpoint()
def service_definition(request: HttpRequest, *, fmt: str, service_code: str) -> HttpResponse:
    category = Category.objects.filter(code=service_code, is_active=True).first()
    if category is None:
        raise Open311Error(404, _("service_code not found"))
    attributes = [
        {
            "variable": True,
            "code": attribute.code,
            "datatype": attribute.datatype,
            "required": attribute.required,
            "datatype_description": str(attribute.get_datatype_display()),
            "order": order,
            "description": attribute.description,
            "values": [
                {"key": str(value.get("key", "")), "name": str(value.get("name", ""))}
                for value in attribute.values or []
            ],
        }
        for order, attribute in enumerate(category.attributes.all(), start=1)
    ]
    return render(
        {"service_code": category.code, "attributes": attributes},
        fmt,
        root="service_definition",
    )


# --- Posting a request --------------------------------------------------------------------------


def _post_data(request: HttpRequest) -> tuple[QueryDict, MultiValueDict[str, Any]]:
    data, files = request.POST, request.FILES
    # PostgreSQL text cannot hold NUL; no honest client sends one (the web form refuses it too).
    for key, values in data.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            raise Open311Error(400, _("The request contains a NUL character."))
    return data, files


def _client(data: QueryDict) -> Open311Client:
    client = services.open311_client_for_key(data.get("api_key", "").strip())
    if client is None:
        raise Open311Error(403, _("api_key is missing, unknown or revoked."))
    return client


def _touch(client: Open311Client) -> None:
    # At most one write a minute per key: an UPDATE on every POST would make each request a
    # writer, and SQLite lets only one writer in at a time.
    now = timezone.now()
    if client.last_used_at is not None and now - client.last_used_at < dt.timedelta(minutes=1):
        return
    Open311Client.objects.filter(pk=client.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - dt.timedelta(minutes=1))
    ).update(last_used_at=now)


def _seconds_left(limit: abuse.Limit) -> int:
    """Until the limit's fixed window ends (its counts reset then)."""
    _allowed, seconds = abuse.parse_rate(limit.rate)
    return seconds - int(time.time()) % seconds


def _attributes(data: QueryDict) -> dict[str, Any]:
    """attribute[code]=v and, for multivaluelist, attribute[code][]=v (repeated)."""
    out: dict[str, list[str]] = {}
    for key, values in data.lists():
        match = _ATTRIBUTE_PARAM.match(key)
        if match:
            out.setdefault(match.group(1), []).extend(values)
    return {code: values[0] if len(values) == 1 else values for code, values in out.items()}


def _error_from_service(exc: ServiceError) -> Open311Error:
    field = PARAMETER_OF_FIELD.get(exc.field or "", exc.field or "")
    message = str(exc.message)
    return Open311Error(400, f"{field}: {message}" if field else message)


@endpoint(methods=("GET", "POST"))
def request_collection(request: HttpRequest, *, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _create(request, fmt)
    return _search(request, fmt)


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    data, files = _post_data(request)
    client = _client(data)
    _touch(client)
    service_code = data.get("service_code", "").strip()
    if not service_code:
        raise Open311Error(400, _("service_code required"))
    if not Category.objects.filter(code=service_code[:40], is_active=True).exists():
        raise Open311Error(400, _("service_code not found"))
    lat, long = data.get("lat", "").strip(), data.get("long", "").strip()
    address = data.get("address_string", "").strip()
    address_id = data.get("address_id", "").strip()
    if not ((lat and long) or address or address_id):
        raise Open311Error(
            400, _("A location is required: lat and long, address_string or address_id.")
        )
    commune_code = data.get("commune_code", "").strip()
    if not commune_code:
        raise Open311Error(400, _("commune_code required"))
    media = files.getlist("media")
    if len(media) > MAX_PHOTOS:
        raise Open311Error(400, _("media: send at most %(n)d files.") % {"n": MAX_PHOTOS})
    name = " ".join(
        part for part in (data.get("first_name", ""), data.get("last_name", "")) if part.strip()
    )
    phone, email = data.get("phone", ""), data.get("email", "")
    limits = [
        abuse.open311_limit(client.pk),
        # One person relaying many reports through an application is limited like on the web.
        *abuse.submission_limits(
            ip=None, phone_key=services.phone_key(phone), email_key=services.email_key(email)
        ),
    ]
    # Reserved before validation (parallel requests cannot all pass), given back on a refusal.
    if not abuse.reserve(limits):
        full = [limit for limit in limits if limit.exceeded()] or limits
        raise Open311Error(
            429,
            _("Too many requests. Wait a moment and try again."),
            retry_after=max(_seconds_left(limit) for limit in full),
        )
    submission = services.Submission(
        category=service_code,
        commune=commune_code,
        description=data.get("description", ""),
        # Without a master address registry, an address_id is kept as the place text.
        address=address or address_id,
        lat=lat or None,
        long=long or None,
        attributes=_attributes(data),
        photos=[services.PhotoUpload(stream=upload, name=upload.name or "") for upload in media],
        name=name,
        phone=phone,
        email=email,
        source=Source.OPEN311,
        device_id=data.get("device_id", ""),
    )
    try:
        feedback = services.feedback_submit(submission=submission, api_client=client)
    except ServiceError as exc:
        abuse.release(limits)
        raise _error_from_service(exc) from exc
    return render(
        [
            {
                "service_request_id": feedback.code,
                "token": feedback.token,
                "service_notice": service_notice(feedback.due_date),
            }
        ],
        fmt,
        root="service_requests",
        item="request",
        status=201,
    )


@endpoint()
def token_lookup(request: HttpRequest, *, fmt: str, token: str) -> HttpResponse:
    feedback = Feedback.objects.filter(token=token).only("code", "token").first()
    if feedback is None:
        raise Open311Error(404, _("token not found"))
    return render(
        [{"service_request_id": feedback.code, "token": feedback.token}],
        fmt,
        root="service_requests",
        item="request",
    )


# --- Reading requests ---------------------------------------------------------------------------


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _when(name: str, value: str, *, end: bool) -> dt.datetime:
    """A W3C datetime (or a bare date: its start, or for end_date its end), naive as Việt Nam."""
    text = value.strip()
    parsed: dt.datetime | None = None
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            if day is not None:
                parsed = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
    except ValueError:
        parsed = None
    if parsed is None:
        raise Open311Error(
            400,
            _("%(name)s is not a W3C datetime such as 2025-07-01T08:00:00+07:00.") % {"name": name},
        )
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=VN_TZ)
    return parsed


def filtered_requests(params: QueryDict) -> QuerySet[Feedback]:
    """GET requests: the public queryset narrowed by the specification's filters and ours."""
    queryset = public.public_queryset()
    ids = _codes(params.get("service_request_id", ""))
    if ids:
        # Per the specification, a list of ids overrides every other filter.
        return queryset.filter(code__in=[services.normalise_code(i) for i in ids[:MAX_IDS]])
    service_codes = _codes(params.get("service_code", ""))
    if service_codes:
        queryset = queryset.filter(category__code__in=service_codes)
    communes = _codes(params.get("commune_code", ""))
    if communes:
        queryset = queryset.filter(commune__code__in=communes)
    statuses = {s.lower() for s in _codes(params.get("status", ""))}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, _("status must be open, closed or both (open,closed)."))
    if statuses == {"open"}:
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif statuses == {"closed"}:
        queryset = queryset.exclude(status__in=OPEN_STATUSES)
    start_text, end_text = params.get("start_date", ""), params.get("end_date", "")
    start = _when("start_date", start_text, end=False) if start_text.strip() else None
    end = _when("end_date", end_text, end=True) if end_text.strip() else None
    if start is None and end is None:
        start = timezone.now() - DEFAULT_WINDOW
    if start is not None and end is not None and start > end:
        raise Open311Error(400, _("start_date is after end_date."))
    if start is not None:
        queryset = queryset.filter(received_at__gte=start)
    if end is not None:
        queryset = queryset.filter(received_at__lte=end)
    return queryset


_NO_ANSWER = None  # to_public: "prefetched, and there is no published answer"


def _answers(feedback_items: list[Feedback]) -> dict[int, Any]:
    """Published answers of a page of feedback in one query (a merged one shares its master's)."""
    return public.published_answers(feedback_items)


def _request_fields(feedback: Feedback, answer: Any) -> dict[str, Any]:
    item = public.to_public(feedback, answer=answer)
    return {
        "service_request_id": item.code,
        "status": "open" if item.is_open else "closed",
        "status_notes": item.answer or item.reject_reason,
        "service_name": item.category_name,
        "service_code": item.category_code,
        "description": item.description,
        "agency_responsible": item.unit_name,
        "service_notice": service_notice(item.due_date),
        "requested_datetime": w3c(item.received_at),
        "updated_datetime": w3c(item.updated_at),
        "expected_datetime": expected_datetime(item.due_date),
        "address": item.address,
        "address_id": item.commune_code,
        "zipcode": "",
        "lat": item.lat,
        "long": item.long,
        # Photos may show people, number plates, homes: they are never public.
        "media_url": "",
    }


def _request_list(items: list[Feedback]) -> list[dict[str, Any]]:
    answers = _answers(items)
    return [_request_fields(f, answers.get(f.duplicate_of_id or f.pk, _NO_ANSWER)) for f in items]


def _search(request: HttpRequest, fmt: str) -> HttpResponse:
    # to_public() counts photos; one light query for the page instead of one per feedback.
    photos = Prefetch("photos", queryset=Photo.objects.only("id", "feedback_id"))
    queryset = filtered_requests(request.GET).prefetch_related(photos)
    items = list(queryset.order_by("-received_at", "-id")[:MAX_RESULTS])
    return render(_request_list(items), fmt, root="service_requests", item="request")


@endpoint()
def request_detail(request: HttpRequest, *, fmt: str, request_id: str) -> HttpResponse:
    code = services.normalise_code(request_id)
    feedback = public.public_queryset().filter(code=code).first() if code else None
    if feedback is None:
        raise Open311Error(404, _("service_request_id not found"))
    return render(_request_list([feedback]), fmt, root="service_requests", item="request")


def format_of_path(path: str) -> str:
    """The format a client asked for by its address: XML for ".xml", JSON otherwise (also for an
    address that names neither: JSON is the specification's default)."""
    return "xml" if path.lower().endswith(".xml") else "json"


def error_for_path(path: str, code: int, description: str) -> HttpResponse:
    """An error in the specification's format for an address that reached no endpoint (an
    unknown path; a request refused before routing, see core.middleware)."""
    return error_response(format_of_path(path), Open311Error(code, description))


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Every other address under /open311/v2/ (a wrong format, a typo): 404, in XML when the
    address ends in .xml, else JSON."""
    return error_for_path(request.path, 404, _("Not found. See discovery.xml or discovery.json."))

"""The citizens' feedback pages (no login): send, track by code, reopen, export, browse.

Thin: input goes to `services`, output comes from `public.py`'s projection only. These views
never read `Contact`; what a sender gave about themselves is shown back to no one here (the
export is the one exception, and it is built by the service after checking the sender's phone
or e-mail). Every address is rate-limited per client (public_urls.py); submissions and exports
carry their own, stricter limits (abuse.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, Any, cast

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from thongtincoso.core.errors import ConflictError, NotFoundError, ServiceError
from thongtincoso.core.middleware import client_ip
from thongtincoso.units.models import Unit, UnitKind

from . import abuse, public, services
from .models import DESCRIPTION_MAX, MAX_PHOTOS, AttributeType, Category, Feedback, Source, Status
from .photos import MAX_PHOTO_BYTES
from .public_forms import (
    ExportForm,
    ListFilterForm,
    LookupForm,
    ReopenForm,
    SubmitForm,
    attributes_from,
    commune_choices,
)

PAGE_SIZE = 20
# Strict: an export needs a code and the sender's phone or e-mail; guessing either is slow work.
EXPORT_RATE = "10/h"
MB = 1024 * 1024


# --- Helpers --------------------------------------------------------------------------------


# The tracking code is in the address: no other site may learn it from a Referer. Not
# "no-referrer": with it browsers send "Origin: null" on this site's own forms (reopen, the
# language switch), which CSRF protection must refuse; "same-origin" tells only this site, which
# already has the address.
REFERRER_POLICY = "same-origin"


def private_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """For pages whose address or content is the sender's own: no shared cache may keep them."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = REFERRER_POLICY
        return response

    return wrapped


def _message_page(
    request: HttpRequest, message: str, *, status: int, title: str = ""
) -> HttpResponse:
    return render(
        request,
        "feedback/public/message.html",
        {"title": title or _("Feedback not sent"), "message": message},
        status=status,
    )


def request_too_big(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The body was refused before any view could read it (too large, too many files or fields).

    Also called from config/urls.py's handler400, because CsrfViewMiddleware reads the body first.
    """
    message = _(
        "What you sent is too large to receive. Send at most %(photos)d photos of up to "
        "%(mb)d MB each, and a description of at most %(chars)d characters."
    ) % {"photos": MAX_PHOTOS, "mb": MAX_PHOTO_BYTES // MB, "chars": DESCRIPTION_MAX}
    return _message_page(request, message, status=400)


def _too_many(request: HttpRequest) -> HttpResponse:
    message = _(
        "Much feedback has been sent from this connection or with these contact details in a "
        "short time. Please wait an hour and try again, or contact your commune's People's "
        "Committee directly."
    )
    response = _message_page(request, message, status=429, title=_("Please wait"))
    response["Retry-After"] = "3600"
    return response


def _no_such_code(request: HttpRequest) -> HttpResponse:
    # One answer whatever the reason (unknown, mistyped, not public): a code cannot be probed.
    response = render(
        request,
        "feedback/public/not_found.html",
        {"lookup_form": LookupForm()},
        status=404,
    )
    return response


def _province_of(commune: Unit) -> Unit | None:
    return commune.ancestors().filter(kind=UnitKind.PROVINCE).first()


def _questions(category_code: str, given: dict[str, Any], error: tuple[str, str] | None) -> list:
    """The category's questions, shaped for the template, with the sender's answers so far."""
    category = Category.objects.filter(code=category_code, is_active=True).first()
    if category is None:
        return []
    rows = []
    for attribute in category.attributes.all():
        name = f"attribute[{attribute.code}]"
        value = given.get(attribute.code, "")
        chosen = value if isinstance(value, list) else ([value] if value else [])
        rows.append(
            {
                "code": attribute.code,
                "name": name,
                "question": attribute.description,
                "datatype": attribute.datatype,
                "required": attribute.required,
                "choices": [(str(v.get("key")), v.get("name")) for v in attribute.values or []],
                "value": value if isinstance(value, str) else "",
                "chosen": [str(c) for c in chosen],
                "error": error[1] if error and error[0] == name else "",
            }
        )
    return rows


def _submit_page(
    request: HttpRequest,
    form: SubmitForm,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    photos_lost: bool = False,
) -> HttpResponse:
    errors = errors or {}
    attribute_error = next(((k, v) for k, v in errors.items() if k.startswith("attribute[")), None)
    category = form["category"].value() or ""
    context = {
        "form": form,
        "questions": _questions(category, attributes_from(form.data), attribute_error)
        if form.is_bound
        else _questions(category, {}, None),
        "photo_error": errors.get("photos", ""),
        "location_error": errors.get("lat", ""),
        "photos_lost": photos_lost,
        "max_photos": MAX_PHOTOS,
        "max_photo_mb": MAX_PHOTO_BYTES // MB,
        "description_max": DESCRIPTION_MAX,
        "retention_days": _retention_days(),
        "attribute_types": AttributeType,
    }
    return render(request, "feedback/public/submit.html", context, status=status)


def _retention_days() -> int:
    from django.conf import settings

    return int(settings.TTCS_FEEDBACK_RETENTION_DAYS)


# --- Sending feedback -----------------------------------------------------------------------


@private_page
@require_http_methods(["GET", "HEAD", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _submit_post(request)
    initial: dict[str, str] = {}
    commune = (
        Unit.objects.current()
        .filter(code=request.GET.get("commune", "").strip(), kind=UnitKind.COMMUNE)
        .first()
    )
    if commune is not None:
        province = _province_of(commune)
        initial = {"commune": commune.code, "province": province.code if province else ""}
    elif request.GET.get("province"):
        initial = {"province": request.GET["province"].strip()}
    if request.GET.get("category"):
        initial["category"] = request.GET["category"].strip()
    return _submit_page(request, SubmitForm(initial=initial))


def _submit_post(request: HttpRequest) -> HttpResponse:
    try:
        data = request.POST
        uploads = request.FILES.getlist("photos")
    except (RequestDataTooBig, TooManyFilesSent, TooManyFieldsSent) as exc:
        return request_too_big(request, exc)
    # Checked before validation, counted only once stored: typos cost nothing.
    limits = abuse.submission_limits(
        ip=client_ip(request),
        phone_key=services.phone_key(data.get("phone", "")),
        email_key=services.email_key(data.get("email", "")),
    )
    if abuse.any_exceeded(limits):
        return _too_many(request)
    form = SubmitForm(data)
    form.is_valid()  # every field is optional text: this only fills cleaned_data
    if form.honeypot_filled:
        # Said plainly but without naming the trap, so a bot learns nothing to adjust.
        return _message_page(
            request, _("The feedback could not be accepted. Please try again."), status=400
        )
    values = form.cleaned_data
    submission = services.Submission(
        source=Source.WEB,
        category=values["category"],
        commune=values["commune"],
        description=values["description"],
        address=values["address"],
        lat=values["lat"] or None,
        long=values["long"] or None,
        attributes=attributes_from(data),
        photos=[
            services.PhotoUpload(stream=cast(IO[bytes], f), name=f.name or "photo") for f in uploads
        ],
        keep_location=values["keep_location"],
        name=values["name"],
        phone=values["phone"],
        email=values["email"],
        consent=values["consent"],
    )
    try:
        feedback = services.feedback_submit(submission=submission)
    except ServiceError as exc:
        errors: dict[str, str] = {}
        field = exc.field or ""
        if field in form.fields and field not in ("lat", "long"):
            form.add_error(field, str(exc.message))
        elif field in ("lat", "long", "photos") or field.startswith("attribute["):
            errors["lat" if field == "long" else field] = str(exc.message)
        else:
            form.add_error(None, str(exc.message))
        return _submit_page(request, form, status=400, errors=errors, photos_lost=bool(uploads))
    abuse.count_all(limits)
    url = reverse("feedback:track", args=[feedback.code]) + "?" + urlencode({"new": 1})
    return HttpResponseRedirect(url, status=303)


@require_safe
def communes(request: HttpRequest) -> HttpResponse:
    """<option>s of a province's communes in force (htmx, when the province changes)."""
    return render(
        request,
        "feedback/public/_commune_options.html",
        {
            "communes": commune_choices(request.GET.get("province", "").strip()),
            "selected": request.GET.get("commune", ""),
            "blank_label": _("All") if request.GET.get("any") else _("— Choose —"),
        },
    )


@require_safe
def questions(request: HttpRequest) -> HttpResponse:
    """The chosen category's extra questions (htmx, when the category changes)."""
    return render(
        request,
        "feedback/public/_questions.html",
        {
            "questions": _questions(request.GET.get("category", "").strip(), {}, None),
            "attribute_types": AttributeType,
        },
    )


# --- Tracking -------------------------------------------------------------------------------


@private_page
@require_safe
def lookup(request: HttpRequest) -> HttpResponse:
    form = LookupForm(request.GET or None)
    if form.is_valid():
        code = services.normalise_code(form.cleaned_data["code"])
        if code:
            return redirect("feedback:track", code=code)
        form.add_error("code", _("Enter the tracking code you were given."))
    return render(
        request, "feedback/public/lookup.html", {"form": form}, status=400 if form.errors else 200
    )


def _track_page(
    request: HttpRequest,
    code: str,
    *,
    reopen_form: ReopenForm | None = None,
    status: int = 200,
) -> HttpResponse:
    item = public.by_tracking_code(code)
    if item is None:
        return _no_such_code(request)
    # The row only answers "may it be reopened now?"; everything shown comes from `item`.
    row = Feedback.objects.filter(code=item.code).first()
    context = {
        "item": item,
        "is_new": request.GET.get("new") == "1",
        "reopened": request.GET.get("reopened") == "1",
        "may_reopen": row is not None and services.may_reopen(row),
        "reopen_form": reopen_form or ReopenForm(),
        "reopen_days": services.reopen_window().days,
        "private": True,
    }
    return render(request, "feedback/public/track.html", context, status=status)


@private_page
@require_safe
def track(request: HttpRequest, code: str) -> HttpResponse:
    return _track_page(request, code)


@private_page
@require_POST
def reopen(request: HttpRequest, code: str) -> HttpResponse:
    form = ReopenForm(request.POST)
    form.is_valid()
    try:
        feedback = services.feedback_reopen(code=code, reason=form.cleaned_data.get("reason", ""))
    except NotFoundError:
        return _no_such_code(request)
    except ServiceError as exc:
        form.add_error("reason" if exc.field == "reason" else None, str(exc.message))
        status = 409 if isinstance(exc, ConflictError) else 400
        return _track_page(request, code, reopen_form=form, status=status)
    url = reverse("feedback:track", args=[feedback.code]) + "?" + urlencode({"reopened": 1})
    return HttpResponseRedirect(url, status=303)


# --- A copy of one's own data ---------------------------------------------------------------


@private_page
@require_http_methods(["GET", "HEAD", "POST"])
def export(request: HttpRequest) -> HttpResponse:
    """The sender's copy of what is held about their feedback (Nghị định 13/2023, Article 9)."""
    if request.method != "POST":
        return render(request, "feedback/public/export.html", {"form": ExportForm()})
    # Every attempt counts, right or wrong: the limit is what makes guessing useless.
    limit = abuse.Limit(f"export-ip:{client_ip(request) or 'unknown'}", EXPORT_RATE)
    if limit.exceeded():
        return _too_many(request)
    limit.count()
    form = ExportForm(request.POST)
    form.is_valid()
    values = getattr(form, "cleaned_data", {})
    data = services.export_for_sender(
        code=values.get("code", ""), verification=values.get("verification", "")
    )
    if data is None:
        # The same words for an unknown code and a wrong phone or e-mail.
        form.add_error(
            None,
            _(
                "No feedback matches this tracking code together with this phone number or "
                "e-mail address. Check both and try again."
            ),
        )
        return render(request, "feedback/public/export.html", {"form": form}, status=400)
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = (
        f'attachment; filename="phan-anh-{data["tracking_code"]}.json"'
    )
    return response


# --- Public list ----------------------------------------------------------------------------


@require_safe
def public_list(request: HttpRequest) -> HttpResponse:
    form = ListFilterForm(request.GET or None)
    form.is_valid()
    values = getattr(form, "cleaned_data", {})
    rows = public.public_queryset()
    if values.get("commune"):
        rows = rows.filter(commune__code=values["commune"])
    elif values.get("province"):
        rows = rows.filter(commune__parent__code=values["province"])
    if values.get("category"):
        rows = rows.filter(category__code=values["category"])
    paginator = Paginator(rows.order_by("-received_at", "-id"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "items": [public.to_public(f) for f in page.object_list],
        "query": query.urlencode(),
        "answered": (Status.ANSWERED, Status.CLOSED),
    }
    return render(request, "feedback/public/list.html", context)


@require_safe
def public_detail(request: HttpRequest, code: str) -> HttpResponse:
    row = public.public_queryset().filter(code=services.normalise_code(code)).first()
    if row is None:
        return _no_such_code(request)
    context = {"item": public.to_public(row, with_events=True), "private": False}
    return render(request, "feedback/public/track.html", context)

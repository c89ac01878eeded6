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
    code_param,
    commune_choices,
)

PAGE_SIZE = 20
# Strict: an export needs a code and the sender's phone or e-mail; guessing either is slow work.
EXPORT_RATE = "10/h"
# Reopening asks for the same proof (or the sender key): as slow to guess, counted apart.
REOPEN_RATE = "10/h"
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
    category_code = code_param(category_code)
    if not category_code:
        return []
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
    commune_code = code_param(request.GET.get("commune"))
    commune = (
        Unit.objects.current().filter(code=commune_code, kind=UnitKind.COMMUNE).first()
        if commune_code
        else None
    )
    if commune is not None:
        province = _province_of(commune)
        initial = {"commune": commune.code, "province": province.code if province else ""}
    elif code_param(request.GET.get("province")):
        initial = {"province": code_param(request.GET.get("province"))}
    if code_param(request.GET.get("category")):
        initial["category"] = code_param(request.GET.get("category"))
    return _submit_page(request, SubmitForm(initial=initial))


def _submit_post(request: HttpRequest) -> HttpResponse:
    try:
        data = request.POST
        uploads = request.FILES.getlist("photos")
    except (RequestDataTooBig, TooManyFilesSent, TooManyFieldsSent) as exc:
        return request_too_big(request, exc)
    # Reserved before validation (parallel requests cannot all pass), given back when the
    # input is refused: typos cost nothing.
    limits = abuse.submission_limits(
        ip=client_ip(request),
        phone_key=services.phone_key(data.get("phone", "")),
        email_key=services.email_key(data.get("email", "")),
    )
    if not abuse.reserve(limits):
        return _too_many(request)
    form = SubmitForm(data)
    if form.honeypot_filled:
        # Said plainly but without naming the trap, so a bot learns nothing to adjust. Its
        # reservation is kept: a bot's attempts count.
        return _message_page(
            request, _("The feedback could not be accepted. Please try again."), status=400
        )
    if not form.is_valid():
        # Every field is optional text, so only what Django refuses in any text (a NUL
        # character) gets here.
        abuse.release(limits)
        # lat and long are hidden inputs: their error is shown with the map.
        hidden = [str(e) for name in ("lat", "long") for e in form.errors.get(name, [])]
        return _submit_page(
            request,
            form,
            status=400,
            errors={"lat": hidden[0]} if hidden else None,
            photos_lost=bool(uploads),
        )
    values = form.cleaned_data
    if _missing_required(form):
        # Everything missing said at once, instead of one refusal per attempt.
        abuse.release(limits)
        return _submit_page(request, form, status=400, photos_lost=bool(uploads))
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
        abuse.release(limits)
        return _submit_page(request, form, status=400, errors=errors, photos_lost=bool(uploads))
    # The receipt carries the sender key: the link that lets its holder (and nobody who merely
    # read the tracking code) reopen the feedback.
    query = urlencode({"new": "1", "key": feedback.token})
    url = reverse("feedback:track", args=[feedback.code]) + "?" + query
    return HttpResponseRedirect(url, status=303)


def _missing_required(form: SubmitForm) -> bool:
    """Adds an error to each required answer left empty; True if there was any.

    The same rules and words as services.feedback_submit, which checks them again."""
    values = form.cleaned_data
    missing = {
        "category": _("Choose a category from the list."),
        "commune": _("Choose the commune or ward where it happened."),
        "description": _("Describe what you want to report."),
    }
    found = False
    for field, message in missing.items():
        if not (values.get(field) or "").strip():
            form.add_error(field, message)
            found = True
    has_point = bool((values.get("lat") or "").strip() or (values.get("long") or "").strip())
    if not (values.get("address") or "").strip() and not has_point:
        form.add_error(
            "address",
            _("Say where it is: write the place (street, hamlet, landmark) or mark it on the map."),
        )
        found = True
    return found


@require_safe
def communes(request: HttpRequest) -> HttpResponse:
    """<option>s of a province's communes in force (htmx, when the province changes)."""
    return render(
        request,
        "feedback/public/_commune_options.html",
        {
            "communes": commune_choices(code_param(request.GET.get("province"))),
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
            "questions": _questions(code_param(request.GET.get("category")), {}, None),
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


def _sender_key(code: str, key: Any) -> str:
    """`key` when it is the sender key of feedback `code`, else ""."""
    if not isinstance(key, str) or not key or len(key) > 64:
        return ""
    row = Feedback.objects.filter(code=services.normalise_code(code)).only("token").first()
    return key if row is not None and services.sender_key_matches(row, key) else ""


def _track_page(
    request: HttpRequest,
    code: str,
    *,
    sender_key: str = "",
    reopen_form: ReopenForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """`sender_key`: the checked key from the receipt link (`_sender_key`), or ""."""
    item = public.by_tracking_code(code)
    if item is None:
        return _no_such_code(request)
    # The row only answers "may it be reopened now?"; everything shown comes from `item`.
    row = Feedback.objects.filter(code=item.code).first()
    receipt_link = ""
    if sender_key:
        path = reverse("feedback:track", args=[item.code]) + "?" + urlencode({"key": sender_key})
        receipt_link = request.build_absolute_uri(path)
    context = {
        "item": item,
        "is_new": request.GET.get("new") == "1",
        "receipt_link": receipt_link,
        "reopened": request.GET.get("reopened") == "1",
        "may_reopen": row is not None and services.may_reopen(row),
        "reopen_form": reopen_form or ReopenForm(sender_key=sender_key),
        "reopen_days": services.reopen_window().days,
        "private": True,
    }
    return render(request, "feedback/public/track.html", context, status=status)


@private_page
@require_safe
def track(request: HttpRequest, code: str) -> HttpResponse:
    # The address may carry the sender key (the receipt link): private_page keeps it out of
    # shared caches and other sites' Referer.
    return _track_page(request, code, sender_key=_sender_key(code, request.GET.get("key")))


@private_page
@require_POST
def reopen(request: HttpRequest, code: str) -> HttpResponse:
    # Every attempt counts: the phone or e-mail asked for must not be guessable here either.
    limit = abuse.Limit(f"reopen-ip:{client_ip(request) or 'unknown'}", REOPEN_RATE)
    if not abuse.reserve([limit]):
        return _too_many(request)
    sender_key = _sender_key(code, request.POST.get("verification"))
    form = ReopenForm(request.POST, sender_key=sender_key)
    if not form.is_valid():  # a NUL character, an over-long verification
        return _track_page(request, code, sender_key=sender_key, reopen_form=form, status=400)
    values = form.cleaned_data
    try:
        feedback = services.feedback_reopen(
            code=code, reason=values["reason"], verification=values["verification"]
        )
    except NotFoundError:
        if public.by_tracking_code(code) is None:
            return _no_such_code(request)
        # The code is known (its page is open to anyone holding it); the proof is not. One
        # message whether the sender left no contact details or the ones typed differ.
        form.add_error(
            "verification",
            _(
                "This does not match the phone number or e-mail given with this feedback. "
                "Without them, or the link from your receipt, send a new feedback instead."
            ),
        )
        return _track_page(request, code, reopen_form=form, status=400)
    except ServiceError as exc:
        form.add_error("reason" if exc.field == "reason" else None, str(exc.message))
        status = 409 if isinstance(exc, ConflictError) else 400
        return _track_page(request, code, sender_key=sender_key, reopen_form=form, status=status)
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
    if not abuse.reserve([limit]):  # never released
        return _too_many(request)
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
    commune, province = code_param(values.get("commune")), code_param(values.get("province"))
    category = code_param(values.get("category"))
    if commune:
        rows = rows.filter(commune__code=commune)
    elif province:
        rows = rows.filter(commune__parent__code=province)
    if category:
        rows = rows.filter(category__code=category)
    paginator = Paginator(rows.order_by("-received_at", "-id"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "items": public.to_public_list(page.object_list),
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

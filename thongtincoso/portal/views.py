"""The public portal: pages anyone can read, without logging in.

Everything shown comes from `portal.selectors`, which only passes on what
`bulletins.selectors.public_bulletins` / `is_public` allow. Text is escaped by the templates;
the one exception is a bulletin's body, sanitised when it was saved and sanitised again here
before it is marked safe.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_safe

from thongtincoso.bulletins.content import safe_body_html
from thongtincoso.bulletins.models import Bulletin
from thongtincoso.bulletins.selectors import is_public, public_bulletin
from thongtincoso.units.models import UnitKind

from . import downloads
from . import selectors as portal_selectors

BULLETINS_PER_PAGE = 20
# A commune's page shows its latest answered feedback (public projection only, feedback/public.py).
ANSWERED_FEEDBACK_SHOWN = 3


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/404.html", status=404)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    return render(
        request,
        "portal/home.html",
        {
            "provinces": portal_selectors.portal_provinces(),
            "q": q,
            "results": portal_selectors.portal_commune_search(q) if q else None,
        },
    )


@require_safe
def unit_page(request: HttpRequest, code: str) -> HttpResponse:
    unit = portal_selectors.portal_unit(code)
    if unit is None:
        return _not_found(request)
    # count() and slices are all a Paginator uses of its list.
    rows: Any = portal_selectors.portal_bulletin_list(unit)
    paginator: Paginator[Bulletin] = Paginator(rows, BULLETINS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "unit": unit,
        "crumbs": portal_selectors.portal_breadcrumbs(unit),
        "page": page,
        "emergencies": portal_selectors.portal_emergencies(unit),
        "communes": (
            portal_selectors.portal_communes(unit) if unit.kind == UnitKind.PROVINCE else None
        ),
        "provinces": (
            portal_selectors.portal_provinces() if unit.kind == UnitKind.NATION else None
        ),
        "answered_feedback": (_answered_feedback(unit) if unit.kind == UnitKind.COMMUNE else None),
    }
    return render(request, "portal/unit.html", context)


def _answered_feedback(unit: Any) -> list[Any]:
    from thongtincoso.feedback import public as feedback_public
    from thongtincoso.feedback.models import Status as FeedbackStatus

    rows = (
        feedback_public.public_queryset()
        .filter(commune=unit, status__in=(FeedbackStatus.ANSWERED, FeedbackStatus.CLOSED))
        .order_by("-answered_at", "-id")[:ANSWERED_FEEDBACK_SHOWN]
    )
    return feedback_public.to_public_list(rows)


@require_safe
def bulletin_page(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    unit = portal_selectors.portal_unit(code)
    bulletin = public_bulletin(unit, pk) if unit is not None else None
    if unit is None or bulletin is None:
        return _not_found(request)
    context = {
        "unit": unit,
        "crumbs": [*portal_selectors.portal_breadcrumbs(unit), unit],
        "bulletin": bulletin,
        "body": safe_body_html(bulletin.body),
        "files": portal_selectors.portal_attachments(bulletin),
        "programme": portal_selectors.programme_audio(bulletin),
        "tags": list(bulletin.tags.all()),
        "relayed": bulletin.unit_id != unit.pk,
    }
    return render(request, "portal/bulletin.html", context)


@require_safe
def attachment(request: HttpRequest, attachment_id: int, name: str) -> HttpResponseBase:
    """A bulletin's file: public once the bulletin is; before that only for its staff."""
    found = portal_selectors.attachment_for_download(request.user, attachment_id)
    if found is None:
        return _not_found(request)
    return downloads.attachment_response(request, found, public=is_public(found.bulletin))

"""Small helpers every staff view uses: scoped lookups, safe redirects, service errors on forms."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from thongtincoso.accounts.roles import Action
from thongtincoso.core.errors import ServiceError
from thongtincoso.units import selectors as unit_selectors
from thongtincoso.units.models import Unit


def scoped_unit(request: HttpRequest, code: str, action: str = Action.VIEW) -> Unit:
    """The unit if the user may `action` it; otherwise 404, exactly like a missing code."""
    unit = unit_selectors.unit_for(request.user, code, action)
    if unit is None:
        raise Http404
    return unit


def safe_next(request: HttpRequest, default: str) -> str:
    """The `next` address of the request if it stays on this site; otherwise `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def form_error(form: Any, exc: ServiceError) -> None:
    """Show a service's refusal next to the field it names (or above the form)."""
    form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))

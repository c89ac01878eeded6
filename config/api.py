"""The platform API at /api/v1/ (OpenAPI at /api/v1/openapi.json). Routers live in each app."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, Throttled, ValidationError
from ninja.renderers import JSONRenderer

from thongtincoso.accounts.api import router as accounts_router
from thongtincoso.bulletins.api import router as bulletins_router
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from thongtincoso.core.throttling import api_throttles
from thongtincoso.speech.api import router as speech_router
from thongtincoso.units.api import router as units_router


class UTF8JSONRenderer(JSONRenderer):
    # Vietnamese names as they are ("Phường Hoàn Kiếm"), not as \u escapes; still valid JSON.
    json_dumps_params = {"ensure_ascii": False}


api = NinjaAPI(
    title="Thông tin cơ sở API",
    version="1",
    description="Grassroots information platform. Authenticate with a personal API token "
    "(`Authorization: Bearer ttcs_…`) or a browser session.",
    urls_namespace="api-v1",
    throttle=api_throttles(),
    renderer=UTF8JSONRenderer(),
)
api.add_router("/", units_router)
api.add_router("/", accounts_router)
# Speech first: its /bulletins/{id}/audio… routes must win over the bulletin transitions' route.
api.add_router("/", speech_router)
api.add_router("/", bulletins_router)


@api.exception_handler(ServiceError)
def _service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, PermissionDeniedError):
        status = 403
    elif isinstance(exc, ConflictError):
        status = 409
    else:
        status = 400
    return api.create_response(
        request, {"detail": str(exc.message), "field": exc.field}, status=status
    )


@api.exception_handler(DjangoValidationError)
def _model_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    # Services report problems as ServiceError; this is the safety net that keeps a missed
    # case a 400 with the field's message rather than a 500.
    return api.create_response(request, {"detail": " ".join(exc.messages)}, status=400)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # "field" names the first offending field, like ServiceError responses do.
    first_loc = exc.errors[0].get("loc", []) if exc.errors else []
    field = str(first_loc[-1]) if first_loc else None
    return api.create_response(
        request,
        {
            "detail": _("Some fields are missing or invalid; see errors."),
            "field": field,
            "errors": exc.errors,
        },
        status=422,
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, {"detail": _("Authentication required: log in or send an API token.")}, status=401
    )


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = api.create_response(
        request, {"detail": _("Too many requests. Wait a moment and try again.")}, status=429
    )
    if exc.wait:
        response["Retry-After"] = str(int(exc.wait) + 1)
    return response


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": _("Not found.")}, status=404)

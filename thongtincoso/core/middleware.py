from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .context import RequestContext, activate, new_request_id

# A request id from a trusted proxy is kept so one id follows a request across services.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind N trusted proxies the Nth X-Forwarded-For
    entry from the right (entries further left were written by the client and prove nothing)."""
    proxies = getattr(settings, "TTCS_TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return normalise_ip(hops[-min(proxies, len(hops))])
    return normalise_ip(request.META.get("REMOTE_ADDR", ""))


def normalise_ip(value: str) -> str | None:
    """The canonical text of an IP address (IPv6 compressed, lower case), or None if it is not
    one. Stored addresses must read back exactly as hashed into the audit chain."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # "::ffff:203.0.113.7" is an IPv4 client
            return str(address.ipv4_mapped)
        if address.scope_id:  # "fe80::1%eth0": the zone is local to the server, not the client
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    return str(address)


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else new_request_id()
        # Not reset on the way out of the middleware: Django logs 4xx/5xx responses after the
        # chain has returned, and those lines should carry the id too. It is cleared when the
        # response is closed (request_finished, see CoreConfig.ready).
        activate(RequestContext(request_id=request_id, ip=client_ip(request)))
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def chosen_language(request: HttpRequest) -> str:
    """The language of the answer: the one chosen with the language switch (a cookie), else
    Vietnamese (settings.LANGUAGE_CODE), whatever the browser's Accept-Language says."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    supported = {code for code, _name in settings.LANGUAGES}
    return chosen if chosen in supported else settings.LANGUAGE_CODE


class VietnameseFirstLocaleMiddleware:
    """Vietnamese unless the person chose otherwise with the language switch (a cookie).

    Django's LocaleMiddleware would follow the browser's Accept-Language, so an office PC set up in
    English would greet staff in English; the platform's working language is Vietnamese.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.utils import translation

        language = chosen_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary = response.get("Vary", "")
        if "Cookie" not in patch_vary:
            response["Vary"] = f"{patch_vary}, Cookie" if patch_vary else "Cookie"
        translation.deactivate()
        return response


class RejectNulBytesMiddleware:
    """Answer 400 to requests carrying NUL characters in the path, the query, a JSON body or a
    form-encoded body.

    PostgreSQL text cannot hold NUL, so such input would otherwise surface as a database error
    (a 500) deep inside a query; no legitimate client sends it. Django's form fields refuse NUL
    too, but not every view reads its input through a form (the workflow buttons' reasons, the
    Open311 POST). Multipart bodies are not read here: they carry files, are streamed to disk by
    the upload handlers, and their fields are checked where they are parsed.

    The answer speaks the caller's language and format: JSON under /api/, the Open311 error
    format under /open311/ (XML for an address ending in .xml), a short text for pages. It runs
    before the locale middleware, so it picks the language itself.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._has_nul(request):
            from django.utils import translation

            with translation.override(chosen_language(request)):
                return self._refuse(request)
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest) -> HttpResponse:
        from django.http import HttpResponseBadRequest, JsonResponse
        from django.utils.translation import gettext as _

        path = request.path
        if path.startswith("/api/"):
            message = _("The request contains a NUL character, which is not allowed.")
            return JsonResponse({"detail": message}, status=400)
        if path.startswith("/open311/"):
            # Imported here: core must not depend on an app at import time.
            from thongtincoso.feedback.open311 import error_for_path

            message = _("The request contains a NUL character, which is not allowed.")
            return error_for_path(path, 400, message)
        return HttpResponseBadRequest(
            _("The request contains a character that is not allowed."),
            content_type="text/plain; charset=utf-8",
        )

    @staticmethod
    def _has_nul(request: HttpRequest) -> bool:
        if "\x00" in request.path:
            return True
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return True
        content_type = request.content_type
        if content_type == "application/json" and _body_readable(request):
            body = request.body
            return b"\x00" in body or b"\\u0000" in body.lower()
        if content_type == "application/x-www-form-urlencoded" and _body_readable(request):
            # Django keeps the body it read: request.POST parses the same bytes later. In this
            # encoding a NUL can only arrive as "%00" or as the raw byte.
            body = request.body
            return b"\x00" in body or b"%00" in body
        return False


def _body_readable(request: HttpRequest) -> bool:
    """Whether reading the body here is safe: a declared length within Django's limit.

    A missing, malformed or too large Content-Length is left to the view (the device API answers
    413 and counts the fault; others get Django's own 400), instead of failing here first.
    """
    from django.conf import settings

    try:
        length = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return False
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return length >= 0 and (limit is None or length <= limit)


class ApiJsonErrorsMiddleware:
    """Keep every answer under /api/ JSON: django-ninja answers a wrong method with plain text."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 405
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            from django.http import JsonResponse
            from django.utils.translation import gettext as _

            allowed = response.get("Allow", "")
            message = _("This address does not accept %(method)s; it accepts: %(allowed)s.") % {
                "method": request.method,
                "allowed": allowed,
            }
            replacement = JsonResponse({"detail": message}, status=405)
            replacement["Allow"] = allowed
            return replacement
        return response

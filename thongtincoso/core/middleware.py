from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .context import new_request_id, request_context

# A request id from a trusted proxy is kept so one id follows a request across services.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: HttpRequest) -> str | None:
    """The client address as the WSGI server saw it.

    Behind a reverse proxy, the proxy must set REMOTE_ADDR correctly (e.g. gunicorn's
    --forwarded-allow-ips); we do not trust X-Forwarded-For ourselves, since any client can send it.
    """
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else new_request_id()
        with request_context(request_id=request_id, ip=client_ip(request)) as ctx:
            request.request_id = ctx.request_id  # type: ignore[attr-defined]
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

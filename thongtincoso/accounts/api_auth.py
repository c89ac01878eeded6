"""How API callers prove who they are: a personal token (Bearer), or the browser session."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from . import policy
from .middleware import has_confirmed_device, needs_second_factor
from .services import api_token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is None:
            return None
        # A token does not replace the second factor: someone whose role requires 2FA (perhaps
        # granted after the token was made) must have enrolled it for their tokens to work.
        if policy.requires_two_factor(user) and not has_confirmed_device(user):
            return None
        request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The logged-in browser session, with CSRF on unsafe methods and the same 2FA rule as pages."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # Without a session cookie this scheme does not apply: answer "not authenticated" (401),
        # not "CSRF failed" (403). With a cookie, CSRF is checked as for any form.
        if not request.COOKIES.get(settings.SESSION_COOKIE_NAME):
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(
                403, _("The security check (CSRF) failed. Reload the page and try again.")
            )
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or needs_second_factor(request):
            return None
        return user


api_auth = [TokenAuth(), SessionAuth()]

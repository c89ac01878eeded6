"""How API callers prove who they are: a personal token (Bearer), or the browser session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from .middleware import needs_second_factor
from .services import api_token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The logged-in browser session, with CSRF on unsafe methods and the same 2FA rule as pages."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or needs_second_factor(request):
            return None
        return user


api_auth = [TokenAuth(), SessionAuth()]

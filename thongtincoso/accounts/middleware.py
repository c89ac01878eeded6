"""Two-factor enforcement: holders of the roles in TWO_FACTOR_REQUIRED_ROLES must use TOTP."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from . import policy

# Paths an unverified user must still reach: the login and 2FA pages themselves, static assets,
# the language switch, health checks. The API has its own check (api_auth.py).
_EXEMPT_PREFIXES = ("/static/", "/media/", "/i18n/", "/healthz", "/api/", "/favicon")


class TwoFactorEnforcementMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and not _exempt(request.path) and needs_second_factor(request):
            target = "web:2fa_verify" if has_confirmed_device(user) else "web:2fa_setup"
            if request.headers.get("HX-Request"):
                return JsonResponse(
                    {"detail": _("Two-factor authentication is required.")}, status=403
                )
            return redirect(f"{reverse(target)}?next={request.get_full_path()}")
        return self.get_response(request)


def needs_second_factor(request: HttpRequest) -> bool:
    user = request.user
    verified = getattr(user, "is_verified", lambda: False)()
    return not verified and policy.requires_two_factor(user)


def has_confirmed_device(user: object) -> bool:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def _exempt(path: str) -> bool:
    if path.startswith(_EXEMPT_PREFIXES):
        return True
    exempt_names = ("web:login", "web:logout", "web:2fa_setup", "web:2fa_verify")
    return path in {reverse(name) for name in exempt_names}

"""The Django admin (back office), held to the same permission policy as every other page.

Our models' admin pages list only what the policy lets the user see (`ScopedAdmin`); changes go
through services so they are validated and audited like changes made anywhere else. Third-party
models (2FA devices, login attempts) stay under Django's own permissions, i.e. superusers only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


class TTCSAdminSite(admin.AdminSite):
    site_header = _("Grassroots information")
    site_title = _("Grassroots information")

    def has_permission(self, request: HttpRequest) -> bool:
        from thongtincoso.accounts import policy
        from thongtincoso.accounts.roles import Action

        user = request.user
        return bool(
            user.is_active and (user.is_staff or policy.may_anywhere(user, Action.MANAGE_USERS))
        )


class TTCSAdminConfig(AdminConfig):
    default_site = "thongtincoso.core.admin_site.TTCSAdminSite"


class ScopedAdmin(admin.ModelAdmin):
    """Read through the policy; no add or delete here (services own every write)."""

    view_action = "view"
    change_action: str | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        from thongtincoso.accounts import policy

        return policy.restrict(super().get_queryset(request), request.user, self.view_action)

    def has_module_permission(self, request: HttpRequest) -> bool:
        from thongtincoso.accounts import policy

        return policy.may_anywhere(request.user, self.view_action)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        from thongtincoso.accounts import policy

        if obj is None:
            return policy.may_anywhere(request.user, self.view_action)
        return policy.may(request.user, self.view_action, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        from thongtincoso.accounts import policy

        if self.change_action is None:
            return False
        if obj is None:
            return policy.may_anywhere(request.user, self.change_action)
        return policy.may(request.user, self.change_action, obj)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        # A bounded term: SQLite refuses LIKE patterns past its limit with an error (a 500).
        return super().get_search_results(request, queryset, search_term[:100])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from thongtincoso.accounts import policy
from thongtincoso.core.admin_site import ScopedAdmin

from .models import Unit
from .services import unit_update


@admin.register(Unit)
class UnitAdmin(ScopedAdmin):
    change_action = "edit"
    list_display = ["code", "name", "kind", "type_name", "parent", "valid_from", "valid_to"]
    list_filter = ["kind", "type_name"]
    search_fields = ["code", "name"]
    fields = [
        "code",
        "name",
        "kind",
        "type_name",
        "parent",
        "valid_from",
        "valid_to",
        "committee_name",
        "department_name",
    ]
    readonly_fields = ["code", "name", "kind", "type_name", "parent", "valid_from", "valid_to"]
    list_select_related = ["parent"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Through the service, so the change is validated, scoped and audited.
        fresh = Unit.objects.get(pk=obj.pk)
        unit_update(
            actor=policy.acting_user(request),
            unit=fresh,
            committee_name=form.cleaned_data.get("committee_name"),
            department_name=form.cleaned_data.get("department_name"),
        )

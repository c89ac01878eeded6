from django.contrib import admin

from thongtincoso.core.admin_site import ScopedAdmin

from .models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(ScopedAdmin):
    view_action = "view_audit"
    list_display = ["seq", "created_at", "actor_username", "unit_code", "action", "object_repr"]
    list_filter = ["action"]
    search_fields = ["actor_username", "unit_code", "object_repr", "request_id"]

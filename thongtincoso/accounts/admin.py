from django.contrib import admin

from thongtincoso.core.admin_site import ScopedAdmin

from .models import ApiToken, RoleAssignment, User


@admin.register(User)
class UserAdmin(ScopedAdmin):
    view_action = "manage_users"
    list_display = ["username", "full_name", "unit", "is_active", "last_login"]
    list_filter = ["is_active"]
    search_fields = ["username", "full_name", "email"]
    exclude = ["password", "user_permissions", "groups"]
    list_select_related = ["unit"]


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ScopedAdmin):
    view_action = "manage_users"
    list_display = ["user", "role", "unit", "covers_descendants", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "unit__code", "unit__name"]
    list_select_related = ["user", "unit"]


@admin.register(ApiToken)
class ApiTokenAdmin(ScopedAdmin):
    view_action = "manage_users"
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["token_hash"]

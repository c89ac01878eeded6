from django.contrib import admin

from thongtincoso.core.admin_site import ScopedAdmin

from .models import JobStatus


@admin.register(JobStatus)
class JobStatusAdmin(ScopedAdmin):
    list_display = ["name", "title", "state", "done", "total", "created_at", "finished_at"]
    list_filter = ["state"]

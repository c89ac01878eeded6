"""GET /healthz: what a load balancer or an operator needs to know at a glance."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not healthy", and says why
        return {"ok": False, "vendor": connection.vendor, "error": exc.__class__.__name__}
    return {"ok": True, "vendor": connection.vendor}


def _jobs_status() -> dict:
    from huey.contrib.djhuey import HUEY

    try:
        pending = HUEY.pending_count()
        scheduled = HUEY.scheduled_count()
    except Exception as exc:
        return {"ok": False, "backend": type(HUEY).__name__, "error": exc.__class__.__name__}
    return {
        "ok": True,
        "backend": type(HUEY).__name__,
        "immediate": HUEY.immediate,
        "pending": pending,
        "scheduled": scheduled,
    }


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    database = _database_status()
    jobs = _jobs_status()
    ok = database["ok"] and jobs["ok"]
    return JsonResponse(
        {"status": "ok" if ok else "error", "database": database, "jobs": jobs},
        status=200 if ok else 503,
    )

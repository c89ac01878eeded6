from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.i18n import JavaScriptCatalog

from thongtincoso.core.health import healthz
from thongtincoso.radio.device_urls import alerts_file_urlpatterns, manifest_file_urlpatterns

from .api import api

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Translations for third-party JavaScript (the bulletin editor's dialogs; locale/*/djangojs.po).
    path(
        "jsi18n/",
        JavaScriptCatalog.as_view(packages=["django_prose_editor"]),
        name="javascript-catalog",
    ),
    path("admin/", admin.site.urls),
    # Public side: portal pages, feeds, published attachments (no login).
    path("portal/", include("thongtincoso.portal.urls")),
    # Staff side of bulletins: writing, approval, the commune inbox.
    path("bulletins/", include("thongtincoso.bulletins.urls")),
    path("speech/", include("thongtincoso.speech.urls")),
    # Commune radio: operators' pages and the e-board kiosk.
    path("radio/", include(("thongtincoso.radio.urls", "radio"))),
    # The device protocol (docs/device-protocol.md). Manifest and alerts files are answered before
    # Django by the WSGI fast path (radio/fastpath.py), and by nginx in production.
    path("api/device/v1/", include("thongtincoso.radio.device_urls")),
    path("device-manifests/", include(manifest_file_urlpatterns)),
    path("device-alerts/", include(alerts_file_urlpatterns)),
    # Citizen feedback: the public form and status pages, the handlers' pages (feedback/urls.py),
    # and Open311 GeoReport v2 for other applications (docs/open311.md).
    path("feedback/", include("thongtincoso.feedback.urls")),
    path("open311/v2/", include("thongtincoso.feedback.open311_urls")),
    path("", include("thongtincoso.web.urls")),
]
# Media is never served as a plain directory: every file goes through a view that checks who may
# read it (drafts' attachments are private), in development as in production.


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Django answers a body over DATA_UPLOAD_MAX_MEMORY_SIZE (and other unreadable requests) here;
    # API clients get JSON saying what is wrong, people the usual page.
    from django.core.exceptions import RequestDataTooBig, TooManyFilesSent

    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig):
            limit = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) / (1024 * 1024)
            message = _("The request is too large; send at most %(mb)s MB.") % {"mb": f"{limit:g}"}
        else:
            message = _("The request could not be read.")
        return JsonResponse({"detail": message}, status=400)
    too_big = isinstance(exception, (RequestDataTooBig, TooManyFilesSent))
    if request.path.startswith("/feedback/") and too_big:
        # Citizens sending photos get a page saying what the limits are (feedback/public_views).
        from thongtincoso.feedback.public_views import request_too_big

        return request_too_big(request, exception)
    return defaults.bad_request(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Machines get JSON from anything under /api/, people get the page.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception, template_name="web/404.html")


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Server error; the team has been notified.")}, status=500)
    return defaults.server_error(request, template_name="web/500.html")

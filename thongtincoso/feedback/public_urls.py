"""The citizens' feedback addresses (no login), in the "feedback" namespace (feedback/urls.py)."""

from django.urls import path

from thongtincoso.core.throttling import public_rate_limit as limited

from . import public_views as views

# Every public address is rate-limited per client address (TTCS_PORTAL_RATE); sending feedback
# and exports have their own, stricter limits inside the views (abuse.py).
urlpatterns = [
    path("", limited(views.public_list), name="public_list"),
    path("new/", limited(views.submit), name="submit"),
    path("communes/", limited(views.communes), name="communes"),
    path("questions/", limited(views.questions), name="questions"),
    path("track/", limited(views.lookup), name="lookup"),
    path("track/<str:code>/", limited(views.track), name="track"),
    path("track/<str:code>/reopen/", limited(views.reopen), name="reopen"),
    path("export/", limited(views.export), name="export"),
    path("p/<str:code>/", limited(views.public_detail), name="public_detail"),
]

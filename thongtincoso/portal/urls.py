from django.urls import path

from thongtincoso.core.throttling import public_rate_limit as limited

from . import feeds, views

app_name = "portal"

# Every public address is rate-limited per client address (TTCS_PORTAL_RATE).
urlpatterns = [
    path("", limited(views.home), name="home"),
    path("files/<int:attachment_id>/<str:name>", limited(views.attachment), name="attachment"),
    path("<str:code>/", limited(views.unit_page), name="unit"),
    path("<str:code>/b/<int:pk>/", limited(views.bulletin_page), name="bulletin"),
    path("<str:code>/rss.xml", limited(feeds.UnitBulletinsFeed()), name="rss"),
    path("<str:code>/atom.xml", limited(feeds.UnitBulletinsAtomFeed()), name="atom"),
    path("<str:code>/podcast.xml", limited(feeds.UnitPodcastFeed()), name="podcast"),
]

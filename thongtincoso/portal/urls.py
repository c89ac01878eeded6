from django.urls import path

from . import feeds, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("files/<int:attachment_id>/<str:name>", views.attachment, name="attachment"),
    path("<str:code>/", views.unit_page, name="unit"),
    path("<str:code>/b/<int:pk>/", views.bulletin_page, name="bulletin"),
    path("<str:code>/rss.xml", feeds.UnitBulletinsFeed(), name="rss"),
    path("<str:code>/atom.xml", feeds.UnitBulletinsAtomFeed(), name="atom"),
    path("<str:code>/podcast.xml", feeds.UnitPodcastFeed(), name="podcast"),
]

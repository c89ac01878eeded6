"""/speech/: bulletin audio, unit speech settings, and audio files by SHA-256."""

from django.urls import path

from . import views

app_name = "speech"

urlpatterns = [
    path("bulletins/<int:pk>/audio/", views.bulletin_audio, name="bulletin_audio"),
    path("bulletins/<int:pk>/audio/render/", views.bulletin_audio_render, name="render"),
    path("bulletins/<int:pk>/audio/upload/", views.bulletin_audio_upload, name="upload"),
    path("bulletins/<int:pk>/audio/remove/", views.bulletin_audio_remove, name="remove"),
    path(
        "audio/<str:sha256>.<str:extension>",
        views.audio_file,
        name="audio_file",
    ),
    path("units/<str:code>/", views.unit_speech, name="settings"),
    path("units/<str:code>/jingle/", views.unit_jingle, name="jingle"),
    path("units/<str:code>/abbreviations/", views.unit_abbreviation_add, name="abbreviation_add"),
    path(
        "units/<str:code>/abbreviations/<int:item_id>/remove/",
        views.unit_abbreviation_remove,
        name="abbreviation_remove",
    ),
    path("units/<str:code>/preview/", views.unit_preview, name="preview"),
    path("units/<str:code>/preview.mp3", views.unit_preview_audio, name="preview_audio"),
]

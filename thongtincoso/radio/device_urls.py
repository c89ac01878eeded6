"""URLs of the device protocol (docs/device-protocol.md).

Mounted by config/urls.py: `urlpatterns` at /api/device/v1/, `manifest_file_urlpatterns` at
/device-manifests/ and `alerts_file_urlpatterns` at /device-alerts/ (in production nginx serves
both prefixes from TTCS_MANIFEST_ROOT itself).
"""

from __future__ import annotations

from django.urls import path, re_path

from . import device_views

app_name = "radio_device"

urlpatterns = [
    path("enrol", device_views.enrol, name="enrol"),
    path("manifest", device_views.manifest, name="manifest"),
    re_path(r"^audio/(?P<sha256>[0-9a-f]{64})\.mp3$", device_views.audio, name="audio"),
    path("heartbeat", device_views.heartbeat, name="heartbeat"),
    path("playlog", device_views.playlog, name="playlog"),
    path("credential/rotate", device_views.credential_rotate, name="credential_rotate"),
]

manifest_file_urlpatterns = [
    re_path(
        r"^(?P<capability>[0-9a-f]{64})\.json$",
        device_views.manifest_file,
        name="radio_device_manifest_file",
    ),
]

alerts_file_urlpatterns = [
    re_path(
        r"^(?P<code>[0-9][0-9.]{0,19})\.json$",
        device_views.alerts_file,
        name="radio_device_alerts_file",
    ),
]

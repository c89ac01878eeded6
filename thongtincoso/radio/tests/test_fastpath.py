"""The WSGI fast path (radio/fastpath.py) answers polls like the Django views, without a query.

The application under test is the real WSGI stack of `make demo` and production: the fast path
wrapped around Django's handler, called with real WSGI environments.
"""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from thongtincoso.radio import credentials
from thongtincoso.radio.fastpath import ManifestFastPath
from thongtincoso.radio.tests.test_devices import (  # noqa: F401  (fixtures)
    enrolled,
    manifest_root,
)

pytestmark = [pytest.mark.usefixtures("manifest_root"), pytest.mark.django_db]


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = int(status.split()[0])
        self.headers = dict(headers)
        self.body = body


def call(path: str, *, method: str = "GET", **headers: str) -> Answer:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(b"")
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> None:
        seen["status"], seen["headers"] = status, response_headers

    app = ManifestFastPath(get_wsgi_application())
    # As Django's test client does: a request must not close the test's database connection
    # (on PostgreSQL the test runs inside a transaction on it).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(app(environ, start_response))
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return Answer(seen["status"], seen["headers"], body)


@pytest.fixture
def device(tree: Any) -> tuple[Any, str]:
    return enrolled(tree.hoankiem, "HK-FAST")


def test_polls_are_answered_before_django_with_no_query(device, django_assert_num_queries):
    dev, credential = device
    bearer = f"Bearer {credential}"
    with django_assert_num_queries(0):
        first = call("/api/device/v1/manifest", authorization=bearer)
        again = call(
            "/api/device/v1/manifest", authorization=bearer, if_none_match=first.headers["ETag"]
        )
        url = f"/device-manifests/{credentials.capability_for(credential)}.json"
        by_file = call(url)
        by_file_304 = call(url, if_none_match=f'"x", W/{first.headers["ETag"]}')
        head = call(url, method="HEAD")
    assert first.status == 200
    assert json.loads(first.body)["device"] == "HK-FAST"
    assert first.headers["ETag"] == type(dev).objects.get(pk=dev.pk).manifest_etag
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert first.headers["Content-Length"] == str(len(first.body))
    assert (again.status, again.body) == (304, b"")
    assert again.headers["ETag"] == first.headers["ETag"]
    assert (by_file.status, by_file.body) == (200, first.body)
    assert by_file_304.status == 304
    assert (head.status, head.body) == (200, b"")


def test_the_fast_path_and_the_django_view_agree(device, client):
    _dev, credential = device
    fast = call("/api/device/v1/manifest", authorization=f"Bearer {credential}")
    view = client.get("/api/device/v1/manifest", HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert view.status_code == fast.status
    assert view.content == fast.body
    assert view["ETag"] == fast.headers["ETag"]


def test_what_the_fast_path_cannot_answer_goes_to_django(device):
    dev, credential = device
    # Unknown credentials and capabilities: Django's 401 and 404, with messages.
    unknown = call("/api/device/v1/manifest", authorization="Bearer ttcsd_nobody")
    assert unknown.status == 401
    assert json.loads(unknown.body)["detail"]
    assert call(f"/device-manifests/{'0' * 64}.json").status == 404
    # A device whose file is missing is rendered on demand by Django, then served fast.
    path = credentials.device_manifest_path(dev)
    assert path is not None
    path.unlink()
    rendered = call("/api/device/v1/manifest", authorization=f"Bearer {credential}")
    assert rendered.status == 200
    assert path.exists()
    # Revoked: the file is gone and the next poll is Django's 401.
    credentials.device_revoke(actor=None, device=dev)
    assert call("/api/device/v1/manifest", authorization=f"Bearer {credential}").status == 401
    # Other methods and paths are not the fast path's business.
    assert call("/api/device/v1/manifest", method="POST").status in (401, 405)
    assert call("/healthz").status == 200


def test_the_fast_path_names_the_same_file_as_the_credentials_module(device):
    _dev, credential = device
    app = ManifestFastPath(get_wsgi_application())
    capability = credentials.capability_for(credential)
    expected = str(credentials.manifest_path(capability))
    bearer = {"PATH_INFO": "/api/device/v1/manifest", "HTTP_AUTHORIZATION": f"Bearer {credential}"}
    assert app._manifest_file(bearer) == expected
    assert app._manifest_file({"PATH_INFO": f"/device-manifests/{capability}.json"}) == expected
    assert app._manifest_file({"PATH_INFO": "/device-manifests/../../etc/passwd.json"}) is None
    assert app._manifest_file({"PATH_INFO": "/api/device/v1/manifest"}) is None

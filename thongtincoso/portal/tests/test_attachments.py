"""Downloads: who may fetch a file, the headers it comes with, byte ranges for audio players."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Attachment
from thongtincoso.bulletins.tests.factories import draft
from thongtincoso.portal import downloads

from .helpers import attach, mp3_bytes, pdf_bytes, png_bytes

pytestmark = pytest.mark.django_db

AUDIO = mp3_bytes()


def url(a: Attachment) -> str:
    return reverse("portal:attachment", args=[a.pk, downloads.url_name(a)])


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def bulletin_with_files(tree, staff):
    b = draft(staff.hk_editor, tree.hoankiem, title="Bản tin có tệp")
    audio = attach(staff.hk_editor, b, AUDIO, "Bản tin sáng.mp3")
    image = attach(staff.hk_editor, b, png_bytes(), "ảnh.png")
    pdf = attach(staff.hk_editor, b, pdf_bytes(), "Quyết định.pdf")
    return b, audio, image, pdf


def publish(staff, b):
    services.bulletin_submit(actor=staff.hk_editor, bulletin=b)
    return services.bulletin_approve(actor=staff.hk_approver, bulletin=b)


def test_public_files_download_with_safe_headers(staff, bulletin_with_files):
    b, audio, image, pdf = bulletin_with_files
    publish(staff, b)
    for attachment, data, content_type in (
        (audio, AUDIO, "audio/mpeg"),
        (image, png_bytes(), "image/png"),
        (pdf, pdf_bytes(), "application/pdf"),
    ):
        response = Client().get(url(attachment))
        assert response.status_code == 200
        assert body(response) == data
        assert response["Content-Type"] == content_type
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"].startswith("inline; filename")
        assert response["Accept-Ranges"] == "bytes"
        assert response["Cache-Control"].startswith("public")
    # Non-ASCII names are encoded (RFC 6266), never written raw into the header.
    disposition = Client().get(url(audio))["Content-Disposition"]
    assert disposition == "inline; filename*=utf-8''B%E1%BA%A3n%20tin%20s%C3%A1ng.mp3"
    # The name in the URL is cosmetic; the id decides.
    assert Client().get(f"/portal/files/{audio.pk}/other.mp3").status_code == 200


def test_the_public_page_plays_the_audio_and_shows_images_and_pdfs(
    tree, staff, bulletin_with_files
):
    b, audio, image, pdf = bulletin_with_files
    publish(staff, b)
    html = Client().get(f"/portal/00070/b/{b.pk}/").content.decode()
    assert f'<audio controls preload="metadata" src="{url(audio)}"' in html
    assert "Bản tin sáng.mp3" in html
    assert f'<img src="{url(image)}"' in html
    assert f'href="{url(pdf)}"' in html


def test_draft_files_are_hidden_from_the_public_but_not_from_their_staff(
    tree, staff, make_user, client_for, bulletin_with_files
):
    _b, audio, _image, _pdf = bulletin_with_files
    assert Client().get(url(audio)).status_code == 404
    # A commune next door has no business with it either.
    assert client_for(staff.cn_editor).get(url(audio)).status_code == 404
    response = client_for(staff.hk_editor).get(url(audio))
    assert response.status_code == 200
    assert body(response) == AUDIO
    assert response["Cache-Control"] == "private, no-store"
    # The province above may preview it too.
    assert client_for(staff.hn_editor).get(url(audio)).status_code == 200


def test_withdrawn_bulletin_files_stop_being_public(staff, bulletin_with_files):
    b, audio, _image, _pdf = bulletin_with_files
    publish(staff, b)
    assert Client().get(url(audio)).status_code == 200
    services.bulletin_withdraw(actor=staff.hk_approver, bulletin=b, reason="Nhầm")
    assert Client().get(url(audio)).status_code == 404


def test_unknown_attachment_is_not_found(tree):
    assert Client().get("/portal/files/999999/x.mp3").status_code == 404


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len(AUDIO) - 1),
        ("bytes=-500", len(AUDIO) - 500, len(AUDIO) - 1),
        ("bytes=19990-99999", 19990, len(AUDIO) - 1),
        ("bytes=5-5", 5, 5),
    ],
)
def test_range_request_gives_206_with_the_right_bytes(
    staff, bulletin_with_files, header, start, end
):
    b, audio, _image, _pdf = bulletin_with_files
    publish(staff, b)
    response = Client().get(url(audio), headers={"Range": header})
    assert response.status_code == 206
    assert body(response) == AUDIO[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(AUDIO)}"
    assert response["Content-Length"] == str(end - start + 1)
    assert response["Content-Type"] == "audio/mpeg"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("header", ["bytes=20000-", "bytes=99999-100000", "bytes=-0"])
def test_range_beyond_the_end_is_416(staff, bulletin_with_files, header):
    b, audio, _image, _pdf = bulletin_with_files
    publish(staff, b)
    response = Client().get(url(audio), headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(AUDIO)}"


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=-", "bytes=abc", "bytes=0-1 2"]
)
def test_unusable_range_headers_get_the_whole_file(staff, bulletin_with_files, header):
    b, audio, _image, _pdf = bulletin_with_files
    publish(staff, b)
    response = Client().get(url(audio), headers={"Range": header})
    assert response.status_code == 200
    assert body(response) == AUDIO


def test_if_range_with_another_version_gets_the_whole_file(staff, bulletin_with_files):
    b, audio, _image, _pdf = bulletin_with_files
    publish(staff, b)
    same = Client().get(url(audio), headers={"Range": "bytes=0-9", "If-Range": f'"{audio.sha256}"'})
    assert same.status_code == 206
    other = Client().get(url(audio), headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert other.status_code == 200


@override_settings(TTCS_X_ACCEL_REDIRECT=True)
def test_behind_nginx_the_file_is_handed_to_x_accel_redirect(staff, bulletin_with_files):
    b, audio, _image, _pdf = bulletin_with_files
    assert Client().get(url(audio)).status_code == 404  # still checked first
    publish(staff, b)
    response = Client().get(url(audio), headers={"Range": "bytes=0-9"})
    assert response.status_code == 200  # nginx answers the range itself
    assert response["X-Accel-Redirect"] == f"/protected-media/{audio.file.name}"
    assert response.content == b""
    assert response["Content-Type"] == "audio/mpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline; ")


@override_settings(TTCS_X_ACCEL_REDIRECT=True, DEBUG=True)
def test_x_accel_redirect_is_never_used_in_debug(staff, bulletin_with_files):
    b, audio, _image, _pdf = bulletin_with_files
    publish(staff, b)
    response = Client().get(url(audio))
    assert "X-Accel-Redirect" not in response
    assert body(response) == AUDIO


def test_download_name_is_safe_and_keeps_the_real_extension(staff, bulletin_with_files):
    _b, audio, _image, _pdf = bulletin_with_files
    audio.original_name = 'evil"\\/name.html'
    assert downloads.download_name(audio) == "evil___name.html.mp3"
    assert downloads.url_name(audio) == "evilname.mp3"
    audio.original_name = ""
    assert downloads.download_name(audio) == "file.mp3"

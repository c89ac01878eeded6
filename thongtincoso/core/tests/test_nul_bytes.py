"""NUL characters never reach the database (PostgreSQL refuses them with an error, a 500)."""

from __future__ import annotations

import json

import pytest

from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import api_token_create
from thongtincoso.units.models import Unit


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/units/%00",
        "/api/v1/units/%00/children",
        "/api/v1/units/01/children?page=%00",
        "/units/%00/",
        "/units/01/?q=%00",
        "/?unit=%00",
        "/login/?next=%00",
    ],
)
def test_nul_in_path_or_query_is_a_400(tree, make_user, client_for, url):
    client = client_for(make_user("ed", tree.hanoi, role=Role.EDITOR))
    assert client.get(url).status_code == 400


def test_nul_in_json_is_a_400_and_saves_nothing(tree, make_user, client):
    editor = make_user("ed", tree.hoankiem, role=Role.EDITOR)
    _, token = api_token_create(actor=editor, user=editor, name="t")
    before = Unit.objects.count()
    response = client.post(
        "/api/v1/units/00070/zones",
        json.dumps({"name": "Thôn\u0000Đông"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response.json()["detail"]
    assert Unit.objects.count() == before


def test_ordinary_vietnamese_text_passes(tree, make_user, client):
    editor = make_user("ed", tree.hoankiem, role=Role.EDITOR)
    _, token = api_token_create(actor=editor, user=editor, name="t")
    response = client.post(
        "/api/v1/units/00070/zones",
        json.dumps({"name": "Đông Hưng"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201


# --- Form-encoded bodies, and the answer's format per address (helper H) ---------------------

FORM = "application/x-www-form-urlencoded"


def test_nul_in_a_form_encoded_post_to_a_page_is_a_plain_400(client, db):
    from django.conf import settings

    response = client.post("/login/", "username=a%00b&password=x", content_type=FORM)
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    # The language switch's cookie is honoured although the locale middleware has not run yet.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post("/login/", "username=ab&password=x\x00", content_type=FORM)
    assert response.status_code == 400
    assert response.content.decode() == "The request contains a character that is not allowed."


def test_nul_in_a_form_encoded_post_to_the_api_is_json(tree, make_user, client):
    editor = make_user("ed", tree.hoankiem, role=Role.EDITOR)
    _, token = api_token_create(actor=editor, user=editor, name="t")
    before = Unit.objects.count()
    response = client.post(
        "/api/v1/units/00070/zones",
        "name=Th%C3%B4n%00",
        content_type=FORM,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response.json()["detail"]
    assert Unit.objects.count() == before


def test_nul_in_the_query_of_a_page_is_a_plain_400_in_the_chosen_language(client, db):
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/?unit=%00")
    assert response.status_code == 400
    assert response.content.decode() == "The request contains a character that is not allowed."


def _run_middleware(request):
    from thongtincoso.core.middleware import RejectNulBytesMiddleware

    seen = {}

    def view(req):
        from django.http import HttpResponse

        seen["post"] = req.POST.dict()
        seen["files"] = {name: f.read() for name, f in req.FILES.items()}
        return HttpResponse("ok")

    return RejectNulBytesMiddleware(view)(request), seen


def test_a_clean_form_body_still_reaches_the_view_intact(rf):
    request = rf.post("/login/", "username=%C4%90%C3%B4ng&next=%2Fa%2500", content_type=FORM)
    response, seen = _run_middleware(request)
    assert response.status_code == 200
    assert seen["post"] == {"username": "Đông", "next": "/a%00"}


def test_multipart_bodies_are_not_read_here(rf):
    from django.core.files.uploadedfile import SimpleUploadedFile

    # A photo is binary and full of NUL bytes; it must reach the upload handlers untouched.
    photo = SimpleUploadedFile("anh.jpg", b"\xff\xd8\x00\x00\x10", content_type="image/jpeg")
    request = rf.post("/feedback/", {"description": "Đèn hỏng", "photos": photo})
    response, seen = _run_middleware(request)
    assert response.status_code == 200
    assert seen["post"] == {"description": "Đèn hỏng"}
    assert seen["files"] == {"photos": b"\xff\xd8\x00\x00\x10"}

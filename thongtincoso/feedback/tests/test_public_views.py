"""The citizens' feedback pages through the Django test client, against the real database."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from PIL import Image

from thongtincoso.accounts.roles import Role
from thongtincoso.feedback import services
from thongtincoso.feedback.models import Contact, Feedback, Photo, Status

PHONE = "0912 345 678"
EMAIL = "nguoi.gui@vidu.vn"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def _fresh_limits() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def en_client() -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def officer(tree: Any, make_user: Any) -> Any:
    return make_user("hk_officer", tree.hoankiem, role=Role.FEEDBACK_OFFICER)


def png(size: tuple[int, int] = (40, 30), name: str = "o-ga.png") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format="PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


def form_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "category": "giao-thong",
        "province": "01",
        "commune": "00070",
        "address": "Số 12 phố Hàng Bài",
        "description": "Ổ gà lớn giữa đường, xe máy dễ ngã.",
        "name": "",
        "phone": "",
        "email": "",
        "website": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def stored_files() -> set[str]:
    """Photo files in storage (the in-memory storage outlives a test: compare before and after)."""
    found: list[str] = []

    def walk(path: str) -> None:
        try:
            dirs, files = default_storage.listdir(path)
        except FileNotFoundError:
            return
        found.extend(f"{path}/{f}" for f in files)
        for d in dirs:
            walk(f"{path}/{d}")

    walk("feedback")
    return set(found)


def main_part(response: Any) -> str:
    """The page's <main>: the header carries a CSRF token and the address, which always differ."""
    html = response.content.decode()
    return html[html.index("<main") : html.index("</main>")]


def submit(client: Client, **overrides: Any) -> Any:
    return client.post(reverse("feedback:submit"), form_data(**overrides))


def answered(officer: Any, feedback: Feedback, text: str = "Đã vá ổ gà ngày 5/7.") -> Feedback:
    services.feedback_accept(actor=officer, feedback=feedback)
    services.answer_save(actor=officer, feedback=feedback, text=text)
    services.answer_submit(actor=officer, feedback=feedback)
    feedback.refresh_from_db()
    return feedback


def make_feedback(**overrides: Any) -> Feedback:
    values: dict[str, Any] = {
        "category": "giao-thong",
        "commune": "00070",
        "description": "Đèn tín hiệu hỏng ở ngã tư.",
        "address": "Ngã tư Tràng Tiền",
    }
    values.update(overrides)
    return services.feedback_submit(submission=services.Submission(**values))


# --- Sending ---------------------------------------------------------------------------------


def test_form_preselects_the_commune_and_its_province(tree: Any, en_client: Client) -> None:
    response = en_client.get(reverse("feedback:submit"), {"commune": "00070"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="00070" selected>' in html
    assert '<option value="01" selected>' in html
    assert 'name="website"' in html
    assert 'tabindex="-1"' in html
    assert 'accept="image/*"' in html
    assert "multiple" in html
    assert 'maxlength="4000"' in html
    assert response["Cache-Control"] == "private, no-store"


def test_submit_stores_feedback_contact_and_photos(tree: Any, en_client: Client) -> None:
    files = stored_files()
    response = en_client.post(
        reverse("feedback:submit"),
        {
            **form_data(name="Nguyễn Văn A", phone=PHONE, email=EMAIL, consent="on"),
            "lat": "21.028500",
            "long": "105.852000",
            "photos": [png(), png(name="hai.png")],
        },
    )
    assert response.status_code == 303
    feedback = Feedback.objects.get()
    track_url = reverse("feedback:track", args=[feedback.code])
    assert response["Location"] == f"{track_url}?new=1&key={feedback.token}"
    assert feedback.category.code == "giao-thong"
    assert feedback.commune == tree.hoankiem
    assert str(feedback.lat) == "21.028500"
    contact = Contact.objects.get(feedback=feedback)
    assert (contact.name, contact.phone_key, contact.email) == ("Nguyễn Văn A", "0912345678", EMAIL)
    assert contact.consent_at is not None
    assert Photo.objects.filter(feedback=feedback).count() == 2
    assert len(stored_files() - files) == 2

    page = en_client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert feedback.code in html
    assert "Write it down" in html
    # The receipt shows the sender key as a link to keep; the key is in the address, so the
    # page stays out of shared caches and other sites' Referer.
    assert f"http://testserver{track_url}?key={feedback.token}" in html
    assert "Keep this link" in html
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Cache-Control"] == "private, no-store"
    # Whoever knows only the code sees no key, even with ?new=1.
    for url in (f"{track_url}?new=1", f"{track_url}?new=1&key=wrong", track_url):
        other = Client().get(url)
        assert other.status_code == 200
        assert feedback.token not in other.content.decode()


def test_anonymous_feedback_needs_no_contact(tree: Any, en_client: Client) -> None:
    assert submit(en_client).status_code == 303
    assert Feedback.objects.count() == 1
    assert Contact.objects.count() == 0


def test_category_questions_are_answered_by_name(tree: Any, en_client: Client) -> None:
    response = submit(en_client, category="truyen-thanh", **{"attribute[van-de]": "qua-to"})
    assert response.status_code == 303
    assert Feedback.objects.get().attributes == {"van-de": "qua-to"}


BAD_INPUT = [
    pytest.param({"address": "", "lat": "", "long": ""}, "Say where it is", id="no-location"),
    pytest.param({"category": "khong-co"}, "Unknown category", id="unknown-category"),
    pytest.param({"commune": ""}, "Choose the commune or ward", id="no-commune"),
    pytest.param({"description": "x" * 4001}, "4001 characters", id="description-4001"),
    pytest.param({"phone": PHONE}, "tick the box agreeing", id="contact-without-consent"),
    pytest.param({"category": "truyen-thanh"}, "Answer “", id="required-question-unanswered"),
    pytest.param({"lat": "50", "long": "10"}, "outside Việt Nam", id="point-abroad"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUT)
def test_bad_input_is_refused_and_nothing_stored(
    tree: Any, en_client: Client, overrides: dict[str, Any], message: str
) -> None:
    files = stored_files()
    response = submit(en_client, **overrides)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Feedback.objects.count() == 0
    assert Contact.objects.count() == 0
    assert stored_files() == files


def test_an_empty_form_lists_every_missing_answer_at_once(tree: Any, en_client: Client) -> None:
    page = en_client.get(reverse("feedback:submit")).content.decode()
    # The browser checks these before sending (so chosen photos stay chosen).
    assert re.search(r'<select name="category" id="id_category"[^>]* required', page)
    assert re.search(r'<select name="commune" id="id_commune"[^>]* required', page)
    assert re.search(r'<textarea[^>]*id="id_description"[^>]*required', page) or re.search(
        r'<textarea[^>]*required[^>]*id="id_description"', page
    )
    files = stored_files()

    response = en_client.post(
        reverse("feedback:submit"),
        {"province": "01", "commune": "", "category": "", "description": " ", "photos": [png()]},
    )

    assert response.status_code == 400
    html = response.content.decode()
    for message in (
        "Choose a category from the list.",
        "Choose the commune or ward where it happened.",
        "Describe what you want to report.",
        "write the place (street, hamlet, landmark) or mark it on the map",
        "Your photos were not kept",
    ):
        assert message in html, message
    assert 'aria-invalid="true" aria-describedby="id_category_error"' in html
    assert 'aria-invalid="true" aria-describedby="id_commune_error"' in html
    description = re.search(r"<textarea[^>]*id=\"id_description\"[^>]*>", html)
    assert description is not None
    assert 'aria-invalid="true"' in description.group(0)
    assert 'aria-describedby="id_description_helptext id_description_error"' in description.group(0)
    assert 'id="id_description_helptext"' in html
    assert Feedback.objects.count() == 0
    assert stored_files() == files


def test_consent_text_names_who_sees_the_contact_details(tree: Any, en_client: Client) -> None:
    html = en_client.get(reverse("feedback:submit")).content.decode()
    assert (
        "the officers handling your feedback and the administrators of the responsible "
        "People's Committee" in html
    )


def test_six_photos_are_refused(tree: Any, en_client: Client) -> None:
    files = stored_files()
    photos = [png(name=f"{i}.png") for i in range(6)]
    response = en_client.post(reverse("feedback:submit"), {**form_data(), "photos": photos})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Send at most 5 photos." in html
    assert "choose them again" in html
    assert Feedback.objects.count() == 0
    assert Photo.objects.count() == 0
    assert stored_files() == files


def test_a_script_posing_as_a_photo_is_refused(tree: Any, en_client: Client) -> None:
    files = stored_files()
    script = SimpleUploadedFile(
        "anh.png", b"<script>alert(document.cookie)</script>", content_type="image/png"
    )
    response = en_client.post(
        reverse("feedback:submit"), {**form_data(), "photos": [png(), script]}
    )
    assert response.status_code == 400
    assert "anh.png" in response.content.decode()
    assert Feedback.objects.count() == 0
    assert Photo.objects.count() == 0
    assert stored_files() == files


def test_honeypot_filled_stores_nothing(tree: Any, en_client: Client) -> None:
    response = submit(en_client, website="http://spam.example")
    assert response.status_code == 400
    assert "could not be accepted" in response.content.decode()
    assert Feedback.objects.count() == 0


def test_typed_values_are_kept_after_an_error(tree: Any, en_client: Client) -> None:
    response = en_client.post(
        reverse("feedback:submit"),
        {
            **form_data(
                category="truyen-thanh",
                address="Nhà văn hoá tổ 5",
                description="Loa phát quá to lúc 5 giờ sáng",
                name="Trần Thị B",
                phone=PHONE,
                email=EMAIL,
            ),
            "attribute[van-de]": "qua-to",
            "lat": "21.0285",
            "long": "105.852",
        },
    )
    assert response.status_code == 400  # no consent
    html = response.content.decode()
    assert "tick the box agreeing" in html
    for typed in ("Nhà văn hoá tổ 5", "Loa phát quá to lúc 5 giờ sáng", "Trần Thị B", EMAIL):
        assert typed in html
    assert 'value="0912 345 678"' in html
    assert '<option value="truyen-thanh" selected>' in html
    assert '<option value="00070" selected>' in html
    assert 'value="qua-to" checked' in html
    assert 'value="21.0285"' in html


def test_messages_are_vietnamese_by_default(tree: Any) -> None:
    response = submit(Client(), commune="")
    assert response.status_code == 400
    with translation.override("vi"):
        expected = translation.gettext("Choose the commune or ward where it happened.")
    assert expected in response.content.decode()


def test_oversized_body_gets_a_page_not_a_crash(
    tree: Any, en_client: Client, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = submit(en_client, description="y" * 3000)
    assert response.status_code == 400
    assert "too large" in response.content.decode()
    assert Feedback.objects.count() == 0


def test_oversized_body_with_csrf_checks_on(tree: Any, settings: Any) -> None:
    # In production CsrfViewMiddleware reads the body before the view: handler400 answers.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client(enforce_csrf_checks=True)
    client.cookies["django_language"] = "en"
    client.get(reverse("feedback:submit"))
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    response = client.post(
        reverse("feedback:submit"),
        {**form_data(description="y" * 3000), "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 400
    assert "too large" in response.content.decode()


# --- Partials --------------------------------------------------------------------------------


def test_communes_partial_lists_the_province_communes(tree: Any, en_client: Client) -> None:
    response = en_client.get(reverse("feedback:communes"), {"province": "01"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Phường Hoàn Kiếm" in html
    assert "Phường Cửa Nam" in html
    assert "Sài Gòn" not in html
    assert "Tổ dân phố" not in html  # zones are not communes
    assert (
        en_client.get(reverse("feedback:communes"), {"province": "xx"}).content.count(b"<option")
        == 1
    )


def test_questions_partial_renders_by_datatype(tree: Any, en_client: Client) -> None:
    response = en_client.get(reverse("feedback:questions"), {"category": "truyen-thanh"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('type="radio" name="attribute[van-de]"') == 4
    for key in ("khong-nghe-ro", "qua-to", "khong-hoat-dong", "sai-gio"):
        assert f'value="{key}"' in html
    empty = en_client.get(reverse("feedback:questions"), {"category": "giao-thong"})
    assert empty.status_code == 200
    assert b"attribute[" not in empty.content


# --- Tracking --------------------------------------------------------------------------------


def test_lookup_redirects_to_the_tracking_page(tree: Any, en_client: Client) -> None:
    feedback = make_feedback()
    typed = feedback.code.lower()[:4] + " " + feedback.code.lower()[4:]
    response = en_client.get(reverse("feedback:lookup"), {"code": typed})
    assert response.status_code == 302
    assert response["Location"] == reverse("feedback:track", args=[feedback.code])


def test_unknown_codes_all_answer_alike(tree: Any, en_client: Client) -> None:
    first = en_client.get(reverse("feedback:track", args=["ZZZZ2222"]))
    second = en_client.get(reverse("feedback:track", args=["<script>"]))
    assert first.status_code == second.status_code == 404
    assert "No feedback has this tracking code." in first.content.decode()
    assert main_part(first) == main_part(second)


def test_track_shows_the_public_projection(tree: Any, en_client: Client, officer: Any) -> None:
    feedback = make_feedback(
        description=f"Gọi tôi {PHONE} hoặc {EMAIL}",
        name="Lê Văn C",
        phone="0987 654 321",
        email="c@vidu.vn",
        consent=True,
    )
    html = en_client.get(reverse("feedback:track", args=[feedback.code])).content.decode()
    assert "Received" in html
    assert "Answer expected by" in html
    for secret in (PHONE, EMAIL, "0987 654 321", "c@vidu.vn", "Lê Văn C"):
        assert secret not in html
    assert "[phone number hidden]" in html

    answered(officer, feedback, text="Đã kiểm tra và xử lý.")
    html = en_client.get(reverse("feedback:track", args=[feedback.code])).content.decode()
    assert "Đã kiểm tra và xử lý." in html
    assert 'data-testid="answer"' in html
    assert "Not satisfied with the answer?" in html
    for secret in ("0987 654 321", "c@vidu.vn", "Lê Văn C"):
        assert secret not in html


def test_rejected_feedback_shows_the_reason(tree: Any, en_client: Client, officer: Any) -> None:
    feedback = make_feedback()
    services.feedback_reject(actor=officer, feedback=feedback, reason="Thuộc thẩm quyền của tỉnh.")
    html = en_client.get(reverse("feedback:track", args=[feedback.code])).content.decode()
    assert "Thuộc thẩm quyền của tỉnh." in html


def test_reopen_within_the_window(tree: Any, en_client: Client, officer: Any) -> None:
    feedback = answered(officer, make_feedback())
    track_url = reverse("feedback:track", args=[feedback.code])
    track = en_client.get(track_url, {"key": feedback.token})
    html = track.content.decode()
    assert reverse("feedback:reopen", args=[feedback.code]) in html
    # With the receipt link, the key rides along hidden; nothing else is asked.
    assert f'type="hidden" name="verification" value="{feedback.token}"' in html
    assert "The phone number or e-mail you gave" not in html
    assert track["Referrer-Policy"] == "same-origin"
    assert track["Cache-Control"] == "private, no-store"
    response = en_client.post(
        reverse("feedback:reopen", args=[feedback.code]),
        {"reason": "Ổ gà vẫn còn.", "verification": feedback.token},
    )
    assert response.status_code == 303
    assert response["Location"].endswith("?reopened=1")
    feedback.refresh_from_db()
    assert feedback.status == Status.REOPENED
    page = en_client.get(response["Location"]).content.decode()
    assert "was reopened" in page


def test_reopen_refused_after_the_window(
    tree: Any, en_client: Client, officer: Any, settings: Any
) -> None:
    feedback = answered(officer, make_feedback())
    Feedback.objects.filter(pk=feedback.pk).update(
        answered_at=timezone.now() - dt.timedelta(days=settings.TTCS_FEEDBACK_REOPEN_DAYS + 1)
    )
    track = en_client.get(reverse("feedback:track", args=[feedback.code])).content.decode()
    assert "Not satisfied with the answer?" not in track
    response = en_client.post(
        reverse("feedback:reopen", args=[feedback.code]),
        {"reason": "Vẫn chưa xong.", "verification": feedback.token},
    )
    assert response.status_code == 409
    assert "can no longer be reopened" in response.content.decode()
    feedback.refresh_from_db()
    assert feedback.status == Status.ANSWERED


def test_reopen_of_an_unknown_code_is_404(tree: Any, en_client: Client) -> None:
    response = en_client.post(reverse("feedback:reopen", args=["ZZZZ2222"]), {"reason": "x"})
    assert response.status_code == 404


def test_reopen_without_the_link_asks_for_the_phone_or_email(
    tree: Any, en_client: Client, officer: Any
) -> None:
    feedback = answered(officer, make_feedback(phone=PHONE, email=EMAIL, consent=True))
    reopen_url = reverse("feedback:reopen", args=[feedback.code])
    html = en_client.get(reverse("feedback:track", args=[feedback.code])).content.decode()
    assert "The phone number or e-mail you gave" in html
    assert "send a new feedback" in html
    assert feedback.token not in html
    # Only reading the tracking code is not enough.
    for verification in ("", "0987654321", "ai.do@vidu.vn", "x" * 40):
        response = en_client.post(
            reverse("feedback:reopen", args=[feedback.code]),
            {"reason": "Vẫn còn.", "verification": verification},
        )
        assert response.status_code == 400, verification
        assert "does not match" in response.content.decode()
        assert verification not in ("", "x" * 40) or "value=" not in verification
        feedback.refresh_from_db()
        assert feedback.status == Status.ANSWERED
    response = en_client.post(reopen_url, {"reason": "Vẫn còn.", "verification": "+84912345678"})
    assert response.status_code == 303
    feedback.refresh_from_db()
    assert feedback.status == Status.REOPENED


def test_anonymous_sender_without_the_link_cannot_reopen(
    tree: Any, en_client: Client, officer: Any
) -> None:
    feedback = answered(officer, make_feedback())
    reopen_url = reverse("feedback:reopen", args=[feedback.code])
    without = en_client.post(reopen_url, {"reason": "Vẫn còn.", "verification": PHONE})
    assert without.status_code == 400
    # The same words as for a wrong phone: the page does not tell whether contact details exist.
    assert "does not match" in without.content.decode()
    assert "send a new feedback" in without.content.decode()
    feedback.refresh_from_db()
    assert feedback.status == Status.ANSWERED


def test_reopen_attempts_are_limited_per_address(
    tree: Any, en_client: Client, officer: Any, monkeypatch: Any
) -> None:
    from thongtincoso.feedback import public_views

    monkeypatch.setattr(public_views, "REOPEN_RATE", "2/h")
    feedback = answered(officer, make_feedback(phone=PHONE, consent=True))
    reopen_url = reverse("feedback:reopen", args=[feedback.code])
    for guess in ("0900000001", "0900000002"):
        assert en_client.post(reopen_url, {"reason": "x", "verification": guess}).status_code == 400
    response = en_client.post(reopen_url, {"reason": "x", "verification": PHONE})
    assert response.status_code == 429
    feedback.refresh_from_db()
    assert feedback.status == Status.ANSWERED


def test_nul_characters_get_a_form_error_not_a_crash(
    tree: Any, en_client: Client, officer: Any
) -> None:
    fields = ("description", "address", "phone", "name", "category", "province", "commune", "lat")
    for field in fields:
        response = submit(en_client, **{field: "Ổ gà\x00"})
        assert response.status_code == 400, field
        assert "Null characters are not allowed." in response.content.decode(), field
    assert Feedback.objects.count() == 0
    # The same in the address of the form, the partials and the list.
    for url in (
        reverse("feedback:submit") + "?province=%00&commune=0%000&category=%00",
        reverse("feedback:communes") + "?province=0%001",
        reverse("feedback:questions") + "?category=truyen%00thanh",
        reverse("feedback:public_list") + "?province=0%001&commune=%00&category=%00",
    ):
        # 400 from the middleware that refuses NUL in addresses, or 200: never a 500.
        assert en_client.get(url).status_code in (200, 400), url
    feedback = answered(officer, make_feedback())
    response = en_client.post(
        reverse("feedback:reopen", args=[feedback.code]),
        {"reason": "x\x00", "verification": feedback.token},
    )
    assert response.status_code == 400
    feedback.refresh_from_db()
    assert feedback.status == Status.ANSWERED
    export = en_client.post(reverse("feedback:export"), {"code": "\x00", "verification": "\x00"})
    assert export.status_code == 400


# --- Export ----------------------------------------------------------------------------------


def test_export_with_the_right_phone(tree: Any, en_client: Client) -> None:
    feedback = make_feedback(phone=PHONE, consent=True)
    response = en_client.post(
        reverse("feedback:export"), {"code": feedback.code, "verification": "+84 912 345 678"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="phan-anh-{feedback.code}.json"'
    )
    data = json.loads(response.content)
    assert data["tracking_code"] == feedback.code
    assert data["contact"]["phone"] == PHONE


def test_export_wrong_verification_answers_like_an_unknown_code(
    tree: Any, en_client: Client
) -> None:
    feedback = make_feedback(phone=PHONE, consent=True)
    wrong = en_client.post(
        reverse("feedback:export"), {"code": feedback.code, "verification": "0900000000"}
    )
    unknown = en_client.post(
        reverse("feedback:export"), {"code": "ZZZZ2222", "verification": PHONE}
    )
    assert wrong.status_code == unknown.status_code == 400
    assert "No feedback matches" in wrong.content.decode()

    # The form keeps what was typed; apart from that, the two pages are the same.
    def strip(response: Any) -> str:
        html = main_part(response).replace(feedback.code, "").replace("ZZZZ2222", "")
        html = html.replace("0900000000", "").replace(PHONE, "")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)

    assert strip(wrong) == strip(unknown)
    assert PHONE not in wrong.content.decode()


def test_export_is_limited_per_address(tree: Any, en_client: Client, monkeypatch: Any) -> None:
    from thongtincoso.feedback import public_views

    monkeypatch.setattr(public_views, "EXPORT_RATE", "2/h")
    feedback = make_feedback(phone=PHONE, consent=True)
    for _ in range(2):
        en_client.post(reverse("feedback:export"), {"code": "ZZZZ2222", "verification": PHONE})
    response = en_client.post(
        reverse("feedback:export"), {"code": feedback.code, "verification": PHONE}
    )
    assert response.status_code == 429


# --- Rate limits -----------------------------------------------------------------------------


def test_submissions_limited_per_address(tree: Any, en_client: Client, settings: Any) -> None:
    settings.TTCS_FEEDBACK_RATE_IP = "2/h"
    cache.clear()
    assert submit(en_client, commune="").status_code == 400  # a typo does not count
    assert submit(en_client, description="\x00").status_code == 400  # nor a refused field
    assert submit(en_client).status_code == 303
    assert submit(en_client).status_code == 303
    response = submit(en_client)
    assert response.status_code == 429
    assert "Please wait" in response.content.decode()
    assert Feedback.objects.count() == 2
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert submit(other).status_code == 303


def test_submissions_limited_per_phone(tree: Any, settings: Any) -> None:
    settings.TTCS_FEEDBACK_RATE_CONTACT = "1/h"
    cache.clear()
    first = Client(REMOTE_ADDR="203.0.113.1")
    second = Client(REMOTE_ADDR="203.0.113.2")
    assert submit(first, phone=PHONE, consent="on").status_code == 303
    # The same number written differently is the same sender.
    assert submit(second, phone="+84912345678", consent="on").status_code == 429
    assert submit(second, phone="0987654321", consent="on").status_code == 303
    assert Feedback.objects.count() == 2


# --- Public list -----------------------------------------------------------------------------


def test_public_list_shows_only_checked_feedback(
    tree: Any, en_client: Client, officer: Any
) -> None:
    received = make_feedback(description="Mới nhận, chưa kiểm tra")
    rejected = make_feedback(description="Bị từ chối vì ngoài phạm vi")
    services.feedback_reject(actor=officer, feedback=rejected, reason="Không thuộc phạm vi.")
    accepted = make_feedback(description="Đã tiếp nhận xử lý")
    services.feedback_accept(actor=officer, feedback=accepted)
    done = answered(
        officer, make_feedback(description="Đã trả lời xong", phone=PHONE, consent=True)
    )

    html = en_client.get(reverse("feedback:public_list")).content.decode()
    assert "Đã tiếp nhận xử lý" in html
    assert "Đã trả lời xong" in html
    assert "Mới nhận" not in html
    assert "Bị từ chối" not in html
    assert received.code not in html
    assert rejected.code not in html
    assert PHONE not in html
    assert reverse("feedback:submit") in html

    detail = en_client.get(reverse("feedback:public_detail", args=[done.code]))
    assert detail.status_code == 200
    assert "Đã vá ổ gà" in detail.content.decode()
    assert "Not satisfied" not in detail.content.decode()
    assert PHONE not in detail.content.decode()
    hidden = en_client.get(reverse("feedback:public_detail", args=[received.code]))
    assert hidden.status_code == 404


def test_public_list_filters(tree: Any, en_client: Client, officer: Any, make_user: Any) -> None:
    here = make_feedback(description="Ở Hoàn Kiếm")
    services.feedback_accept(actor=officer, feedback=here)
    sg_officer = make_user("sg_officer", tree.saigon, role=Role.FEEDBACK_OFFICER)
    there = make_feedback(commune="26734", category="moi-truong", description="Ở Sài Gòn")
    services.feedback_accept(actor=sg_officer, feedback=there)

    def listed(**params: str) -> str:
        return en_client.get(reverse("feedback:public_list"), params).content.decode()

    assert "Ở Hoàn Kiếm" in listed(province="01")
    assert "Ở Sài Gòn" not in listed(province="01")
    assert "Ở Sài Gòn" in listed(commune="26734")
    assert "Ở Hoàn Kiếm" not in listed(commune="26734")
    assert "Ở Sài Gòn" in listed(category="moi-truong")
    assert "Ở Hoàn Kiếm" not in listed(category="moi-truong")


def test_public_list_queries_do_not_grow_with_the_page(
    tree: Any, en_client: Client, officer: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(n: int) -> None:
        for i in range(n):
            feedback = make_feedback(description=f"Phản ánh số {i}")
            if i % 2:
                answered(officer, feedback, text=f"Trả lời số {i}")
            else:
                services.feedback_accept(actor=officer, feedback=feedback)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = en_client.get(reverse("feedback:public_list"))
        assert response.status_code == 200
        return len(captured.captured_queries)

    add(3)
    few = queries()
    add(10)
    many = queries()
    assert many == few
    html = en_client.get(reverse("feedback:public_list")).content.decode()
    assert "Trả lời số 9" in html


# --- Portal links ----------------------------------------------------------------------------


def test_commune_portal_page_links_to_feedback_and_shows_answers(
    tree: Any, en_client: Client, officer: Any
) -> None:
    answered(officer, make_feedback(description="Đèn đường tắt cả tuần", phone=PHONE, consent=True))
    html = en_client.get(reverse("portal:unit", args=["00070"])).content.decode()
    assert reverse("feedback:submit") + "?commune=00070" in html
    assert "Đèn đường tắt cả tuần" in html
    assert PHONE not in html
    province = en_client.get(reverse("portal:unit", args=["01"])).content.decode()
    assert reverse("feedback:submit") + "?province=01" in province
    home = en_client.get(reverse("portal:home")).content.decode()
    assert reverse("feedback:submit") in home


def test_commune_portal_page_queries_do_not_grow_with_the_answers(
    tree: Any, en_client: Client, officer: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = en_client.get(reverse("portal:unit", args=["00070"]))
        assert response.status_code == 200
        return len(captured.captured_queries)

    answered(officer, make_feedback(description="Thứ nhất"))
    one = queries()
    for n in range(4):
        answered(officer, make_feedback(description=f"Thứ {n + 2}"))
    assert queries() == one

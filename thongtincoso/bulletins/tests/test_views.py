"""The staff pages of bulletins through the Django test client, on a real database.

Pages are read in English (the language switch's cookie): the assertions then hold whatever the
Vietnamese catalog says.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import (
    Attachment,
    Bulletin,
    Category,
    EditorialSettings,
    Language,
    Revision,
    Status,
)
from thongtincoso.notifications.models import Notification

from .factories import draft


@pytest.fixture
def en(client_for: Any) -> Any:
    def make(user: Any) -> Any:
        client = client_for(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make


def _html(response: Any) -> str:
    return response.content.decode()


def _form_data(bulletin: Bulletin | None = None, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Lịch tiêm chủng tháng 4",
        "summary": "Trạm y tế tiêm chủng ngày 20/4.",
        "body": "<p>Mời các gia đình <strong>đưa trẻ</strong> đi tiêm.</p><script>x()</script>",
        "reading_text": "",
        "category": "kien-thuc-san-xuat-doi-song",
        "language": "vi",
        "channels": ["radio", "portal"],
        "priority": "normal",
        "valid_from": "",
        "valid_until": "",
        "targets": [],
        "tags": "y tế, tiêm chủng",
        "source_note": "Trạm y tế",
    }
    if bulletin is not None:
        data["version"] = bulletin.version
        data["targets"] = list(bulletin.targets.values_list("code", flat=True))
    data.update(overrides)
    return data


# --- List -----------------------------------------------------------------------------------


def test_list_shows_bulletins_in_scope_and_filters(tree, staff, en):
    mine = draft(staff.hk_editor, tree.hoankiem, title="Phường Hoàn Kiếm họp dân")
    other = draft(staff.hn_editor, tree.hanoi, title="Thành phố thông báo", priority="priority")
    services.bulletin_submit(actor=staff.hn_editor, bulletin=other)

    hk = en(staff.hk_editor)
    html = _html(hk.get("/bulletins/"))
    assert mine.title in html
    assert other.title not in html  # the province's bulletin is above the commune

    hn = en(staff.hn_editor)
    html = _html(hn.get("/bulletins/"))
    assert mine.title in html
    assert other.title in html
    html = _html(hn.get("/bulletins/", {"status": "submitted"}))
    assert other.title in html
    assert mine.title not in html
    html = _html(hn.get("/bulletins/", {"priority": "priority", "unit": "01"}))
    assert other.title in html
    assert mine.title not in html
    html = _html(hn.get("/bulletins/", {"unit": "00070"}))
    assert mine.title in html
    assert other.title not in html
    html = _html(hn.get("/bulletins/", {"q": "họp dân"}))
    assert mine.title in html
    assert other.title not in html
    html = _html(hn.get("/bulletins/", {"source": "adapted"}))
    assert "No bulletins match." in html


def test_list_htmx_request_gets_the_table_alone(tree, staff, en):
    draft(staff.hk_editor, tree.hoankiem, title="Thông báo cúp điện")
    response = en(staff.hk_editor).get("/bulletins/", {"q": "cúp điện"}, HTTP_HX_REQUEST="true")
    html = _html(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert "Thông báo cúp điện" in html
    assert '<table class="bulletins">' in html


def test_list_survives_bad_filter_values(tree, staff, en):
    draft(staff.hk_editor, tree.hoankiem)
    client = en(staff.hk_editor)
    for params in (
        {"status": "nonsense", "priority": "<script>", "category": "x"},
        {"date_from": "31/31/2026", "date_to": "yesterday", "page": "abc"},
        {"date_from": "2026-05-01", "date_to": "2026-04-01"},
        {"page": "99999", "unit": "nope", "source": "?"},
    ):
        response = client.get("/bulletins/", params)
        assert response.status_code == 200, params
    assert "must not be after" in _html(
        client.get("/bulletins/", {"date_from": "2026-05-01", "date_to": "2026-04-01"})
    )


def test_list_offers_new_bulletin_for_the_editors_unit(tree, staff, en):
    html = _html(en(staff.hk_editor).get("/bulletins/"))
    assert "/bulletins/new/?unit=00070" in html
    assert "/bulletins/new/" not in _html(en(staff.hk_approver).get("/bulletins/"))


# --- Compose and edit -----------------------------------------------------------------------


def test_compose_creates_a_sanitised_draft(tree, staff, en):
    client = en(staff.hk_editor)
    page = client.get("/bulletins/new/", {"unit": "00070"})
    assert page.status_code == 200
    assert 'type="datetime-local"' in _html(page)

    response = client.post(
        "/bulletins/new/?unit=00070",
        _form_data(valid_from="2026-04-20T07:30", targets=["00070.001"]),
    )

    assert response.status_code == 302
    bulletin = Bulletin.objects.get(title="Lịch tiêm chủng tháng 4")
    assert response["Location"] == f"/bulletins/{bulletin.pk}/"
    assert bulletin.status == Status.DRAFT
    assert bulletin.unit == tree.hoankiem
    assert bulletin.author == staff.hk_editor
    assert "<script>" not in bulletin.body
    assert "<strong>đưa trẻ</strong>" in bulletin.body
    assert bulletin.reading_text == "Mời các gia đình đưa trẻ đi tiêm."
    assert sorted(bulletin.tags.values_list("name", flat=True)) == ["tiêm chủng", "y tế"]
    assert list(bulletin.targets.values_list("code", flat=True)) == ["00070.001"]
    # 07:30 in Hà Nội is 00:30 UTC.
    assert bulletin.valid_from.isoformat() == "2026-04-20T00:30:00+00:00"


def test_compose_refuses_bad_input_with_messages_and_no_500(tree, staff, en):
    client = en(staff.hk_editor)
    response = client.post(
        "/bulletins/new/?unit=00070",
        _form_data(
            title="",
            channels=[],
            valid_from="not a date",
            valid_until="2020-01-01T00:00",
            category="nope",
        ),
    )
    assert response.status_code == 400
    html = _html(response)
    assert "Choose at least one channel." in html
    assert "Enter a date and time" in html
    assert Bulletin.objects.count() == 0

    response = client.post(
        "/bulletins/new/?unit=00070",
        _form_data(valid_from="2026-05-01T08:00", valid_until="2026-04-01T08:00"),
    )
    assert response.status_code == 400
    assert "The end of validity must come after its start." in _html(response)
    assert Bulletin.objects.count() == 0


def test_compose_for_a_unit_out_of_scope_is_404(tree, staff, en):
    assert en(staff.cn_editor).get("/bulletins/new/", {"unit": "00070"}).status_code == 404
    assert en(staff.hk_approver).get("/bulletins/new/", {"unit": "00070"}).status_code == 404
    assert en(staff.cn_editor).post("/bulletins/new/?unit=00070", _form_data()).status_code == 404


def test_edit_saves_and_a_stale_version_is_refused_keeping_the_first_save(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    first, second = en(staff.hk_editor), en(staff.hk_editor)
    form = _form_data(bulletin)

    page = first.get(f"/bulletins/{bulletin.pk}/edit/")
    assert page.status_code == 200
    assert f'name="version" value="{bulletin.version}"' in _html(page)

    saved = first.post(
        f"/bulletins/{bulletin.pk}/edit/", {**form, "title": "Bản của người thứ nhất"}
    )
    assert saved.status_code == 302

    stale = second.post(
        f"/bulletins/{bulletin.pk}/edit/", {**form, "title": "Bản của người thứ hai"}
    )

    assert stale.status_code == 409
    html = _html(stale)
    assert "Someone else saved this bulletin after you opened it." in html
    assert 'value="Bản của người thứ hai"' in html  # the person's text is still in the form
    bulletin.refresh_from_db()
    assert bulletin.title == "Bản của người thứ nhất"
    assert bulletin.version == 2


def test_edit_of_a_submitted_bulletin_says_to_reopen(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    client = en(staff.hk_editor)
    response = client.get(f"/bulletins/{bulletin.pk}/edit/", follow=True)
    assert "cannot be edited; reopen it first" in _html(response)
    assert en(staff.cn_editor).get(f"/bulletins/{bulletin.pk}/edit/").status_code == 404


def test_autosave_returns_status_and_new_version(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    client = en(staff.hk_editor)
    url = f"/bulletins/{bulletin.pk}/autosave/"

    response = client.post(url, _form_data(bulletin, title="Đang viết dở"), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = _html(response)
    assert "Saved at" in html
    assert 'value="2" id="id_version" hx-swap-oob="true"' in html
    bulletin.refresh_from_db()
    assert (bulletin.title, bulletin.version) == ("Đang viết dở", 2)
    assert bulletin.revisions.order_by("-number").first().details["autosave"] is True

    # A second autosave by the same person replaces the first autosave revision.
    client.post(url, _form_data(bulletin, title="Đang viết dở 2"), HTTP_HX_REQUEST="true")
    assert Revision.objects.filter(bulletin=bulletin).count() == 2

    stale = client.post(url, {**_form_data(bulletin), "version": 1}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409
    assert "Someone else saved" in _html(stale)

    invalid = client.post(url, _form_data(bulletin, title=""), HTTP_HX_REQUEST="true")
    assert invalid.status_code == 400
    assert "Not saved automatically" in _html(invalid)
    assert en(staff.cn_editor).post(url, _form_data(bulletin)).status_code == 404
    assert client.get(url).status_code == 405


def test_estimate_shows_spoken_length_and_sms_parts(tree, staff, en):
    client = en(staff.hk_editor)
    response = client.post(
        "/bulletins/estimate/",
        {"reading_text": "", "body": "<p>" + "một " * 180 + "</p>", "summary": "Thông báo"},
    )
    html = _html(response)
    assert response.status_code == 200
    assert "Spoken length about 1:00" in html
    assert "(read from the body)" in html
    assert "9 characters, 1 message (UCS-2)" in html


# --- Attachments ----------------------------------------------------------------------------


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_fake_image_is_refused_and_a_real_png_accepted(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    client = en(staff.hk_editor)
    url = f"/bulletins/{bulletin.pk}/attachments/"

    fake = SimpleUploadedFile("anh.jpg", b"this is text, not a photo", content_type="image/jpeg")
    response = client.post(url, {"file": fake})
    assert response.status_code == 400
    assert "is not a file type we accept" in _html(response)
    assert not Attachment.objects.exists()

    real = SimpleUploadedFile("anh.png", _png(), content_type="image/png")
    response = client.post(url, {"file": real}, follow=True)
    assert response.status_code == 200
    attachment = Attachment.objects.get()
    assert (attachment.kind, attachment.original_name) == ("image", "anh.png")
    assert "anh.png" in _html(response)
    # The link goes to the portal's download view, which lets the draft's editor read it.
    from thongtincoso.portal import downloads

    link = f"/portal/files/{attachment.pk}/{downloads.url_name(attachment)}"
    assert f'href="{link}"' in _html(response)
    assert client.get(link).status_code == 200
    assert en(staff.cn_editor).get(link).status_code == 404

    removed = client.post(f"/bulletins/{bulletin.pk}/attachments/{attachment.pk}/remove/")
    assert removed.status_code == 302
    assert not Attachment.objects.exists()


def test_attachment_out_of_scope_is_404(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    real = SimpleUploadedFile("anh.png", _png(), content_type="image/png")
    response = en(staff.cn_editor).post(f"/bulletins/{bulletin.pk}/attachments/", {"file": real})
    assert response.status_code == 404
    assert not Attachment.objects.exists()


# --- Detail and transitions -----------------------------------------------------------------


def test_detail_shows_content_previews_and_buttons(tree, staff, en):
    bulletin = draft(
        staff.hk_editor, tree.hoankiem, summary="Tiêm chủng ngày 20/4", body="<p>Nội dung</p>"
    )
    html = _html(en(staff.hk_editor).get(f"/bulletins/{bulletin.pk}/"))
    assert "Submit for approval" in html
    assert "E-board" in html
    assert "SMS" in html
    assert "Portal" in html
    assert "20 characters, 1 message (UCS-2)" in html
    assert "Approve" not in html  # an editor has no approve button
    assert en(staff.cn_editor).get(f"/bulletins/{bulletin.pk}/").status_code == 404
    for bad in ("/bulletins/0/", "/bulletins/abc/", "/bulletins/99999999999999999999/"):
        assert en(staff.hk_editor).get(bad).status_code == 404, bad


def test_workflow_through_the_pages(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    editor, approver = en(staff.hk_editor), en(staff.hk_approver)
    base = f"/bulletins/{bulletin.pk}/do"

    assert editor.post(f"{base}/submit/").status_code == 302
    bulletin.refresh_from_db()
    assert bulletin.status == Status.SUBMITTED

    # Returning needs a comment, shown next to the form.
    response = approver.post(f"{base}/return/", {"comment": "  "})
    assert response.status_code == 400
    assert "Say what the author should change." in _html(response)
    assert approver.post(f"{base}/return/", {"comment": "Sửa ngày tiêm"}).status_code == 302
    bulletin.refresh_from_db()
    assert bulletin.status == Status.RETURNED
    assert "Sửa ngày tiêm" in _html(editor.get(f"/bulletins/{bulletin.pk}/"))

    editor.post(f"{base}/submit/")
    response = approver.post(f"{base}/approve/", {"comment": "Đồng ý"}, follow=True)
    assert "Approved." in _html(response)
    bulletin.refresh_from_db()
    assert bulletin.status == Status.PUBLISHED

    response = approver.post(f"{base}/withdraw/", {"comment": ""})
    assert response.status_code == 400
    assert "Give the reason for withdrawing the bulletin." in _html(response)
    approver.post(f"{base}/withdraw/", {"comment": "Thông tin đã cũ"})
    bulletin.refresh_from_db()
    assert (bulletin.status, bulletin.end_reason) == (Status.WITHDRAWN, "Thông tin đã cũ")


def test_forbidden_and_out_of_scope_transitions(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    url = f"/bulletins/{bulletin.pk}/do/approve/"

    # Sees the bulletin, may not approve it: a message, nothing changes.
    response = en(staff.hk_operator).post(url, follow=True)
    assert "You are not allowed to do this with this bulletin." in _html(response)
    # Out of scope: exactly like a missing bulletin.
    assert en(staff.cn_editor).post(url).status_code == 404
    assert en(staff.hk_approver).post(f"/bulletins/{bulletin.pk}/do/explode/").status_code == 404
    assert en(staff.hk_approver).get(url).status_code == 405
    # A transition no longer possible: a message.
    response = en(staff.hk_editor).post(f"/bulletins/{bulletin.pk}/do/submit/", follow=True)
    assert "cannot be submitted" in _html(response)
    bulletin.refresh_from_db()
    assert bulletin.status == Status.SUBMITTED


def test_four_eyes_blocker_is_shown_instead_of_approving(tree, make_user, en):
    both = make_user("both", tree.hoankiem, role=Role.EDITOR)
    from thongtincoso.accounts.services import role_assign

    role_assign(actor=None, user=both, role=Role.APPROVER, unit=tree.hoankiem)
    bulletin = draft(both, tree.hoankiem)
    services.bulletin_submit(actor=both, bulletin=bulletin)

    client = en(both)
    html = _html(client.get(f"/bulletins/{bulletin.pk}/"))
    assert "The author of a bulletin cannot approve it (four-eyes rule)." in html
    response = client.post(f"/bulletins/{bulletin.pk}/do/approve/", follow=True)
    assert "four-eyes rule" in _html(response)
    bulletin.refresh_from_db()
    assert bulletin.status == Status.SUBMITTED


def test_origin_sees_relay_status_per_commune(tree, staff, en):
    from .factories import published

    bulletin = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070", "00073"])
    html = _html(en(staff.hn_editor).get(f"/bulletins/{bulletin.pk}/"))
    assert "Relay to communes" in html
    assert "Phường Hoàn Kiếm" in html
    assert "Phường Cửa Nam" in html


# --- Revisions ------------------------------------------------------------------------------


def test_revision_diff_marks_changes_and_escapes_markup(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem, title="Họp dân <script>alert(1)</script>")
    services.bulletin_update(
        actor=staff.hk_editor,
        bulletin=bulletin,
        version=bulletin.version,
        title="Họp dân khu phố",
        priority="priority",
    )
    client = en(staff.hk_editor)

    listing = client.get(f"/bulletins/{bulletin.pk}/revisions/")
    assert listing.status_code == 200
    assert f"/bulletins/{bulletin.pk}/revisions/1/2/" in _html(listing)
    assert client.get(f"/bulletins/{bulletin.pk}/revisions/", {"a": "1", "b": "2"})["Location"] == (
        f"/bulletins/{bulletin.pk}/revisions/1/2/"
    )

    html = _html(client.get(f"/bulletins/{bulletin.pk}/revisions/1/2/"))
    assert "<ins>khu phố</ins>" in html
    assert "<del>&lt;script&gt;alert(1)&lt;/script&gt;</del>" in html
    assert "<script>alert" not in html
    assert "Priority" in html
    assert "<ins>priority</ins>" in html

    assert client.get(f"/bulletins/{bulletin.pk}/revisions/1/9/").status_code == 404
    # A number the database cannot hold, or a digit int() refuses, is a 404 or the list, not a 500.
    huge = f"/bulletins/{bulletin.pk}/revisions/99999999999999999999/1/"
    assert client.get(huge).status_code == 404
    superscript = client.get(f"/bulletins/{bulletin.pk}/revisions/", {"a": "²", "b": "1"})
    assert superscript.status_code == 200
    assert en(staff.cn_editor).get(f"/bulletins/{bulletin.pk}/revisions/1/2/").status_code == 404


# --- Approval queue -------------------------------------------------------------------------


def test_approval_queue_approves_and_returns_inline(tree, staff, en):
    one = draft(staff.hk_editor, tree.hoankiem, title="Bản tin một")
    two = draft(staff.hk_editor, tree.hoankiem, title="Bản tin hai", priority="emergency")
    for b in (one, two):
        services.bulletin_submit(actor=staff.hk_editor, bulletin=b)
    client = en(staff.hk_approver)

    html = _html(client.get("/bulletins/queue/"))
    assert html.index("Bản tin hai") < html.index("Bản tin một")  # emergency first

    response = client.post(
        f"/bulletins/{one.pk}/do/approve/", {"next": "/bulletins/queue/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/bulletins/queue/"
    response = client.post(
        f"/bulletins/{two.pk}/do/return/", {"next": "/bulletins/queue/", "comment": ""}, follow=True
    )
    assert "Say what the author should change." in _html(response)
    client.post(f"/bulletins/{two.pk}/do/return/", {"next": "/bulletins/queue/", "comment": "Sửa"})
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == (Status.PUBLISHED, Status.RETURNED)
    assert "Nothing is waiting for approval." in _html(client.get("/bulletins/queue/"))
    assert en(staff.hk_editor).get("/bulletins/queue/").status_code == 404


# --- Notifications --------------------------------------------------------------------------


def test_notifications_badge_page_and_mark_read(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    client = en(staff.hk_approver)

    html = _html(client.get("/"))
    assert 'data-testid="unread-count">1<' in html
    assert 'data-testid="queue-count">1<' in html

    page = _html(client.get("/bulletins/notifications/"))
    assert bulletin.title in page
    note = Notification.objects.get(recipient=staff.hk_approver)
    opened = client.post(f"/bulletins/notifications/{note.pk}/open/")
    assert opened["Location"] == f"/bulletins/{bulletin.pk}/"
    note.refresh_from_db()
    assert note.read_at is not None
    assert 'data-testid="unread-count"' not in _html(client.get("/"))

    other = Notification.objects.create(
        recipient=staff.hk_approver, message="Khác", url="https://evil.example/"
    )
    assert client.post(f"/bulletins/notifications/{other.pk}/open/")["Location"] == (
        "/bulletins/notifications/"
    )
    client.post("/bulletins/notifications/read/")
    assert not Notification.objects.filter(
        recipient=staff.hk_approver, read_at__isnull=True
    ).exists()
    # Someone else's notification does not exist for this user.
    assert en(staff.hk_editor).post(f"/bulletins/notifications/{note.pk}/open/").status_code == 404


# --- Settings and configuration -------------------------------------------------------------


def test_editorial_settings_page_for_unit_admins(tree, make_user, staff, en):
    admin = en(make_user("hn_admin", tree.hanoi, role=Role.UNIT_ADMIN))
    assert "/bulletins/settings/01/" in _html(admin.get("/units/01/"))
    page = admin.get("/bulletins/settings/00070/")
    assert page.status_code == 200
    assert "follows the default rules" in _html(page)

    response = admin.post("/bulletins/settings/01/", {"own_unit_approval": "on"})
    assert response.status_code == 302
    row = EditorialSettings.objects.get(unit=tree.hanoi)
    assert (row.four_eyes, row.own_unit_approval) == (False, True)
    assert "follows the rules of Thành phố Hà Nội" in _html(admin.get("/bulletins/settings/00070/"))
    assert en(staff.hn_editor).get("/bulletins/settings/01/").status_code == 404
    assert en(staff.hn_editor).post("/bulletins/settings/01/", {}).status_code == 404


def test_system_admin_manages_categories_and_languages(tree, system_admin, staff, en):
    client = en(system_admin)
    assert client.get("/bulletins/config/").status_code == 200

    response = client.post(
        "/bulletins/config/category/new/",
        {"category-code": "an-ninh", "category-name": "An ninh", "category-position": "3"},
    )
    assert response.status_code == 302
    category = Category.objects.get(code="an-ninh")
    duplicate = client.post(
        "/bulletins/config/category/new/",
        {"category-code": "an-ninh", "category-name": "Khác", "category-position": "1"},
    )
    assert duplicate.status_code == 400
    assert "is already used" in _html(duplicate)

    client.post(
        f"/bulletins/config/category/{category.pk}/",
        {"name": "An ninh trật tự", "position": "1"},
    )
    category.refresh_from_db()
    assert (category.name, category.position, category.is_active) == ("An ninh trật tự", 1, False)

    client.post(
        "/bulletins/config/language/new/",
        {"language-code": "hmn", "language-name": "Tiếng H'Mông", "language-position": "5"},
    )
    language = Language.objects.get(code="hmn")
    client.post(
        f"/bulletins/config/language/{language.pk}/",
        {"name": "Tiếng Mông", "position": "5", "is_active": "on"},
    )
    language.refresh_from_db()
    assert language.name == "Tiếng Mông"
    actions = set(AuditRecord.objects.values_list("action", flat=True))
    assert {
        "bulletins.category.create",
        "bulletins.category.update",
        "bulletins.language.create",
        "bulletins.language.update",
    } <= actions

    editor = en(staff.hn_editor)
    assert editor.get("/bulletins/config/").status_code == 404
    assert (
        editor.post(
            f"/bulletins/config/category/{category.pk}/", {"name": "x", "position": "1"}
        ).status_code
        == 404
    )
    assert client.post("/bulletins/config/widget/new/", {}).status_code == 404


# --- Accessibility --------------------------------------------------------------------------


def _problems(html: str) -> list[str]:
    """Dangling aria-describedby targets, duplicate ids, inputs without a label."""
    import re

    ids = re.findall(r'\sid="([^"]+)"', html)
    wanted = {t for v in re.findall(r'aria-describedby="([^"]+)"', html) for t in v.split()}
    problems = [f"describedby {t}" for t in sorted(wanted - set(ids))]
    problems += [f"duplicate id {i}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    labelled = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag or "aria-label=" in tag:
            continue
        match = re.search(r'\sid="([^"]+)"', tag)
        if not match or match.group(1) not in labelled:
            problems.append(f"unlabelled {tag[:80]}")
    return problems


def test_pages_label_every_input_and_link_help_texts(tree, staff, en, system_admin):
    bulletin = draft(staff.hk_editor, tree.hoankiem, summary="Tóm tắt")
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    from .factories import published

    published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"], priority="priority"
    )
    published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    editor, approver = en(staff.hk_editor), en(staff.hk_approver)
    pages = {
        "list": editor.get("/bulletins/"),
        "compose": editor.get("/bulletins/new/?unit=00070"),
        "compose errors": editor.post("/bulletins/new/?unit=00070", {"title": ""}),
        "detail": approver.get(f"/bulletins/{bulletin.pk}/"),
        "queue": approver.get("/bulletins/queue/"),
        "inbox": editor.get("/bulletins/inbox/"),
        "config": en(system_admin).get("/bulletins/config/"),
        "settings": en(system_admin).get("/bulletins/settings/00070/"),
    }
    for name, response in pages.items():
        assert response.status_code in (200, 400), name
        assert _problems(_html(response)) == [], name


def test_editor_dialogs_are_translated_for_the_browser(db):
    """django-prose-editor asks window.gettext for its dialog texts; /jsi18n/ answers in Vietnamese
    from locale/vi/LC_MESSAGES/djangojs.po (the package ships no Vietnamese)."""
    import json

    from django.test import Client

    client = Client()
    client.cookies["django_language"] = "vi"
    script = client.get("/jsi18n/").content.decode()
    assert json.dumps("Insert Table") in script
    assert json.dumps("Chèn bảng") in script


def test_origin_filters_its_communes_by_status(tree, staff, client_for):
    from thongtincoso.bulletins import services as svc
    from thongtincoso.bulletins.models import Delivery

    from .factories import published

    b = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070", "00073"])
    svc.delivery_decline(
        actor=staff.hk_editor,
        delivery=Delivery.objects.get(bulletin=b, commune=tree.hoankiem),
        reason="Trùng lịch phát",
    )
    client = client_for(staff.hn_editor)
    everything = client.get(f"/bulletins/{b.pk}/").content.decode()
    assert "00070" in everything
    assert "00073" in everything
    declined = client.get(f"/bulletins/{b.pk}/?dstatus=declined").content.decode()
    table = declined.split('id="relay-heading"', 1)[1]
    assert "Trùng lịch phát" in table
    assert "00073" not in table
    # A made-up status shows everything rather than an error.
    assert client.get(f"/bulletins/{b.pk}/?dstatus=<x>").status_code == 200


def test_dates_outside_plausible_years_are_form_errors(tree, staff, en):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    client = en(staff.hk_editor)
    response = client.post(
        f"/bulletins/{bulletin.pk}/edit/",
        _form_data(bulletin, version=bulletin.version, valid_from="0001-01-01T00:00"),
    )
    assert response.status_code == 400
    assert "between the years 2000 and 2099" in _html(response)
    bulletin.refresh_from_db()
    assert bulletin.version == 1

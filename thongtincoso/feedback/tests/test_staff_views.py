"""The handlers' pages, through the web: scoping, every workflow action, privacy, admin lists."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import role_assign
from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins.models import Bulletin
from thongtincoso.feedback import services
from thongtincoso.feedback.models import (
    AnswerState,
    Contact,
    Feedback,
    Holiday,
    RoutingRule,
    Source,
    Status,
)

from .factories import (
    SENDER_PHONE,
    accepted_feedback,
    answered_feedback,
    jpeg_bytes,
    make_approver,
    make_feedback,
    make_officer,
    make_sender_feedback,
    make_unit_admin,
    reload,
)

pytestmark = pytest.mark.django_db

LIST = "/feedback/staff/"


@pytest.fixture
def client_for(client_for: Any) -> Any:
    """The shared fixture's clients, with English chosen: the pages are Vietnamese by default
    and these asserts read the English msgids."""
    from django.conf import settings

    def make(user: Any) -> Any:
        client = client_for(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make


def detail(fb: Feedback) -> str:
    return f"/feedback/staff/{fb.code}/"


def act(fb: Feedback, action: str) -> str:
    return f"/feedback/staff/{fb.code}/{action}/"


@pytest.fixture
def officer(tree: Any, make_user: Any) -> Any:
    return make_officer(make_user, tree.hoankiem, "officer_hk")


@pytest.fixture
def other_officer(tree: Any, make_user: Any) -> Any:
    return make_officer(make_user, tree.cuanam, "officer_cn")


# --- Scope and the list -----------------------------------------------------------------------


def test_officer_sees_only_feedback_of_their_commune(tree, officer, other_officer, client_for):
    mine = make_feedback(tree.hoankiem)
    theirs = make_feedback(tree.cuanam)
    client = client_for(officer)

    html = client.get(LIST).content.decode()

    assert mine.code in html
    assert theirs.code not in html
    assert client.get(detail(mine)).status_code == 200
    assert client.get(detail(theirs)).status_code == 404
    assert client.post(act(theirs, "accept")).status_code == 404
    assert reload(theirs).status == Status.RECEIVED


def test_pages_are_for_staff_only(tree, make_user, client_for):
    editor = make_user("editor", tree.hoankiem, role=Role.EDITOR)
    fb = make_feedback(tree.hoankiem)
    client = client_for(editor)
    assert client.get(LIST).status_code == 404
    assert client.get(detail(fb)).status_code == 404


def test_filters(tree, officer, client_for):
    plain = make_feedback(tree.hoankiem, "moi-truong", description="Cây đổ chắn ngang đường phố")
    light = make_feedback(tree.hoankiem, "chieu-sang", description="Đèn đường hỏng cả tuần nay")
    accepted = accepted_feedback(tree.hoankiem, officer, description="Ổ gà lớn giữa đường")
    client = client_for(officer)

    def codes(**params: str) -> set[str]:
        html = client.get(LIST, params).content.decode()
        return {f.code for f in (plain, light, accepted) if f.code in html}

    assert codes() == {plain.code, light.code, accepted.code}
    assert codes(category="chieu-sang") == {light.code}
    assert codes(status="accepted") == {accepted.code}
    assert codes(status="open") == {plain.code, light.code, accepted.code}
    assert codes(q="hỏng cả tuần") == {light.code}
    # With or without diacritics, any case, words in any order (folded search, SQLite too).
    assert codes(q="ĐÈN ĐƯỜNG") == {light.code}
    assert codes(q="tuan den duong") == {light.code}
    assert codes(q="duong") == {plain.code, light.code, accepted.code}
    assert codes(q=accepted.code.lower()) == {accepted.code}
    assert codes(unit="00073") == set()
    assert codes(assignee="me") == set()
    assert codes(assignee="none") == {plain.code, light.code, accepted.code}
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    assert codes(date_from=tomorrow) == set()


def test_overdue_flag_and_filter(tree, officer, client_for):
    late = make_feedback(tree.hoankiem, description="Nước thải tràn ra đường nhiều ngày")
    on_time = make_feedback(tree.hoankiem, description="Biển báo bị che khuất bởi cây")
    Feedback.objects.filter(pk=late.pk).update(
        due_date=timezone.localdate() - dt.timedelta(days=14)
    )
    client = client_for(officer)

    html = client.get(LIST, {"status": "overdue"}).content.decode()
    assert late.code in html
    assert on_time.code not in html
    assert 'data-testid="overdue"' in html
    # Fourteen calendar days back hold at least eight working days, whatever the holidays.
    assert "overdue by" in client.get(LIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    html = client.get(LIST, {"status": "open"}).content.decode()
    row = next(tr for tr in html.split("<tr") if on_time.code in tr)
    assert 'data-testid="days-left"' in row
    assert 'data-testid="overdue"' not in row


# --- Actions ----------------------------------------------------------------------------------


def test_accept_start_and_assign(tree, officer, make_user, client_for):
    colleague = make_officer(make_user, tree.hoankiem, "colleague")
    fb = make_feedback(tree.hoankiem)
    client = client_for(officer)

    response = client.post(act(fb, "accept"))
    assert response.status_code == 302
    assert reload(fb).status == Status.ACCEPTED

    assert client.post(act(fb, "start"), {"note": "Đã giao tổ môi trường"}).status_code == 302
    assert reload(fb).status == Status.IN_PROGRESS

    assert client.post(act(fb, "assign"), {"assignee": colleague.pk}).status_code == 302
    assert reload(fb).assignee == colleague
    assert AuditRecord.objects.filter(action="feedback.feedback.assign").exists()


def test_assign_to_someone_outside_the_unit_is_refused(tree, officer, other_officer, client_for):
    fb = make_feedback(tree.hoankiem)
    response = client_for(officer).post(act(fb, "assign"), {"assignee": other_officer.pk})
    assert response.status_code == 400
    assert reload(fb).assignee is None


def test_transfer_moves_the_feedback_to_the_other_units_officers(
    tree, officer, other_officer, client_for
):
    fb = make_feedback(tree.hoankiem)
    first, second = client_for(officer), client_for(other_officer)
    assert second.get(detail(fb)).status_code == 404

    response = first.post(
        act(fb, "transfer"), {"to_unit": "00073", "reason": "Địa điểm thuộc phường Cửa Nam"}
    )

    assert response.status_code == 302
    assert reload(fb).unit == tree.cuanam
    assert reload(fb).status == Status.TRANSFERRED
    assert second.get(detail(fb)).status_code == 200
    assert first.get(detail(fb)).status_code == 404


def test_transfer_without_reason_changes_nothing(tree, officer, client_for):
    fb = make_feedback(tree.hoankiem)
    response = client_for(officer).post(act(fb, "transfer"), {"to_unit": "00073", "reason": " "})
    assert response.status_code == 400
    assert reload(fb).unit == tree.hoankiem


def test_reject_without_reason_is_400_and_changes_nothing(tree, officer, client_for):
    fb = make_feedback(tree.hoankiem)
    client = client_for(officer)

    response = client.post(act(fb, "reject"), {"reason": ""}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert "Give a reason." in response.content.decode()
    assert reload(fb).status == Status.RECEIVED
    assert not AuditRecord.objects.filter(action="feedback.feedback.reject").exists()

    assert client.post(act(fb, "reject"), {"reason": "Không thuộc thẩm quyền"}).status_code == 302
    assert reload(fb).status == Status.REJECTED


def test_an_impossible_step_is_409(tree, officer, client_for):
    fb = make_feedback(tree.hoankiem)
    response = client_for(officer).post(act(fb, "close"))
    assert response.status_code == 409
    assert reload(fb).status == Status.RECEIVED


def test_unknown_action_is_404(tree, officer, client_for):
    fb = make_feedback(tree.hoankiem)
    assert client_for(officer).post(act(fb, "explode")).status_code == 404


def test_answer_draft_then_publish(tree, officer, client_for):
    fb = accepted_feedback(tree.hoankiem, officer)
    client = client_for(officer)

    assert client.post(act(fb, "answer"), {"text": "Đang xử lý", "do": "save"}).status_code == 302
    assert fb.answer.state == AnswerState.DRAFT
    assert reload(fb).status == Status.ACCEPTED

    response = client.post(act(fb, "answer"), {"text": "Đã thu gom rác.", "do": "publish"})

    assert response.status_code == 302
    fb = reload(fb)
    assert fb.status == Status.ANSWERED
    assert fb.answer.state == AnswerState.PUBLISHED
    assert fb.answer.text == "Đã thu gom rác."


def test_approval_required_then_approver_approves(tree, officer, make_user, client_for):
    admin = make_unit_admin(make_user, tree.hoankiem, "admin_hk")
    approver = make_approver(make_user, tree.hoankiem, "leader_hk")
    response = client_for(admin).post(
        "/feedback/staff/settings/", {"unit": "00070", "answers_need_approval": "on"}
    )
    assert response.status_code == 302
    assert services.answers_need_approval(tree.hoankiem)
    fb = accepted_feedback(tree.hoankiem, officer)

    client_for(officer).post(act(fb, "answer"), {"text": "Đã xử lý xong.", "do": "publish"})
    assert reload(fb).answer.state == AnswerState.SUBMITTED
    assert reload(fb).status == Status.ACCEPTED

    leader = client_for(approver)
    assert (
        "Approve and publish" in leader.get(detail(fb), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )
    assert leader.post(act(fb, "approve")).status_code == 302
    fb = reload(fb)
    assert fb.status == Status.ANSWERED
    assert fb.answer.approved_by == approver


def test_approver_returns_with_comment(tree, officer, make_user, client_for):
    admin = make_unit_admin(make_user, tree.hoankiem, "admin_hk")
    approver = make_approver(make_user, tree.hoankiem, "leader_hk")
    services.unit_settings_update(actor=admin, unit=tree.hoankiem, answers_need_approval=True)
    fb = accepted_feedback(tree.hoankiem, officer)
    client_for(officer).post(act(fb, "answer"), {"text": "Bản nháp", "do": "publish"})
    leader = client_for(approver)

    assert leader.post(act(fb, "return"), {"comment": ""}).status_code == 400
    assert reload(fb).answer.state == AnswerState.SUBMITTED
    assert leader.post(act(fb, "return"), {"comment": "Ghi rõ thời gian"}).status_code == 302
    assert reload(fb).answer.state == AnswerState.RETURNED


def test_make_bulletin_links_both_ways(tree, officer, client_for):
    role_assign(actor=None, user=officer, role=Role.EDITOR, unit=tree.hoankiem)
    fb = accepted_feedback(tree.hoankiem, officer)
    client = client_for(officer)
    client.post(act(fb, "answer"), {"text": "Đã thu gom rác.", "do": "publish"})

    response = client.post(act(fb, "bulletin"))

    bulletin = Bulletin.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/bulletins/{bulletin.pk}/edit/"
    assert reload(fb).bulletin == bulletin
    assert list(bulletin.feedback_items.all()) == [reload(fb)]
    assert f'href="/bulletins/{bulletin.pk}/"' in client.get(detail(fb)).content.decode()
    html = client.get(f"/bulletins/{bulletin.pk}/").content.decode()
    assert f'href="{detail(fb)}"' in html
    # A second time is refused: one bulletin per answer.
    assert client.post(act(fb, "bulletin")).status_code == 409


def test_close_after_answer(tree, officer, client_for):
    fb = accepted_feedback(tree.hoankiem, officer)
    client = client_for(officer)
    client.post(act(fb, "answer"), {"text": "Đã xử lý.", "do": "publish"})
    assert client.post(act(fb, "close")).status_code == 302
    assert reload(fb).status == Status.CLOSED


def test_redact_text(tree, officer, client_for):
    fb = make_sender_feedback(tree.hoankiem, description="Anh Nam số 0987654321 đổ rác ra đường")
    response = client_for(officer).post(
        act(fb, "redact_text"), {"description": "Một người đổ rác ra đường"}
    )
    assert response.status_code == 302
    fb = reload(fb)
    assert fb.description == "Một người đổ rác ra đường"
    assert fb.text_redacted_at is not None


def test_merge_a_possible_duplicate(tree, officer, client_for):
    first = make_feedback(tree.hoankiem, address="Ngõ 12 Hàng Bông")
    second = make_feedback(tree.hoankiem, address="Ngõ 12 Hàng Bông")
    client = client_for(officer)

    html = client.get(detail(first)).content.decode()
    assert second.code in html
    assert client.post(act(first, "merge"), {"duplicate": second.code}).status_code == 302
    assert reload(second).duplicate_of == first


def test_new_report_merged_into_an_answered_one_shares_its_answer(tree, officer, client_for):
    from thongtincoso.feedback import public

    answered = answered_feedback(tree.hoankiem, officer, address="Ngõ 12 Hàng Bông")
    new = make_feedback(tree.hoankiem, address="Ngõ 12 Hàng Bông")
    client = client_for(officer)

    html = client.get(detail(new)).content.decode()
    # The everyday direction: this new report into the one already handled; not the other way,
    # since an answered feedback cannot become a duplicate.
    assert f'data-testid="merge-into-{answered.code}"' in html
    assert f'data-testid="merge-from-{answered.code}"' not in html
    # The answered page offers the other direction for the open one.
    html = client.get(detail(answered)).content.decode()
    assert f'data-testid="merge-from-{new.code}"' in html
    assert f'data-testid="merge-into-{new.code}"' not in html

    response = client.post(act(new, "merge"), {"into": answered.code})

    assert response.status_code == 302
    new = reload(new)
    assert new.duplicate_of == answered
    assert new.status == Status.ANSWERED
    shared = public.published_answer(new)
    assert shared is not None
    assert shared.feedback_id == answered.pk


def test_merged_duplicate_page_has_no_workflow_buttons(tree, officer, client_for):
    first = accepted_feedback(tree.hoankiem, officer, address="Ngõ 12 Hàng Bông")
    second = make_feedback(tree.hoankiem, address="Ngõ 12 Hàng Bông")
    services.feedback_merge(actor=officer, duplicate=second, into=first)
    client = client_for(officer)

    html = client.get(detail(second)).content.decode()

    assert 'data-testid="merged-into"' in html
    assert "handled there" in html
    assert f'href="{detail(first)}"' in html
    for action in ("accept", "start", "assign", "transfer", "reject", "close", "answer", "merge"):
        assert f'id="act-{action}"' not in html, action
    # The master keeps its workflow, and lists the duplicate as merged into it.
    html = client.get(detail(first)).content.decode()
    assert 'id="act-answer"' in html
    assert f'href="{detail(second)}"' in html


def test_failed_reject_shows_an_alert_linking_to_its_form(tree, officer, client_for):
    fb = make_feedback(tree.hoankiem)
    client = client_for(officer)
    html = client.get(detail(fb)).content.decode()
    assert f'action="{act(fb, "reject")}#act-reject"' in html
    assert 'id="act-reject"' in html

    too_long = "x" * 600
    response = client.post(act(fb, "reject"), {"reject_reason": too_long})

    assert response.status_code == 400
    html = response.content.decode()
    alert = html.split('data-testid="action-error"', 1)[1].split("</div>", 1)[0]
    assert 'href="#act-reject"' in alert
    assert 'role="alert"' in html.split('data-testid="action-error"', 1)[0].rsplit("<div", 1)[1]
    # What was typed comes back in the reject form only, never in the transfer's reason.
    transfer = html.split('id="act-transfer"', 1)[1].split("</form>", 1)[0]
    reject = html.split('id="act-reject"', 1)[1].split("</form>", 1)[0]
    assert too_long not in transfer
    assert too_long in reject
    assert reload(fb).status == Status.RECEIVED


def test_record_link_and_approval_filter_follow_the_roles(tree, officer, make_user, client_for):
    admin = make_unit_admin(make_user, tree.hoankiem, "admin_hk")
    approver = make_approver(make_user, tree.hoankiem, "leader_hk")
    services.unit_settings_update(actor=admin, unit=tree.hoankiem, answers_need_approval=True)
    waiting = accepted_feedback(tree.hoankiem, officer, description="Rác tồn đọng ở chợ")
    services.answer_save(actor=officer, feedback=waiting, text="Đã xử lý xong.")
    services.answer_submit(actor=officer, feedback=waiting)
    other = make_feedback(tree.hoankiem, description="Đèn đường hỏng cả tuần nay")

    officer_html = client_for(officer).get(LIST).content.decode()
    assert 'data-testid="nav-record"' in officer_html
    assert 'value="awaiting_approval"' not in officer_html

    leader = client_for(approver)
    leader_html = leader.get(LIST).content.decode()
    assert 'data-testid="nav-record"' not in leader_html
    assert 'value="awaiting_approval"' in leader_html
    assert leader.get("/feedback/staff/new/").status_code == 404
    html = leader.get(LIST, {"status": "awaiting_approval"}).content.decode()
    assert waiting.code in html
    assert other.code not in html


@pytest.mark.parametrize(
    ("due", "today", "label", "text"),
    [
        # Wednesday 11 March 2026, a working week without holidays.
        (dt.date(2026, 3, 11), dt.date(2026, 3, 11), "due_today", "due today"),
        (dt.date(2026, 3, 13), dt.date(2026, 3, 11), "left", "2 working days left"),
        # Due on Friday, seen on Saturday: past the date by no working day yet.
        (dt.date(2026, 3, 13), dt.date(2026, 3, 14), "overdue_on", "overdue (due 13/03/2026)"),
        (dt.date(2026, 3, 9), dt.date(2026, 3, 11), "overdue_by", "overdue by 2 working days"),
    ],
)
def test_deadline_labels(tree, due, today, label, text):
    from django.template.loader import render_to_string
    from django.utils import translation

    from thongtincoso.feedback.staff_views import deadlines

    fb = make_feedback(tree.hoankiem)
    fb.due_date = due

    d = deadlines([fb], today)[fb.pk]

    assert d.label == label
    with translation.override("en"):
        html = render_to_string("feedback/staff/_deadline.html", {"d": d})
    assert text in html


# --- Photos and contact details ---------------------------------------------------------------


def test_photo_is_served_to_staff_in_scope_only(tree, officer, other_officer, client_for):
    fb = make_feedback(tree.hoankiem, photos=1)
    photo = fb.photos.get()
    url = f"/feedback/staff/{fb.code}/photos/{photo.pk}/"

    response = client_for(officer).get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    assert client_for(other_officer).get(url).status_code == 404
    assert client_for(officer).get(f"/feedback/staff/{fb.code}/photos/999999/").status_code == 404


def test_photo_is_the_senders_data_handler_only_and_audited(tree, officer, make_user, client_for):
    colleague = make_officer(make_user, tree.hoankiem, "colleague")
    approver = make_approver(make_user, tree.hoankiem, "approver_hk")
    fb = make_feedback(tree.hoankiem, photos=2)
    services.feedback_assign(actor=officer, feedback=fb, assignee=officer)
    photo = fb.photos.order_by("position").last()
    url = f"/feedback/staff/{fb.code}/photos/{photo.pk}/"

    # Approvers and officers other than the assigned one see the feedback, not the photos.
    for other in (approver, colleague):
        client = client_for(other)
        assert client.get(url).status_code == 404
        page = client.get(detail(fb)).content.decode()
        assert "2 photos (visible to the handler)" in page
        assert url not in page
        assert 'data-testid="photo-thumbnails"' not in page
        assert client.post(act(fb, "redact_photo"), {"photo": photo.pk}).status_code == 404
    assert not AuditRecord.objects.filter(action="feedback.photo.view").exists()
    assert fb.photos.filter(redacted_at__isnull=False).count() == 0

    client = client_for(officer)
    page = client.get(detail(fb)).content.decode()
    assert url in page
    assert "visible to the handler" not in page
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    record = AuditRecord.objects.get(action="feedback.photo.view")
    assert record.actor_id == officer.pk
    assert record.object_id == str(fb.pk)
    assert record.unit_id == fb.unit_id
    assert record.after == {"photo": photo.position}


def test_non_numeric_ids_are_404_not_500(tree, officer, system_admin, client_for):
    fb = make_feedback(tree.hoankiem, photos=1)
    client = client_for(officer)
    for value in ("abc", "1.5", "-1", "１", "99999999999999999999999", ""):
        assert client.post(act(fb, "redact_photo"), {"photo": value}).status_code == 404
    assert fb.photos.get().redacted_at is None
    # An assignee that is not a number is not one of the unit's officers: a form error.
    response = client.post(act(fb, "assign"), {"assignee": "abc"})
    assert response.status_code == 400
    assert reload(fb).assignee_id is None

    admin = client_for(system_admin)
    form = {"date": "2026-09-04", "name": "Nghỉ bù", "kind": "holiday"}
    for value in ("abc", "1 OR 1=1", "99999999999999999999999"):
        response = admin.post("/feedback/staff/holidays/", {**form, "holiday": value})
        assert response.status_code == 404
    assert not Holiday.objects.filter(date=dt.date(2026, 9, 4)).exists()
    assert admin.get("/feedback/staff/holidays/", {"year": "abc"}).status_code == 200
    huge = "99999999999999999999"
    assert admin.post(f"/feedback/staff/holidays/{huge}/delete/").status_code == 404
    assert admin.post(f"/feedback/staff/routing/{huge}/delete/").status_code == 404
    assert client.get(f"/feedback/staff/{fb.code}/photos/{huge}/").status_code == 404
    assert client.get(LIST, {"page": "abc"}).status_code == 200


def test_list_filter_dates_far_off_are_a_form_error(tree, officer, client_for):
    make_feedback(tree.hoankiem)
    client = client_for(officer)
    for date in ("9999-12-31", "0001-01-01", "1899-12-31"):
        response = client.get(LIST, {"date_from": date, "date_to": date})
        assert response.status_code == 200  # the other filters still apply
        assert "The date must be between 2000 and 2099." in response.content.decode()


def test_redact_photo(tree, officer, client_for):
    fb = make_feedback(tree.hoankiem, photos=1)
    photo = fb.photos.get()
    response = client_for(officer).post(act(fb, "redact_photo"), {"photo": photo.pk})
    assert response.status_code == 302
    assert fb.photos.get().redacted_at is not None


def test_contact_details_shown_to_the_handler_and_audited(tree, officer, client_for):
    fb = make_sender_feedback(tree.hoankiem)
    client = client_for(officer)

    page = client.get(detail(fb)).content.decode()
    assert SENDER_PHONE not in page
    assert 'data-testid="show-contact"' in page

    response = client.post(f"/feedback/staff/{fb.code}/contact/")

    assert response.status_code == 200
    assert SENDER_PHONE in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    record = AuditRecord.objects.get(action="feedback.contact.view")
    assert record.actor_id == officer.pk
    assert SENDER_PHONE not in str(record.after)


def test_contact_hidden_from_an_officer_once_someone_else_is_assigned(
    tree, officer, make_user, client_for
):
    colleague = make_officer(make_user, tree.hoankiem, "colleague")
    fb = make_sender_feedback(tree.hoankiem)
    services.feedback_assign(actor=officer, feedback=fb, assignee=colleague)
    client = client_for(officer)

    page = client.get(detail(fb)).content.decode()

    assert 'data-testid="show-contact"' not in page
    assert client.post(f"/feedback/staff/{fb.code}/contact/").status_code == 404
    assert not AuditRecord.objects.filter(action="feedback.contact.view").exists()
    assert (
        SENDER_PHONE
        in client_for(colleague).post(f"/feedback/staff/{fb.code}/contact/").content.decode()
    )


def test_no_contact_and_purged_contact(tree, officer, client_for):
    anonymous = make_feedback(tree.hoankiem)
    purged = make_sender_feedback(tree.hoankiem)
    Contact.objects.filter(feedback=purged).delete()
    Feedback.objects.filter(pk=purged.pk).update(personal_data_purged_at=timezone.now())
    client = client_for(officer)

    html = client.post(
        f"/feedback/staff/{anonymous.code}/contact/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "No contact details given" in html

    html = client.get(detail(purged), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Contact details purged" in html
    assert 'data-testid="show-contact"' not in html


# --- Assisted intake --------------------------------------------------------------------------


def test_assisted_intake_records_source_and_recorder(tree, officer, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(officer)
    assert client.get("/feedback/staff/new/").status_code == 200
    response = client.post(
        "/feedback/staff/new/",
        {
            "source": Source.PHONE,
            "category": "moi-truong",
            "commune": "00070",
            "address": "Chợ Hàng Da",
            "description": "Người dân gọi điện báo rác thải tồn đọng sau chợ",
            "name": "Lê Văn Bình",
            "phone": "0901234567",
            "photos": [SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")],
        },
    )

    fb = Feedback.objects.get(address="Chợ Hàng Da")
    assert response.status_code == 302
    assert response["Location"] == detail(fb)
    assert fb.source == Source.PHONE
    assert fb.recorded_by == officer
    assert fb.photos.count() == 1
    assert fb.contact.phone == "0901234567"
    assert fb.contact.consent_at is not None


def test_assisted_intake_refuses_a_commune_out_of_scope_and_bad_input(tree, officer, client_for):
    client = client_for(officer)
    data = {
        "source": Source.MEETING,
        "category": "moi-truong",
        "commune": "26734",
        "address": "Bến Thành",
        "description": "Phản ánh tại buổi tiếp dân",
    }
    assert client.post("/feedback/staff/new/", data).status_code == 400
    data["commune"] = "00070"
    data["category"] = "truyen-thanh"  # its required question is missing
    assert client.post("/feedback/staff/new/", data).status_code == 400
    assert not Feedback.objects.exists()
    data["attribute-truyen-thanh-van-de"] = "qua-to"
    assert client.post("/feedback/staff/new/", data).status_code == 302
    fb = Feedback.objects.get()
    assert fb.attributes == {"van-de": "qua-to"}
    assert fb.source == Source.MEETING
    assert client.get(detail(fb)).status_code == 200


def test_assisted_intake_keeps_answers_and_shows_their_errors(tree, officer, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(officer)
    assert "image/heic" not in client.get("/feedback/staff/new/").content.decode()
    data = {
        "source": Source.PHONE,
        "category": "truyen-thanh",
        "commune": "00070",
        "address": "Nhà văn hoá tổ 5",
        "description": "",  # missing: the form refuses it
        "attribute-truyen-thanh-van-de": "qua-to",
        "photos": [SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")],
    }

    response = client.post("/feedback/staff/new/", data)

    assert response.status_code == 400
    html = response.content.decode()
    assert '<option value="qua-to" selected>' in html
    assert 'data-testid="photos-lost"' in html

    # The required question left out: its error at the question.
    data.update({"description": "Loa phát quá to", "attribute-truyen-thanh-van-de": ""})
    data.pop("photos")
    html = client.post("/feedback/staff/new/", data).content.decode()
    assert 'id="attr-truyen-thanh-van-de-error"' in html
    assert 'aria-describedby="attr-truyen-thanh-van-de-error"' in html
    assert 'data-testid="photos-lost"' not in html
    assert not Feedback.objects.exists()


# --- Routing, settings, holidays --------------------------------------------------------------


def test_routing_rule_added_through_the_page_routes_new_feedback(tree, make_user, client_for):
    admin = make_unit_admin(make_user, tree.hanoi, "admin_hn")
    client = client_for(admin)

    response = client.post(
        "/feedback/staff/routing/",
        {"category": "chieu-sang", "area": "00070", "handler_unit": "01"},
    )

    assert response.status_code == 302
    rule = RoutingRule.objects.get()
    assert "Phường Hoàn Kiếm" in client.get("/feedback/staff/routing/").content.decode()
    assert make_feedback(tree.hoankiem, "chieu-sang").unit == tree.hanoi
    assert make_feedback(tree.hoankiem, "moi-truong").unit == tree.hoankiem

    assert client.post(f"/feedback/staff/routing/{rule.pk}/delete/").status_code == 302
    assert not RoutingRule.objects.exists()


def test_routing_rule_outside_the_admins_units_is_refused(tree, make_user, client_for):
    admin = make_unit_admin(make_user, tree.hoankiem, "admin_hk")
    response = client_for(admin).post(
        "/feedback/staff/routing/", {"category": "", "area": "26734", "handler_unit": "79"}
    )
    assert response.status_code == 400
    assert not RoutingRule.objects.exists()


def test_holidays_page_add_and_delete(tree, officer, system_admin, client_for):
    viewer = client_for(officer)
    assert viewer.get("/feedback/staff/holidays/", {"year": 2026}).status_code == 200
    refused = viewer.post(
        "/feedback/staff/holidays/?year=2026",
        {"date": "2026-09-04", "name": "Nghỉ bù", "kind": "holiday"},
    )
    assert refused.status_code == 403
    assert not Holiday.objects.filter(date=dt.date(2026, 9, 4)).exists()

    client = client_for(system_admin)
    response = client.post(
        "/feedback/staff/holidays/?year=2026",
        {"date": "2026-09-04", "name": "Nghỉ bù Quốc khánh", "kind": "holiday"},
    )
    assert response.status_code == 302
    holiday = Holiday.objects.get(date=dt.date(2026, 9, 4))
    assert holiday.edited
    assert (
        "Nghỉ bù Quốc khánh" in client.get("/feedback/staff/holidays/?year=2026").content.decode()
    )

    response = client.post(
        "/feedback/staff/holidays/?year=2026",
        {"holiday": holiday.pk, "date": "2026-09-04", "name": "Nghỉ bù 2/9", "kind": "holiday"},
    )
    assert response.status_code == 302
    assert Holiday.objects.get(pk=holiday.pk).name == "Nghỉ bù 2/9"

    assert viewer.post(f"/feedback/staff/holidays/{holiday.pk}/delete/").status_code == 403
    assert client.post(f"/feedback/staff/holidays/{holiday.pk}/delete/").status_code == 302
    assert not Holiday.objects.filter(pk=holiday.pk).exists()


# --- The menu ---------------------------------------------------------------------------------


def test_menu_entry_for_an_officer_with_overdue_badge_not_for_an_editor(
    tree, officer, make_user, client_for
):
    editor = make_user("editor", tree.hoankiem, role=Role.EDITOR)
    late = make_feedback(tree.hoankiem)
    Feedback.objects.filter(pk=late.pk).update(due_date=timezone.localdate() - dt.timedelta(days=3))

    html = client_for(officer).get("/").content.decode()
    assert 'data-testid="nav-feedback"' in html
    assert 'data-testid="feedback-overdue-count">1<' in html

    assert 'data-testid="nav-feedback"' not in client_for(editor).get("/").content.decode()


def test_list_draws_an_offline_map_of_the_points(tree, officer, client_for):
    """Feedback with a map point is drawn on the list's SVG map, coloured by what it needs."""
    import re

    placed = make_feedback(tree.hoankiem, lat="21.0285", long="105.8542")
    answered = answered_feedback(tree.hoankiem, officer, lat="21.0300", long="105.8500")
    make_feedback(tree.hoankiem, address="Ngõ 5, không có tọa độ")
    html = client_for(officer).get(LIST).content.decode()
    svg = html[html.index('data-testid="feedback-map"') :]
    assert re.search(rf'data-code="{placed.code}">\s*<circle [^>]*class="dot-open"', svg)
    assert re.search(rf'data-code="{answered.code}">\s*<circle [^>]*class="dot-answered"', svg)
    assert svg.count("<circle ") == 2  # the one without coordinates is not drawn
    # Coordinates are written with a dot whatever the language (SVG reads no "12,5").
    assert not re.search(r'cx="\d+,\d', svg)

"""Feedback services on the real database: intake, routing, workflow, deadlines, privacy."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.utils import timezone, translation

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from thongtincoso.feedback import abuse, selectors, services
from thongtincoso.feedback.calendar import due_date_for
from thongtincoso.feedback.models import (
    DESCRIPTION_MAX,
    Answer,
    AnswerState,
    Category,
    Contact,
    Event,
    EventKind,
    Feedback,
    Photo,
    RoutingRule,
    Status,
    UnitSettings,
)
from thongtincoso.feedback.public import public_text, to_public
from thongtincoso.feedback.services import PhotoUpload
from thongtincoso.notifications.models import Notification

from .factories import (
    SENDER_EMAIL,
    SENDER_NAME,
    SENDER_PHONE,
    accepted_feedback,
    answered_feedback,
    jpeg_bytes,
    make_feedback,
    make_officer,
    make_sender_feedback,
    reload,
    submission,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def stored_files(path: str = "") -> set[str]:
    """Every file in default storage (InMemoryStorage in tests)."""
    dirs, files = default_storage.listdir(path)
    found = {f"{path}/{name}" if path else name for name in files}
    for d in dirs:
        found |= stored_files(f"{path}/{d}" if path else d)
    return found


def counts() -> tuple[int, int, int, int]:
    return (
        Feedback.objects.count(),
        Contact.objects.count(),
        Photo.objects.count(),
        Event.objects.count(),
    )


# --- Submission ---------------------------------------------------------------------------------


def test_submission_stores_fields_contact_apart_due_date_and_commune(tree: Any) -> None:
    feedback = make_feedback(
        tree.hoankiem,
        "moi-truong",
        lat="21.028511",
        long="105.854167",
        photos=2,
        name="  Nguyễn   Văn An ",
        phone="0912 345 678",
        email="An@Vidu.vn",
    )
    feedback = reload(feedback)
    assert feedback.status == Status.RECEIVED
    assert feedback.category.code == "moi-truong"
    assert feedback.commune == tree.hoankiem
    assert feedback.unit == tree.hoankiem  # no routing rule: the commune itself
    assert feedback.source == "web"
    assert str(feedback.lat) == "21.028511"
    assert len(feedback.code) == services.CODE_LENGTH
    assert feedback.due_date == due_date_for(feedback.received_at, feedback.category.deadline_days)
    contact = Contact.objects.get(feedback=feedback)
    assert (contact.name, contact.phone, contact.email) == (
        "Nguyễn Văn An",
        "0912 345 678",
        "An@Vidu.vn",
    )
    assert (contact.phone_key, contact.email_key) == ("0912345678", "an@vidu.vn")
    assert contact.consent_at is not None
    # The personal data lives in Contact only.
    assert "0912" not in feedback.description
    assert "An@" not in json.dumps(feedback.attributes)
    photos = list(feedback.photos.all())
    assert [p.position for p in photos] == [1, 2]
    assert all(default_storage.exists(p.file.name) for p in photos)
    assert all(p.file.name.startswith("feedback/") for p in photos)
    assert Event.objects.filter(feedback=feedback, kind=EventKind.RECEIVED).count() == 1
    record = AuditRecord.objects.get(action="feedback.feedback.create", object_id=str(feedback.pk))
    assert record.after["unit"] == "00070"


def test_anonymous_submission_has_no_contact(tree: Any) -> None:
    feedback = make_feedback(tree.hoankiem)
    assert not Contact.objects.filter(feedback=feedback).exists()


def test_description_of_exactly_4000_characters_is_accepted(tree: Any) -> None:
    feedback = make_feedback(tree.hoankiem, description="a" * DESCRIPTION_MAX)
    assert len(reload(feedback).description) == DESCRIPTION_MAX


def _bad_photo(name: str, data: bytes) -> list[PhotoUpload]:
    # A good photo first, so a file may already have been written when the bad one is found.
    return [PhotoUpload(io.BytesIO(jpeg_bytes()), "good.jpg"), PhotoUpload(io.BytesIO(data), name)]


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("no place", {"address": "", "lat": None, "long": None}, "address"),
    ("unknown category", {"category": "khong-co"}, "category"),
    ("unknown commune", {"commune": "99999"}, "commune"),
    ("a province is not a commune", {"commune": "01"}, "commune"),
    ("4001 characters", {"description": "a" * (DESCRIPTION_MAX + 1)}, "description"),
    ("empty description", {"description": "   "}, "description"),
    ("six photos", {"photos": 6}, "photos"),
    (
        "a script as photo",
        {"photos": _bad_photo("x.jpg", b"<script>alert(1)</script>")},
        "photos",
    ),
    ("bad phone", {"phone": "12345"}, "phone"),
    ("bad e-mail", {"email": "khong-phai-email"}, "email"),
    ("point outside VN", {"lat": "48.8566", "long": "2.3522"}, "lat"),
    ("lat/long swapped", {"lat": "105.85", "long": "21.02"}, "lat"),
    ("not a number", {"lat": "abc", "long": "105"}, "lat"),
    ("contact without consent", {"phone": "0912345678", "consent": False}, "consent"),
    ("missing required attribute", {"category": "truyen-thanh"}, "attribute[van-de]"),
    (
        "invalid list value",
        {"category": "truyen-thanh", "attributes": {"van-de": "khong-co"}},
        "attribute[van-de]",
    ),
]


@pytest.mark.parametrize(("label", "change", "field"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_submission_names_the_field_and_stores_nothing(
    tree: Any, label: str, change: dict[str, Any], field: str
) -> None:
    before_counts, before_files = counts(), stored_files()
    records = AuditRecord.objects.count()
    fields = dict(change)
    commune = fields.pop("commune", tree.hoankiem)
    category = fields.pop("category", "moi-truong")
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        services.feedback_submit(submission=submission(commune, category, **fields))
    assert exc.value.field == field, label
    assert str(exc.value.message)  # a message a person can read
    assert counts() == before_counts
    assert stored_files() == before_files
    assert AuditRecord.objects.count() == records


def test_valid_attribute_is_stored(tree: Any) -> None:
    feedback = make_feedback(tree.hoankiem, "truyen-thanh", attributes={"van-de": "qua-to"})
    assert reload(feedback).attributes == {"van-de": "qua-to"}


def test_failure_inside_the_transaction_leaves_no_photo_files(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The photos are written to storage inside the transaction; a later failure must remove them.
    before_files = stored_files()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_event", boom)
    with pytest.raises(RuntimeError):
        make_feedback(tree.hoankiem, photos=2)
    assert Photo.objects.count() == 0
    assert Feedback.objects.count() == 0
    assert stored_files() == before_files


def test_tracking_code_is_readable_and_normalised() -> None:
    code = services.new_code()
    assert not set(code) & set("01OIL")
    assert services.normalise_code(" pa 7k3m-9qx2 ") == "PA7K3M9QX2"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("0912345678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("0912.345.678", "0912345678"),
        ("+84 912 345 678", "0912345678"),
        ("84912345678", "0912345678"),
        ("(+84) 24 3825 1234", "02438251234"),
    ],
)
def test_phone_key(raw: str, key: str) -> None:
    assert services.phone_key(raw) == key


# --- Routing and transfer -----------------------------------------------------------------------


def _category(code: str) -> Category:
    return Category.objects.get(code=code)


def test_route_defaults_to_the_commune(tree: Any) -> None:
    assert services.route(_category("giao-thong"), tree.hoankiem) == tree.hoankiem


def test_route_category_rule_beats_any_category_and_deeper_area_beats_wider(tree: Any) -> None:
    traffic, waste = _category("giao-thong"), _category("moi-truong")
    RoutingRule.objects.create(category=None, area=tree.hanoi, handler_unit=tree.hanoi)
    # Any category, province-wide → the province.
    assert services.route(waste, tree.hoankiem) == tree.hanoi
    assert services.route(waste, tree.cuanam) == tree.hanoi
    # A deeper area beats a wider one (both any-category).
    RoutingRule.objects.create(category=None, area=tree.hoankiem, handler_unit=tree.cuanam)
    assert services.route(waste, tree.hoankiem) == tree.cuanam
    assert services.route(waste, tree.cuanam) == tree.hanoi
    # A category rule beats an any-category one, even for a wider area.
    RoutingRule.objects.create(category=traffic, area=tree.hanoi, handler_unit=tree.hanoi)
    assert services.route(traffic, tree.hoankiem) == tree.hanoi
    assert services.route(waste, tree.hoankiem) == tree.cuanam
    # Between category rules, the deeper area wins.
    RoutingRule.objects.create(category=traffic, area=tree.hoankiem, handler_unit=tree.hoankiem)
    assert services.route(traffic, tree.hoankiem) == tree.hoankiem
    # Another province is untouched.
    assert services.route(traffic, tree.saigon) == tree.saigon


def test_rule_to_a_province_puts_feedback_in_the_province_officers_hands(
    tree: Any, make_user: Any
) -> None:
    admin = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    services.routing_rule_save(
        actor=admin, area=tree.hoankiem, handler_unit=tree.hanoi, category=_category("dat-dai")
    )
    feedback = make_feedback(tree.hoankiem, "dat-dai")
    assert feedback.unit == tree.hanoi
    assert feedback.commune == tree.hoankiem
    province_officer = make_officer(make_user, tree.hanoi)
    commune_officer = make_officer(make_user, tree.hoankiem)
    assert selectors.feedback_for(province_officer, feedback.code) is not None
    assert selectors.feedback_for(commune_officer, feedback.code) is None


def test_routing_rule_save_needs_unit_admin_and_refuses_zones(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    admin = make_user("adm", tree.hoankiem, role=Role.UNIT_ADMIN)
    with pytest.raises(NotFoundError):
        services.routing_rule_save(
            actor=officer, area=tree.hoankiem, handler_unit=tree.hanoi, category=None
        )
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        services.routing_rule_save(
            actor=admin, area=tree.hoankiem, handler_unit=tree.zone, category=None
        )
    assert exc.value.field == "handler_unit"
    assert RoutingRule.objects.count() == 0


def test_transfer_moves_unit_clears_assignee_and_records_it(tree: Any, make_user: Any) -> None:
    old_officer = make_officer(make_user, tree.hoankiem)
    new_officer = make_officer(make_user, tree.cuanam)
    feedback = accepted_feedback(tree.hoankiem, old_officer)
    services.feedback_assign(actor=old_officer, feedback=feedback, assignee=old_officer)
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        services.feedback_transfer(
            actor=old_officer, feedback=feedback, to_unit=tree.cuanam, reason="  "
        )
    assert exc.value.field == "reason"
    assert reload(feedback).unit == tree.hoankiem

    services.feedback_transfer(
        actor=old_officer, feedback=feedback, to_unit=tree.cuanam, reason="Thuộc địa bàn Cửa Nam"
    )
    feedback = reload(feedback)
    assert feedback.unit == tree.cuanam
    assert feedback.assignee is None
    assert feedback.status == Status.TRANSFERRED
    event = Event.objects.get(feedback=feedback, kind=EventKind.TRANSFERRED)
    assert (event.from_unit, event.to_unit) == (tree.hoankiem, tree.cuanam)
    assert event.public_text == "Thuộc địa bàn Cửa Nam"
    assert any(
        e.kind == EventKind.TRANSFERRED for e in to_public(feedback, with_events=True).events
    )
    record = AuditRecord.objects.get(action="feedback.feedback.transfer")
    assert record.before == {"unit": "00070"}
    assert record.after["unit"] == "00073"
    assert selectors.feedback_for(old_officer, feedback.code) is None
    assert selectors.feedback_for(new_officer, feedback.code) is not None
    # The new unit is notified.
    assert Notification.objects.filter(recipient=new_officer).exists()


def test_transfer_to_the_same_unit_or_by_an_outsider_is_refused(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    outsider = make_officer(make_user, tree.saigon)
    feedback = make_feedback(tree.hoankiem)
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        services.feedback_transfer(
            actor=officer, feedback=feedback, to_unit=tree.hoankiem, reason="lý do"
        )
    assert exc.value.field == "to_unit"
    with pytest.raises(NotFoundError):
        services.feedback_transfer(
            actor=outsider, feedback=feedback, to_unit=tree.saigon, reason="lý do"
        )
    feedback = reload(feedback)
    assert feedback.unit == tree.hoankiem
    assert feedback.status == Status.RECEIVED
    assert not AuditRecord.objects.filter(action="feedback.feedback.transfer").exists()


# --- Statuses -----------------------------------------------------------------------------------


def test_accept_start_and_reject(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    feedback = make_feedback(tree.hoankiem)
    services.feedback_accept(actor=officer, feedback=feedback)
    assert reload(feedback).status == Status.ACCEPTED
    assert reload(feedback).accepted_at is not None
    services.feedback_start(actor=officer, feedback=feedback, note="đã giao đội thu gom")
    assert reload(feedback).status == Status.IN_PROGRESS
    with pytest.raises(ConflictError):
        services.feedback_accept(actor=officer, feedback=feedback)

    other = make_feedback(tree.hoankiem)
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        services.feedback_reject(actor=officer, feedback=other, reason="")
    assert exc.value.field == "reason"
    assert reload(other).status == Status.RECEIVED
    services.feedback_reject(actor=officer, feedback=other, reason="Không thuộc thẩm quyền")
    other = reload(other)
    assert other.status == Status.REJECTED
    assert other.reject_reason == "Không thuộc thẩm quyền"
    assert other.closed_at is not None
    assert to_public(other).reject_reason == "Không thuộc thẩm quyền"


def test_outsider_cannot_handle(tree: Any, make_user: Any) -> None:
    outsider = make_officer(make_user, tree.saigon)
    editor = make_user("editor", tree.hoankiem, role=Role.EDITOR)
    feedback = make_feedback(tree.hoankiem)
    for actor in (outsider, editor):
        with pytest.raises(NotFoundError):
            services.feedback_accept(actor=actor, feedback=feedback)
    assert reload(feedback).status == Status.RECEIVED


def test_answer_without_approval_is_published(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    feedback = answered_feedback(tree.hoankiem, officer, answer="Đã xử lý xong.")
    assert feedback.status == Status.ANSWERED
    assert feedback.answered_at is not None
    answer = Answer.objects.get(feedback=feedback)
    assert answer.state == AnswerState.PUBLISHED
    assert answer.approved_by is None
    assert to_public(feedback).answer == "Đã xử lý xong."


def test_answer_with_approval_approve_and_return(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    approver = make_user("leader", tree.hoankiem, role=Role.APPROVER)
    foreign_approver = make_user("leader79", tree.hcm, role=Role.APPROVER)
    UnitSettings.objects.create(unit=tree.hoankiem, answers_need_approval=True)
    feedback = accepted_feedback(tree.hoankiem, officer)
    with pytest.raises(ConflictError):
        services.answer_submit(actor=officer, feedback=feedback)  # nothing written yet
    services.answer_save(actor=officer, feedback=feedback, text="Bản nháp trả lời")
    answer = services.answer_submit(actor=officer, feedback=feedback)
    assert answer.state == AnswerState.SUBMITTED
    assert reload(feedback).status == Status.ACCEPTED
    assert to_public(reload(feedback)).answer == ""
    assert Notification.objects.filter(recipient=approver).exists()
    with pytest.raises(ConflictError):
        services.answer_save(actor=officer, feedback=feedback, text="đổi khi đang chờ duyệt")
    with pytest.raises(NotFoundError):
        services.answer_approve(actor=foreign_approver, feedback=feedback)
    with pytest.raises(NotFoundError):
        services.answer_approve(actor=officer, feedback=feedback)

    with translation.override("en"), pytest.raises(ServiceError) as exc:
        services.answer_return(actor=approver, feedback=feedback, comment="")
    assert exc.value.field == "comment"
    services.answer_return(actor=approver, feedback=feedback, comment="Bổ sung thời hạn")
    answer.refresh_from_db()
    assert answer.state == AnswerState.RETURNED
    assert answer.return_comment == "Bổ sung thời hạn"
    assert Notification.objects.filter(recipient=officer).exists()

    services.answer_save(actor=officer, feedback=feedback, text="Trả lời đã sửa")
    services.answer_submit(actor=officer, feedback=feedback)
    services.answer_approve(actor=approver, feedback=feedback)
    answer.refresh_from_db()
    assert answer.state == AnswerState.PUBLISHED
    assert answer.approved_by == approver
    feedback = reload(feedback)
    assert feedback.status == Status.ANSWERED
    assert to_public(feedback).answer == "Trả lời đã sửa"
    with pytest.raises(ConflictError):
        services.answer_approve(actor=approver, feedback=feedback)


def test_close_and_reopen_within_the_window_only(tree: Any, make_user: Any, settings: Any) -> None:
    settings.TTCS_FEEDBACK_REOPEN_DAYS = 7
    officer = make_officer(make_user, tree.hoankiem)
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=VN)
    with time_machine.travel(start, tick=False):
        feedback = answered_feedback(tree.hoankiem, officer)
        services.feedback_close(actor=officer, feedback=feedback)
    assert reload(feedback).status == Status.CLOSED
    with time_machine.travel(start + dt.timedelta(days=6), tick=False):
        assert services.may_reopen(reload(feedback))
        with translation.override("en"), pytest.raises(ServiceError) as exc:
            services.feedback_reopen(code=feedback.code, reason="", verification=feedback.token)
        assert exc.value.field == "reason"
        services.feedback_reopen(
            code=feedback.code.lower(), reason="Rác vẫn còn", verification=feedback.token
        )
    feedback = reload(feedback)
    assert feedback.status == Status.REOPENED
    assert feedback.closed_at is None
    # A new deadline from the reopening (Sunday 8 March → counted from Monday 9, 10 working days).
    assert feedback.due_date == dt.date(2026, 3, 23)
    assert feedback.reminded_for is None
    # The sender's words stay internal.
    event = Event.objects.get(feedback=feedback, kind=EventKind.REOPENED)
    assert event.note == "Rác vẫn còn"
    assert event.public_text == ""

    late = answered_feedback(tree.hoankiem, officer)
    with time_machine.travel(timezone.now() + dt.timedelta(days=8), tick=False):
        assert not services.may_reopen(reload(late))
        with pytest.raises(ConflictError):
            services.feedback_reopen(
                code=late.code, reason="Chưa hài lòng", verification=late.token
            )
    assert reload(late).status == Status.ANSWERED


def test_reopen_refused_for_rejected_and_unknown(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    feedback = make_feedback(tree.hoankiem)
    services.feedback_reject(actor=officer, feedback=feedback, reason="Spam")
    with pytest.raises(ConflictError):
        services.feedback_reopen(code=feedback.code, reason="Tại sao?", verification=feedback.token)
    with pytest.raises(NotFoundError):
        services.feedback_reopen(code="ZZZZZZZZ", reason="Tại sao?", verification=feedback.token)
    assert reload(feedback).status == Status.REJECTED


@pytest.mark.parametrize(
    "verification", [SENDER_PHONE, "+84 912 345 678", " Bich.Ngoc.Sender@Vidu.VN "]
)
def test_reopen_by_the_sender_phone_or_email(tree: Any, make_user: Any, verification: str) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    feedback = make_sender_feedback(tree.hoankiem)
    services.feedback_accept(actor=officer, feedback=feedback)
    services.answer_save(actor=officer, feedback=feedback, text="Đã xử lý")
    services.answer_submit(actor=officer, feedback=feedback)
    services.feedback_reopen(code=feedback.code, reason="Chưa xong", verification=verification)
    assert reload(feedback).status == Status.REOPENED


def test_reopen_refuses_anyone_but_the_sender_like_an_unknown_code(
    tree: Any, make_user: Any
) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    with_contact = make_sender_feedback(tree.hoankiem)
    services.feedback_accept(actor=officer, feedback=with_contact)
    services.answer_save(actor=officer, feedback=with_contact, text="Đã xử lý")
    services.answer_submit(actor=officer, feedback=with_contact)
    anonymous = answered_feedback(tree.hoankiem, officer)
    assert not Contact.objects.filter(feedback=anonymous).exists()
    with translation.override("en"), pytest.raises(NotFoundError) as unknown:
        services.feedback_reopen(code="ZZZZZZZZ", reason="Chưa xong", verification=SENDER_PHONE)
    attempts = [
        (with_contact, ""),
        (with_contact, "0987654321"),
        (with_contact, "other@vidu.vn"),
        (with_contact, anonymous.token),  # another feedback's key
        (anonymous, ""),
        (anonymous, SENDER_PHONE),
        (anonymous, anonymous.token[:-1]),
    ]
    for feedback, verification in attempts:
        with translation.override("en"), pytest.raises(NotFoundError) as exc:
            services.feedback_reopen(
                code=feedback.code, reason="Chưa xong", verification=verification
            )
        assert str(exc.value.message) == str(unknown.value.message), verification
    assert reload(with_contact).status == reload(anonymous).status == Status.ANSWERED
    assert not Event.objects.filter(kind=EventKind.REOPENED).exists()
    # The anonymous sender's key still works.
    services.feedback_reopen(code=anonymous.code, reason="Chưa xong", verification=anonymous.token)
    assert reload(anonymous).status == Status.REOPENED


def test_published_answer_stays_public_while_the_next_is_drafted(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    feedback = answered_feedback(tree.hoankiem, officer)
    first = to_public(reload(feedback)).answer
    assert first
    services.feedback_reopen(code=feedback.code, reason="Chưa xong", verification=feedback.token)
    services.answer_save(actor=officer, feedback=feedback, text="Bản nháp mới")
    answer = Answer.objects.get(feedback=feedback)
    assert answer.state == AnswerState.DRAFT
    assert answer.published_text == first
    assert to_public(reload(feedback)).answer == first
    services.answer_submit(actor=officer, feedback=feedback)
    assert Answer.objects.get(feedback=feedback).published_text == "Bản nháp mới"
    assert to_public(reload(feedback)).answer == "Bản nháp mới"


def test_merged_duplicates_share_the_answer_and_follow_the_master(
    tree: Any, make_user: Any, settings: Any
) -> None:
    settings.TTCS_FEEDBACK_REOPEN_DAYS = 7
    officer = make_officer(make_user, tree.hoankiem)
    master = accepted_feedback(tree.hoankiem, officer)
    duplicate = make_feedback(tree.hoankiem)
    third = make_feedback(tree.hoankiem)
    assert any(other.pk == master.pk for other, _d in services.possible_duplicates(duplicate))

    services.feedback_merge(actor=officer, duplicate=duplicate, into=master)
    duplicate = reload(duplicate)
    assert duplicate.duplicate_of == master
    assert duplicate.status == Status.ACCEPTED
    assert to_public(duplicate).merged_into == master.code
    # Merging into a merged one is refused; so is answering the duplicate itself.
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        services.feedback_merge(actor=officer, duplicate=third, into=duplicate)
    assert exc.value.field == "into"
    assert reload(third).duplicate_of is None
    with pytest.raises(ConflictError):
        services.answer_save(actor=officer, feedback=duplicate, text="riêng")

    services.answer_save(actor=officer, feedback=master, text="Trả lời chung")
    services.answer_submit(actor=officer, feedback=master)
    duplicate = reload(duplicate)
    assert duplicate.status == Status.ANSWERED
    assert to_public(duplicate).answer == to_public(reload(master)).answer == "Trả lời chung"

    # Reopening the master takes the duplicates along; the duplicate itself cannot be reopened.
    assert not services.may_reopen(duplicate)
    services.feedback_reopen(code=master.code, reason="Chưa xong", verification=master.token)
    assert reload(duplicate).status == Status.REOPENED

    services.answer_save(actor=officer, feedback=master, text="Trả lời lần hai")
    services.answer_submit(actor=officer, feedback=master)
    with time_machine.travel(timezone.now() + dt.timedelta(days=8), tick=False):
        assert services.close_answered() == 1
    assert reload(master).status == Status.CLOSED
    assert reload(duplicate).status == Status.CLOSED
    assert to_public(reload(duplicate)).answer == "Trả lời lần hai"


def test_close_answered_only_after_the_window(tree: Any, make_user: Any, settings: Any) -> None:
    settings.TTCS_FEEDBACK_REOPEN_DAYS = 7
    officer = make_officer(make_user, tree.hoankiem)
    feedback = answered_feedback(tree.hoankiem, officer)
    assert services.close_answered() == 0
    assert services.close_answered(now=timezone.now() + dt.timedelta(days=6)) == 0
    assert services.close_answered(now=timezone.now() + dt.timedelta(days=8)) == 1
    feedback = reload(feedback)
    assert feedback.status == Status.CLOSED
    assert feedback.closed_at is not None
    assert AuditRecord.objects.filter(action="feedback.feedback.close", actor_id=None).exists()


# --- Deadlines and reminders --------------------------------------------------------------------


def test_deadline_skips_tet(tree: Any) -> None:
    Category.objects.filter(code="moi-truong").update(deadline_days=3)
    with time_machine.travel(dt.datetime(2026, 2, 13, 9, 0, tzinfo=VN), tick=False):
        feedback = make_feedback(tree.hoankiem)
    # Tết Bính Ngọ: the week of 16–20 February 2026 is off; three working days after Friday
    # the 13th are the Monday to Wednesday after it.
    assert feedback.due_date > dt.date(2026, 2, 22)
    assert feedback.due_date == dt.date(2026, 2, 25)


def test_overdue_selector(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    late = make_feedback(tree.hoankiem)
    fresh = make_feedback(tree.hoankiem)
    answered = answered_feedback(tree.hoankiem, officer)
    Feedback.objects.filter(pk__in=[late.pk, answered.pk]).update(
        due_date=timezone.localdate() - dt.timedelta(days=1)
    )
    rows = set(selectors.overdue(Feedback.objects.all()))
    assert late in rows
    assert fresh not in rows
    assert answered not in rows
    listed = set(selectors.feedback_list(officer, selectors.FeedbackFilters(status="overdue")))
    assert listed == {late}


def test_due_reminders_once_per_due_date_and_to_the_assignee(tree: Any, make_user: Any) -> None:
    first = make_officer(make_user, tree.hoankiem)
    second = make_officer(make_user, tree.hoankiem)
    outsider = make_officer(make_user, tree.cuanam)
    feedback = make_feedback(tree.hoankiem)
    today = timezone.localdate()
    Feedback.objects.filter(pk=feedback.pk).update(due_date=today)

    def count(user: Any) -> int:
        return Notification.objects.filter(recipient=user).count()

    before = {u.pk: count(u) for u in (first, second, outsider)}
    assert services.send_due_reminders(today=today) == 1
    assert count(first) == before[first.pk] + 1
    assert count(second) == before[second.pk] + 1
    assert count(outsider) == before[outsider.pk]
    assert reload(feedback).reminded_for == today
    # Once per due date.
    assert services.send_due_reminders(today=today) == 0
    assert count(first) == before[first.pk] + 1

    # A new due date (e.g. after a transfer back), now assigned: only the assignee hears.
    services.feedback_assign(actor=first, feedback=feedback, assignee=second)
    later = today + dt.timedelta(days=1)
    Feedback.objects.filter(pk=feedback.pk).update(due_date=later)
    mid = {u.pk: count(u) for u in (first, second)}
    assert services.send_due_reminders(today=later) == 1
    assert count(first) == mid[first.pk]
    assert count(second) == mid[second.pk] + 1


def test_no_reminder_for_answered_or_far_deadlines(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    answered = answered_feedback(tree.hoankiem, officer)
    far = make_feedback(tree.hoankiem)
    today = timezone.localdate()
    Feedback.objects.filter(pk=answered.pk).update(due_date=today)
    Feedback.objects.filter(pk=far.pk).update(due_date=today + dt.timedelta(days=60))
    assert services.send_due_reminders(today=today) == 0


# --- Answers to bulletins ------------------------------------------------------------------------


def test_answer_to_bulletin_draft(tree: Any, make_user: Any) -> None:
    officer = make_user("canbo", tree.hoankiem, role=Role.FEEDBACK_OFFICER)
    from thongtincoso.accounts.services import role_assign

    role_assign(actor=None, user=officer, role=Role.EDITOR, unit=tree.hoankiem)
    feedback = answered_feedback(
        tree.hoankiem,
        officer,
        description=f"Gọi tôi số {SENDER_PHONE} hoặc {SENDER_EMAIL}, rác ở ngõ 5.",
        name=SENDER_NAME,
        phone=SENDER_PHONE,
        email=SENDER_EMAIL,
        answer="Phường đã thu gom rác tại ngõ 5.",
    )
    bulletin = services.answer_to_bulletin(actor=officer, feedback=feedback)
    feedback = reload(feedback)
    assert feedback.bulletin == bulletin
    assert list(bulletin.feedback_items.all()) == [feedback]
    assert bulletin.unit == tree.hoankiem
    assert bulletin.category.code == "tra-loi-phan-anh"
    assert feedback.code in bulletin.title
    assert "Phường đã thu gom rác tại ngõ 5." in bulletin.body
    for secret in (SENDER_PHONE, SENDER_EMAIL, SENDER_NAME, "912 345", "bich.ngoc"):
        assert secret not in bulletin.body
        assert secret not in bulletin.title
    with pytest.raises(ConflictError):
        services.answer_to_bulletin(actor=officer, feedback=feedback)


def test_answer_to_bulletin_needs_a_published_answer_and_an_editor(
    tree: Any, make_user: Any
) -> None:
    from thongtincoso.accounts.services import role_assign
    from thongtincoso.bulletins.models import Bulletin

    officer = make_officer(make_user, tree.hoankiem)
    editor_officer = make_officer(make_user, tree.hoankiem)
    role_assign(actor=None, user=editor_officer, role=Role.EDITOR, unit=tree.hoankiem)
    feedback = accepted_feedback(tree.hoankiem, officer)
    with pytest.raises(ConflictError):
        services.answer_to_bulletin(actor=editor_officer, feedback=feedback)
    services.answer_save(actor=officer, feedback=feedback, text="Đã xử lý.")
    services.answer_submit(actor=officer, feedback=feedback)
    # A feedback officer without the editor role may not write bulletins.
    with pytest.raises(PermissionDeniedError):
        services.answer_to_bulletin(actor=officer, feedback=feedback)
    assert Bulletin.objects.count() == 0
    assert reload(feedback).bulletin is None


# --- Privacy ------------------------------------------------------------------------------------


def test_contact_for_is_audited_each_time(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    feedback = make_sender_feedback(tree.hoankiem)
    for _i in range(2):
        contact = services.contact_for(actor=officer, feedback=feedback)
        assert contact is not None
        assert contact.phone == SENDER_PHONE
    records = AuditRecord.objects.filter(action="feedback.contact.view", object_id=str(feedback.pk))
    assert records.count() == 2
    assert all(r.actor_id == officer.pk for r in records)
    outsider = make_officer(make_user, tree.saigon)
    with pytest.raises(NotFoundError):
        services.contact_for(actor=outsider, feedback=feedback)
    assert records.count() == 2


def test_may_see_contact_rules(tree: Any, make_user: Any) -> None:
    first = make_officer(make_user, tree.hoankiem)
    second = make_officer(make_user, tree.hoankiem)
    admin = make_user("admin", tree.hanoi, role=Role.UNIT_ADMIN)
    approver = make_user("approver", tree.hoankiem, role=Role.APPROVER)
    foreign_admin = make_user("admin79", tree.hcm, role=Role.UNIT_ADMIN)
    feedback = make_sender_feedback(tree.hoankiem)
    # Nobody assigned: the unit's officers.
    assert services.may_see_contact(first, feedback)
    assert services.may_see_contact(second, feedback)
    services.feedback_assign(actor=first, feedback=feedback, assignee=first)
    feedback = reload(feedback)
    assert services.may_see_contact(first, feedback)
    assert not services.may_see_contact(second, feedback)
    assert services.may_see_contact(admin, feedback)
    assert not services.may_see_contact(approver, feedback)
    assert not services.may_see_contact(foreign_admin, feedback)
    with pytest.raises(NotFoundError):
        services.contact_for(actor=second, feedback=feedback)


def test_redact_text(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    secret = "Nhà ông Lê Văn Tám số 9 ngõ 5 đổ rác"
    feedback = make_feedback(tree.hoankiem, description=secret)
    services.feedback_redact_text(actor=officer, feedback=feedback, description="Có người đổ rác")
    feedback = reload(feedback)
    assert feedback.description == "Có người đổ rác"
    assert feedback.text_redacted_at is not None
    record = AuditRecord.objects.get(action="feedback.feedback.redact_text")
    assert "Tám" not in json.dumps([record.before, record.after], ensure_ascii=False)
    assert Event.objects.filter(feedback=feedback, kind=EventKind.REDACTED).exists()
    # The folded search copy forgets the redacted words too.
    assert "tam" not in feedback.search_text.split()
    assert "co nguoi do rac" in feedback.search_text


def test_redact_photo_keeps_size_changes_content(
    tree: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from PIL import Image

    officer = make_officer(make_user, tree.hoankiem)
    feedback = make_feedback(
        tree.hoankiem, photos=[PhotoUpload(io.BytesIO(jpeg_bytes((120, 80))), "mat.jpg")]
    )
    photo = feedback.photos.get()
    old_name = photo.file.name
    with default_storage.open(old_name, "rb") as handle:
        old_bytes = handle.read()
    with django_capture_on_commit_callbacks(execute=True):
        services.feedback_redact_photo(actor=officer, photo=photo)
    photo.refresh_from_db()
    assert photo.redacted_at is not None
    assert (photo.width, photo.height) == (120, 80)
    with default_storage.open(photo.file.name, "rb") as handle:
        new_bytes = handle.read()
    assert new_bytes != old_bytes
    image = Image.open(io.BytesIO(new_bytes))
    assert image.size == (120, 80)
    assert not default_storage.exists(old_name)


def test_purge_personal_data_after_retention_closed_and_rejected_only(
    tree: Any, make_user: Any, settings: Any
) -> None:
    settings.TTCS_FEEDBACK_RETENTION_DAYS = 30
    officer = make_officer(make_user, tree.hoankiem)
    closed = answered_feedback(
        tree.hoankiem, officer, name="A", phone="0912345678", email="a@vidu.vn"
    )
    services.feedback_close(actor=officer, feedback=closed)
    rejected = make_sender_feedback(tree.hoankiem)
    services.feedback_reject(actor=officer, feedback=rejected, reason="Spam")
    still_open = make_sender_feedback(tree.hoankiem)
    recent = answered_feedback(tree.hoankiem, officer, name="B", phone="0987654321")
    services.feedback_close(actor=officer, feedback=recent)
    Feedback.objects.filter(pk__in=[closed.pk, rejected.pk]).update(
        closed_at=timezone.now() - dt.timedelta(days=31)
    )
    Feedback.objects.filter(pk=still_open.pk).update(
        received_at=timezone.now() - dt.timedelta(days=400)
    )
    assert services.purge_personal_data() == 2
    assert not Contact.objects.filter(feedback__in=[closed, rejected]).exists()
    assert Contact.objects.filter(feedback=still_open).exists()
    assert Contact.objects.filter(feedback=recent).exists()
    assert reload(closed).personal_data_purged_at is not None
    assert reload(still_open).personal_data_purged_at is None
    # Idempotent.
    assert services.purge_personal_data() == 0
    assert services.export_for_sender(code=closed.code, verification="0912345678") is None


@pytest.mark.parametrize(
    "verification",
    ["0912345678", "+84 912 345 678", "0912.345.678", "84912345678", "BICH.NGOC.SENDER@VIDU.VN"],
)
def test_export_for_sender_matches_phone_or_email_in_any_form(tree: Any, verification: str) -> None:
    feedback = make_sender_feedback(tree.hoankiem)
    data = services.export_for_sender(code=feedback.code.lower(), verification=verification)
    assert data is not None
    assert data["tracking_code"] == feedback.code
    assert data["contact"]["phone"] == SENDER_PHONE
    assert data["contact"]["email"] == SENDER_EMAIL
    assert AuditRecord.objects.filter(action="feedback.contact.export").count() == 1


@pytest.mark.parametrize("verification", ["0987654321", "other@vidu.vn", "", "  ", "0"])
def test_export_for_sender_refuses_wrong_verification(tree: Any, verification: str) -> None:
    feedback = make_sender_feedback(tree.hoankiem)
    assert services.export_for_sender(code=feedback.code, verification=verification) is None
    assert services.export_for_sender(code="ZZZZZZZZ", verification=SENDER_PHONE) is None
    assert not AuditRecord.objects.filter(action="feedback.contact.export").exists()


def test_audit_records_never_hold_personal_data(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    admin = make_user("qtv", tree.hoankiem, role=Role.UNIT_ADMIN)
    description = f"Mô tả bí mật XYZZY, gọi {SENDER_PHONE}"
    feedback = make_sender_feedback(tree.hoankiem, description=description)
    services.contact_for(actor=officer, feedback=feedback)
    services.feedback_assign(actor=officer, feedback=feedback, assignee=officer)
    services.feedback_accept(actor=officer, feedback=feedback)
    services.answer_save(actor=officer, feedback=feedback, text="Đã xử lý")
    services.answer_submit(actor=officer, feedback=feedback)
    services.export_for_sender(code=feedback.code, verification=SENDER_EMAIL)
    services.feedback_redact_text(actor=officer, feedback=feedback, description="Đã che")
    services.feedback_reopen(
        code=feedback.code, reason=f"Gọi lại {SENDER_PHONE}", verification=SENDER_PHONE
    )
    services.unit_settings_update(actor=admin, unit=tree.hoankiem, answers_need_approval=False)
    records = AuditRecord.objects.all()
    assert records.count() > 5
    dumped = json.dumps(
        [[r.before, r.after, r.object_repr] for r in records], ensure_ascii=False
    ).lower()
    for secret in (
        SENDER_NAME,
        SENDER_PHONE,
        SENDER_EMAIL,
        "912345678",
        "912 345 678",
        "xyzzy",
        "bí mật",
    ):
        assert secret.lower() not in dumped, secret


# --- Public text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "0912-345-678",
        "+84912345678",
        "+84 912 345 678",
        "+84-912-345-678",
        "84912345678",
        "024 3825 1234",
        "(024) 3825 1234",
    ],
)
def test_public_text_masks_phones(phone: str) -> None:
    with translation.override("en"):
        text = public_text(f"Liên hệ {phone} để biết thêm.")
    digits = "".join(c for c in phone if c.isdigit())
    assert "[phone number hidden]" in text
    assert not any(ch.isdigit() for ch in text), text
    assert digits[-6:] not in text


@pytest.mark.parametrize("email", ["an@vidu.vn", "Nguyen.Van-An+pa@mail.gov.vn", "x_y@a-b.com"])
def test_public_text_masks_emails(email: str) -> None:
    with translation.override("en"):
        text = public_text(f"Gửi thư tới {email}.")
    assert email not in text
    assert "@" not in text
    assert "[e-mail hidden]" in text


@pytest.mark.parametrize(
    "kept",
    [
        "ngày 13/02/2026",
        "ngày 13.02.2026",
        "ngày 2026-02-13",
        "phạt 1.500.000 đồng",
        "dự toán 15.000.000.000 đồng",
        "1,500,000 VND",
        "số nhà 102, ngõ 45",
        "lúc 07:30",
        "mã hồ sơ 000.00.22.H26-260213-0001",
    ],
)
def test_public_text_keeps_dates_and_amounts(kept: str) -> None:
    assert public_text(f"Sự việc {kept} đã xảy ra.") == f"Sự việc {kept} đã xảy ra."


def test_public_output_masks_staff_written_text_too(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    feedback = answered_feedback(
        tree.hoankiem,
        officer,
        description=f"Gọi {SENDER_PHONE}",
        address=f"Nhà {SENDER_EMAIL}",
        answer=f"Chúng tôi đã gọi lại số {SENDER_PHONE}.",
    )
    public = to_public(feedback, with_events=True)
    blob = json.dumps(
        [public.description, public.address, public.answer, [e.text for e in public.events]],
        ensure_ascii=False,
    )
    assert SENDER_PHONE not in blob
    assert SENDER_EMAIL not in blob


# --- Abuse limits -------------------------------------------------------------------------------


def test_limit_counts_within_the_window(settings: Any) -> None:
    cache.clear()
    settings.TTCS_FEEDBACK_RATE_IP = "3/m"
    settings.TTCS_FEEDBACK_RATE_CONTACT = "2/h"
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, 5, tzinfo=VN), tick=False):
        limits = abuse.submission_limits(ip="203.0.113.9", phone_key="0912345678")
        assert [limit.key for limit in limits] == ["ip:203.0.113.9", "phone:0912345678"]
        assert abuse.reserve(limits)
        assert abuse.reserve(limits)
        # The phone allows 2 an hour: now full; the address (3 a minute) is not.
        assert limits[1].exceeded()
        assert not limits[0].exceeded()
        # Refused as a whole: the address's place is given back too.
        assert not abuse.reserve(limits)
        assert not limits[0].exceeded()
        assert abuse.reserve(abuse.submission_limits(ip="203.0.113.10"))
        assert abuse.reserve([limits[0]])
        assert limits[0].exceeded()
    # The next minute, the per-minute window starts again; the hourly one does not.
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 1, 5, tzinfo=VN), tick=False):
        assert not limits[0].exceeded()
        assert limits[1].exceeded()
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, 0, 5, tzinfo=VN), tick=False):
        assert not limits[1].exceeded()
    cache.clear()


def test_reserve_refuses_the_one_over_the_limit_without_any_count(settings: Any) -> None:
    """Reservation alone (no count after storing, as before) admits exactly N: parallel
    requests that each reserve before any finishes cannot all pass."""
    cache.clear()
    settings.TTCS_FEEDBACK_RATE_IP = "5/h"
    limits = abuse.submission_limits(ip="203.0.113.20")
    assert [abuse.reserve(limits) for _ in range(6)] == [True] * 5 + [False]
    # A released place (input refused) is free again; never below zero.
    abuse.release(limits)
    assert abuse.reserve(limits)
    fresh = abuse.submission_limits(ip="203.0.113.21")
    abuse.release(fresh)
    abuse.release(fresh)
    assert [abuse.reserve(fresh) for _ in range(6)] == [True] * 5 + [False]
    cache.clear()


def test_limits_without_keys_and_open311(settings: Any) -> None:
    cache.clear()
    settings.TTCS_OPEN311_RATE_KEY = "1/d"
    assert abuse.submission_limits(ip=None) == []
    assert abuse.reserve([])
    limit = abuse.open311_limit(7)
    assert not limit.exceeded()
    assert abuse.reserve([limit])
    assert limit.exceeded()
    assert not abuse.reserve([limit])
    assert abuse.reserve([abuse.open311_limit(8)])
    assert abuse.parse_rate("30/h") == (30, 3600)
    assert abuse.parse_rate("5/d") == (5, 86400)
    cache.clear()


# --- Open311 keys -------------------------------------------------------------------------------


def test_open311_keys(db: Any) -> None:
    client, key = services.open311_key_create(name="Ứng dụng Hà Nội")
    assert services.open311_client_for_key(key) == client
    assert client.key_hash != key
    assert key not in client.key_hash
    assert services.open311_client_for_key(key + "x") is None
    assert services.open311_client_for_key("") is None
    with pytest.raises(ServiceError):
        services.open311_key_create(name="Ứng dụng Hà Nội")
    services.open311_key_revoke(client=client)
    assert services.open311_client_for_key(key) is None


def test_only_accepted_feedback_is_public(tree: Any, make_user: Any) -> None:
    """A transfer straight from "received" keeps it private until the new unit accepts it; an
    answer published without "accept" accepts it, and the history says so."""
    from thongtincoso.feedback.public import public_queryset

    officer = make_officer(make_user, tree.hoankiem)
    other = make_officer(make_user, tree.cuanam)
    moved = make_feedback(tree.hoankiem)
    services.feedback_transfer(actor=officer, feedback=moved, to_unit=tree.cuanam, reason="Cửa Nam")
    assert not public_queryset().filter(pk=moved.pk).exists()
    services.feedback_accept(actor=other, feedback=reload(moved))
    assert public_queryset().filter(pk=moved.pk).exists()

    answered = make_feedback(tree.hoankiem)
    services.answer_save(actor=officer, feedback=answered, text="Đã xử lý.")
    services.answer_submit(actor=officer, feedback=answered)
    answered = reload(answered)
    assert answered.accepted_at is not None
    assert public_queryset().filter(pk=answered.pk).exists()
    kinds = list(Event.objects.filter(feedback=answered).values_list("kind", flat=True))
    assert kinds == [EventKind.RECEIVED, EventKind.ACCEPTED, EventKind.ANSWERED]


def test_merged_duplicate_cannot_be_closed_on_its_own(tree: Any, make_user: Any) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    master = answered_feedback(tree.hoankiem, officer)
    duplicate = make_feedback(tree.hoankiem)
    services.feedback_merge(actor=officer, duplicate=duplicate, into=master)
    duplicate = reload(duplicate)
    assert duplicate.status == Status.ANSWERED  # merged into an answered one: shares its answer
    with pytest.raises(ConflictError):
        services.feedback_close(actor=officer, feedback=duplicate)


def test_a_nul_character_is_refused_at_its_field(tree: Any) -> None:
    with pytest.raises(ServiceError) as exc:
        make_feedback(tree.hoankiem, "truyen-thanh", attributes={"van-de": "qua\x00-to"})
    assert exc.value.field == "attribute[van-de]"
    with pytest.raises(ServiceError) as exc:
        make_feedback(tree.hoankiem, address="Ngõ\x005")
    assert exc.value.field == "address"
    assert Feedback.objects.count() == 0

"""Demo feedback for Phường Hoàn Kiếm and Cửa Nam, in the states a handler meets every day.

Made through the services (so routing, events, audit and deadlines are the real ones), then moved
back in time so that the demo has an answered item, an overdue one and today's arrivals.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from thongtincoso.accounts.models import User

from . import calendar
from .models import Event, Feedback, Source, UnitSettings
from .services import (
    Submission,
    answer_save,
    answer_submit,
    feedback_accept,
    feedback_start,
    feedback_submit,
    feedback_transfer,
)

# (commune, category, place, lat, long, description, days ago, what happens)
DEMO_FEEDBACK = [
    (
        "00070",
        "moi-truong",
        "Ngõ 12 phố Hàng Bạc",
        "21.034310",
        "105.852240",
        "Rác thải sinh hoạt tồn đọng ở đầu ngõ ba ngày nay, bốc mùi và tràn ra lòng đường.",
        12,
        "answered",
    ),
    (
        "00070",
        "chieu-sang",
        "Phố Hàng Gai, trước số nhà 40",
        "21.032180",
        "105.850090",
        "Hai cột đèn đường không sáng từ đầu tuần, buổi tối rất tối, người đi bộ dễ vấp ngã.",
        20,
        "in_progress",
    ),
    (
        "00070",
        "truyen-thanh",
        "Tổ dân phố số 1, gần nhà văn hóa",
        "21.030950",
        "105.853110",
        "Cụm loa ở nhà văn hóa phát quá to vào buổi sáng, các cụ già trong tổ phản ánh bị đau tai.",
        0,
        "received",
    ),
    (
        "00073",
        "giao-thong",
        "Phố Trần Hưng Đạo, đoạn gần ga Hà Nội",
        "21.024410",
        "105.841600",
        "Mặt đường có ổ gà lớn, trời mưa đọng nước, xe máy đi qua rất nguy hiểm.",
        3,
        "accepted",
    ),
    (
        "00073",
        "trat-tu-do-thi",
        "Phố Lê Duẩn",
        "",
        "",
        "Hàng quán lấn chiếm vỉa hè, người đi bộ phải đi xuống lòng đường.",
        5,
        "transferred",
    ),
]
ANSWER = (
    "UBND phường đã chỉ đạo đơn vị thu gom rác thải xử lý ngay trong ngày. Từ tuần này xe thu "
    "gom vào ngõ lúc 18 giờ hằng ngày. Cảm ơn người dân đã phản ánh."
)


def demo_feedback_load() -> int:
    """Create the demo feedback once (nothing when any feedback exists). Returns how many."""
    if Feedback.objects.exists():
        return 0
    officer = User.objects.filter(username="hoankiem.feedback").first()
    province_officer = User.objects.filter(username="hn.feedback").first()
    if officer is None or province_officer is None:
        return 0
    now = timezone.now()
    created = 0
    with transaction.atomic():
        for commune, category, place, lat, long, text, days_ago, state in DEMO_FEEDBACK:
            feedback = feedback_submit(
                submission=Submission(
                    category=category,
                    commune=commune,
                    description=text,
                    address=place,
                    lat=lat or None,
                    long=long or None,
                    attributes={"van-de": "qua-to"} if category == "truyen-thanh" else {},
                    source=Source.WEB,
                )
            )
            handler = officer if commune == "00070" else province_officer
            if state != "received":
                feedback_accept(actor=handler, feedback=feedback)
            if state in ("in_progress", "answered"):
                feedback_start(actor=handler, feedback=feedback)
            if state == "answered":
                answer_save(actor=handler, feedback=feedback, text=ANSWER)
                answer_submit(actor=handler, feedback=feedback)
            if state == "transferred":
                feedback_transfer(
                    actor=handler,
                    feedback=feedback,
                    to_unit=feedback.unit.parent,  # type: ignore[arg-type]
                    reason="Thuộc thẩm quyền của Đội quản lý trật tự đô thị thành phố.",
                )
            _move_back(feedback, now - dt.timedelta(days=days_ago))
            created += 1
        # Phường Hoàn Kiếm has its answers approved by a leader (hoankiem.approver).
        UnitSettings.objects.get_or_create(
            unit=officer.unit, defaults={"answers_need_approval": True}
        )
    return created


def _move_back(feedback: Feedback, received_at: dt.datetime) -> None:
    """Shift the demo item's times so it looks received `received_at` (demo data only)."""
    shift = timezone.now() - received_at
    due = calendar.due_date_for(received_at, feedback.category.deadline_days)
    fields = {"received_at": received_at, "due_date": due}
    for name in ("accepted_at", "answered_at"):
        value = getattr(feedback, name, None)
        if value is not None:
            fields[name] = value - shift + dt.timedelta(hours=2)
    Feedback.objects.filter(pk=feedback.pk).update(**fields)
    for event in Event.objects.filter(feedback=feedback):
        Event.objects.filter(pk=event.pk).update(
            created_at=event.created_at
            - shift
            + dt.timedelta(hours=1 if event.kind != "received" else 0)
        )

"""Demo bulletins for `make demo`: a province relaying to its wards, a ward's own programme.

Everything goes through the real services (so the audit log, revisions and relay are real).
Idempotent: a bulletin whose title already exists in its unit is not created again.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from thongtincoso.accounts.models import User
from thongtincoso.units.models import Unit

from . import services
from .models import Bulletin, Priority

# (unit code, author, approver or None, final state, fields)
DEMO_BULLETINS: list[tuple[str, str, str | None, str, dict]] = [
    (
        "01",
        "hn.editor",
        "hn.approver",
        "published",
        {
            "title": "Cảnh báo rét đậm, rét hại từ ngày 28/11 đến 02/12/2026",
            "summary": (
                "Nhiệt độ thấp nhất 8–10°C; người dân chủ động giữ ấm, bảo vệ cây trồng, vật nuôi."
            ),
            "body": (
                "<p>Theo Trung tâm Khí tượng Thủy văn quốc gia, từ đêm 28/11/2026 không khí lạnh "
                "tăng cường, trời rét đậm, rét hại; nhiệt độ thấp nhất phổ biến 8–10°C.</p>"
                "<p>UBND Thành phố đề nghị người dân:</p><ul><li>giữ ấm cho người già và trẻ "
                "nhỏ;</li><li>che chắn chuồng trại, bảo vệ vật nuôi;</li><li>không đốt than "
                "sưởi trong phòng kín.</li></ul>"
            ),
            "category": "phong-chong-thien-tai",
            "priority": Priority.PRIORITY,
            "channels": ["radio", "eboard", "portal", "sms"],
            "targets": ["01"],
            "tags": ["thời tiết", "rét đậm"],
            "source_note": "Trung tâm Khí tượng Thủy văn quốc gia",
        },
    ),
    (
        "01",
        "hn.editor",
        "hn.approver",
        "published",
        {
            "title": "Tiêm chủng mở rộng cho trẻ dưới 5 tuổi tháng 12/2026",
            "summary": (
                "Trạm y tế các phường tổ chức tiêm vắc xin sởi – rubella ngày 05 và 06/12/2026."
            ),
            "body": (
                "<p>Thực hiện kế hoạch của Sở Y tế, trạm y tế các phường tổ chức tiêm vắc xin "
                "sởi – rubella cho trẻ từ 1 đến 5 tuổi vào các ngày 05 và 06/12/2026, từ 7h30 "
                "đến 16h30.</p><p>Phụ huynh mang theo sổ tiêm chủng của trẻ.</p>"
            ),
            "category": "kien-thuc-san-xuat-doi-song",
            "targets": ["00070", "00073"],
            "tags": ["y tế", "tiêm chủng"],
            "source_note": "Sở Y tế",
        },
    ),
    (
        "00070",
        "hoankiem.editor",
        "hoankiem.approver",
        "published",
        {
            "title": "Lịch thu gom rác thải sinh hoạt trên địa bàn phường",
            "summary": "Rác được thu gom từ 18h00 đến 21h00 hằng ngày tại các điểm tập kết.",
            "body": (
                "<p>UBND phường Hoàn Kiếm thông báo: rác thải sinh hoạt được thu gom từ 18h00 "
                "đến 21h00 hằng ngày. Đề nghị các hộ gia đình phân loại rác tại nguồn và để rác "
                "đúng giờ, đúng nơi quy định.</p>"
            ),
            "category": "quy-dinh-su-kien-dia-phuong",
            "tags": ["môi trường"],
        },
    ),
    (
        "00070",
        "hoankiem.editor",
        None,
        "draft",
        {
            "title": "Kế hoạch tổng vệ sinh môi trường chào mừng năm mới 2027",
            "body": "<p>Sáng Chủ nhật 27/12/2026, toàn phường ra quân tổng vệ sinh.</p>",
            "category": "quy-dinh-su-kien-dia-phuong",
        },
    ),
    (
        "00073",
        "cuanam.editor",
        None,
        "submitted",
        {
            "title": "Tuyên truyền phòng chống cháy nổ mùa hanh khô",
            "body": (
                "<p>Mùa hanh khô, nguy cơ cháy nổ cao. Người dân kiểm tra hệ thống điện, không "
                "để vật dễ cháy gần nguồn nhiệt; khi có cháy gọi ngay 114.</p>"
            ),
            "category": "phong-chong-thien-tai",
        },
    ),
]


def demo_bulletins_load() -> int:
    """Create the demo bulletins that are missing; return how many were created."""
    users = {u.username: u for u in User.objects.filter(username__contains=".")}
    units = {u.code: u for u in Unit.objects.current().filter(code__in={"01", "00070", "00073"})}
    created = 0
    for code, author, approver, state, fields in DEMO_BULLETINS:
        unit = units.get(code)
        if unit is None or author not in users:
            continue
        if Bulletin.objects.filter(unit=unit, title=fields["title"]).exists():
            continue
        with transaction.atomic():
            bulletin = services.bulletin_create(
                actor=users[author],
                unit=unit,
                valid_from=timezone.now() - dt.timedelta(minutes=5),
                **fields,
            )
            if state in ("submitted", "published"):
                services.bulletin_submit(actor=users[author], bulletin=bulletin)
            if state == "published" and approver:
                services.bulletin_approve(actor=users[approver], bulletin=bulletin)
        created += 1
    return created

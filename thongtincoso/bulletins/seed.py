"""The seeded lists of content categories (Nghị định 49/2024) and broadcast languages.

Used by the data migration and, when those tables are empty, by a post_migrate handler (tests that
flush the database, or a database restored without them), so the lists are always there.
"""

from __future__ import annotations

from typing import Any

CATEGORIES = [
    ("chu-truong-chinh-sach", "Chủ trương của Đảng, chính sách, pháp luật của Nhà nước"),
    ("quy-dinh-su-kien-dia-phuong", "Quy định của địa phương và sự kiện quan trọng"),
    ("du-an-chuong-trinh", "Dự án, chương trình tại địa phương (kinh tế, văn hóa, an sinh xã hội)"),
    (
        "kien-thuc-san-xuat-doi-song",
        "Kiến thức phục vụ sản xuất và đời sống (khoa học, nông nghiệp, y tế)",
    ),
    ("an-ninh-trat-tu-quan-su", "An ninh, trật tự và quân sự địa phương"),
    (
        "phong-chong-thien-tai",
        "Phòng chống thiên tai, cứu hộ cứu nạn, cháy nổ, dịch bệnh, tình huống khẩn cấp",
    ),
    ("tra-loi-phan-anh", "Trả lời phản ánh, kiến nghị của người dân"),
]

# BCP 47 / ISO 639-3 codes where one exists.
LANGUAGES = [
    ("vi", "Tiếng Việt"),
    ("tyz", "Tiếng Tày"),
    ("blt", "Tiếng Thái"),
    ("mtq", "Tiếng Mường"),
    ("km", "Tiếng Khmer"),
    ("hnj", "Tiếng Mông"),
    ("nut", "Tiếng Nùng"),
    ("jra", "Tiếng Gia Rai"),
    ("rad", "Tiếng Ê Đê"),
    ("bdq", "Tiếng Ba Na"),
    ("cja", "Tiếng Chăm"),
]


def seed_lists(category_model: Any, language_model: Any) -> None:
    """Create the seeded entries that are missing; never changes an existing one."""
    for position, (code, name) in enumerate(CATEGORIES, start=1):
        category_model.objects.get_or_create(
            code=code, defaults={"name": name, "position": position}
        )
    for position, (code, name) in enumerate(LANGUAGES, start=1):
        language_model.objects.get_or_create(
            code=code, defaults={"name": name, "position": position}
        )

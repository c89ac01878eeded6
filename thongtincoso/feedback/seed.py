"""The seeded feedback categories (Open311 services), editable afterwards.

Used by the data migration and, when the table is empty, by a post_migrate handler (tests that
flush the database), like the bulletin categories.
"""

from __future__ import annotations

from typing import Any

# (code, name, group, deadline in working days, description)
CATEGORIES = [
    (
        "moi-truong",
        "Môi trường, rác thải",
        "Đô thị và môi trường",
        10,
        "Rác thải, ô nhiễm, nước thải, tiếng ồn",
    ),
    (
        "giao-thong",
        "Giao thông, đường sá",
        "Hạ tầng",
        10,
        "Đường hỏng, ổ gà, biển báo, đèn tín hiệu",
    ),
    (
        "chieu-sang",
        "Điện, chiếu sáng công cộng",
        "Hạ tầng",
        7,
        "Đèn đường hỏng, cột điện nghiêng, dây điện sà thấp",
    ),
    ("cap-thoat-nuoc", "Cấp, thoát nước", "Hạ tầng", 10, "Ngập úng, cống tắc, mất nước"),
    (
        "trat-tu-do-thi",
        "Trật tự đô thị, xây dựng",
        "Đô thị và môi trường",
        15,
        "Lấn chiếm vỉa hè, xây dựng không phép",
    ),
    ("an-ninh-trat-tu", "An ninh, trật tự", "An ninh", 7, "Gây rối, tụ tập, mất trộm"),
    ("dat-dai", "Đất đai", "Hành chính", 30, "Tranh chấp, sử dụng đất"),
    ("y-te", "Y tế, dịch bệnh", "Xã hội", 7, "Dịch bệnh, vệ sinh an toàn thực phẩm"),
    (
        "thu-tuc-hanh-chinh",
        "Thủ tục hành chính",
        "Hành chính",
        15,
        "Giải quyết hồ sơ, thái độ phục vụ",
    ),
    (
        "truyen-thanh",
        "Loa truyền thanh, thông tin cơ sở",
        "Thông tin cơ sở",
        10,
        "Loa không nghe rõ, quá to, hỏng; bản tin sai",
    ),
    ("khac", "Khác", "Khác", 15, "Những việc khác"),
]

# Extra questions (Open311 service definition attributes) of some categories.
ATTRIBUTES = {
    "truyen-thanh": [
        {
            "code": "van-de",
            "description": "Vấn đề với loa",
            "datatype": "singlevaluelist",
            "required": True,
            "values": [
                {"key": "khong-nghe-ro", "name": "Không nghe rõ"},
                {"key": "qua-to", "name": "Quá to"},
                {"key": "khong-hoat-dong", "name": "Không hoạt động"},
                {"key": "sai-gio", "name": "Phát sai giờ"},
            ],
        }
    ],
}


def seed_categories(category_model: Any, attribute_model: Any) -> None:
    """Create the seeded entries that are missing; never changes an existing one."""
    for position, (code, name, group, days, description) in enumerate(CATEGORIES, start=1):
        category, created = category_model.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "group": group,
                "deadline_days": days,
                "description": description,
                "position": position,
            },
        )
        if not created:
            continue
        for index, spec in enumerate(ATTRIBUTES.get(code, []), start=1):
            attribute_model.objects.create(category=category, position=index, **spec)

"""Seed the content categories of essential information (Nghị định 49/2024) and the languages.

Both lists are data, editable afterwards; this runs once and never overwrites edits.
"""

from django.db import migrations

CATEGORIES = [
    ("chu-truong-chinh-sach", "Chủ trương của Đảng, chính sách, pháp luật của Nhà nước"),
    ("quy-dinh-su-kien-dia-phuong", "Quy định của địa phương và sự kiện quan trọng"),
    ("du-an-chuong-trinh", "Dự án, chương trình tại địa phương (kinh tế, văn hóa, an sinh xã hội)"),
    ("kien-thuc-san-xuat-doi-song", "Kiến thức phục vụ sản xuất và đời sống (khoa học, nông nghiệp, y tế)"),
    ("an-ninh-trat-tu-quan-su", "An ninh, trật tự và quân sự địa phương"),
    ("phong-chong-thien-tai", "Phòng chống thiên tai, cứu hộ cứu nạn, cháy nổ, dịch bệnh, tình huống khẩn cấp"),
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


def seed(apps, schema_editor):
    Category = apps.get_model("bulletins", "Category")
    Language = apps.get_model("bulletins", "Language")
    for position, (code, name) in enumerate(CATEGORIES, start=1):
        Category.objects.get_or_create(code=code, defaults={"name": name, "position": position})
    for position, (code, name) in enumerate(LANGUAGES, start=1):
        Language.objects.get_or_create(code=code, defaults={"name": name, "position": position})


class Migration(migrations.Migration):
    dependencies = [("bulletins", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

"""Demo accounts: one per role in Hà Nội (01) and two of its wards. Listed in README.md."""

from __future__ import annotations

from django.db import transaction

from thongtincoso.units.models import Unit
from thongtincoso.units.services import zone_create

from .models import RoleAssignment, User
from .roles import Role
from .services import role_assign, user_create

DEMO_PASSWORD = "ttcs-demo-2025"  # noqa: S105  (documented demo credential, never in production)
PROVINCE = "01"  # Thành phố Hà Nội
COMMUNE_A = "00070"  # Phường Hoàn Kiếm
COMMUNE_B = "00073"  # Phường Cửa Nam

# (username, full name, role, unit code)
DEMO_ACCOUNTS: list[tuple[str, str, str, str]] = [
    ("admin", "Quản trị hệ thống", Role.SYSTEM_ADMIN, "VN"),
    ("hn.admin", "Nguyễn Văn An", Role.UNIT_ADMIN, PROVINCE),
    ("hn.editor", "Trần Thị Bình", Role.EDITOR, PROVINCE),
    ("hn.approver", "Lê Văn Cường", Role.APPROVER, PROVINCE),
    ("hn.operator", "Phạm Thị Dung", Role.BROADCAST_OPERATOR, PROVINCE),
    ("hn.tech", "Hoàng Văn Em", Role.TECHNICIAN, PROVINCE),
    ("hn.feedback", "Vũ Thị Giang", Role.FEEDBACK_OFFICER, PROVINCE),
    ("hn.viewer", "Đỗ Văn Hải", Role.VIEWER, PROVINCE),
    ("hoankiem.editor", "Bùi Thị Hoa", Role.EDITOR, COMMUNE_A),
    ("hoankiem.approver", "Ngô Văn Khánh", Role.APPROVER, COMMUNE_A),
    ("hoankiem.feedback", "Trịnh Thị Mai", Role.FEEDBACK_OFFICER, COMMUNE_A),
    ("cuanam.editor", "Đặng Thị Lan", Role.EDITOR, COMMUNE_B),
    ("cuanam.admin", "Phan Văn Minh", Role.UNIT_ADMIN, COMMUNE_B),
]
DEMO_ZONES = {COMMUNE_A: ["Tổ dân phố số 1", "Tổ dân phố số 2"], COMMUNE_B: ["Tổ dân phố số 1"]}


def demo_load() -> list[str]:
    """Create what is missing; return the usernames created. Safe to run again."""
    created: list[str] = []
    units = {
        u.code: u
        for u in Unit.objects.current().filter(code__in={code for *_, code in DEMO_ACCOUNTS})
    }
    with transaction.atomic():
        for username, full_name, role, code in DEMO_ACCOUNTS:
            unit = units[code]
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(
                    actor=None,
                    username=username,
                    unit=unit,
                    password=DEMO_PASSWORD,
                    full_name=full_name,
                    email=f"{username}@demo.ttcs.local",
                )
                created.append(username)
            if role == Role.SYSTEM_ADMIN and not user.is_superuser:
                # The demo system admin also reaches third-party back-office pages (2FA devices,
                # login lockouts), which Django keeps to superusers.
                User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
            if not RoleAssignment.objects.filter(user=user, role=role, unit=unit).exists():
                role_assign(actor=None, user=user, role=role, unit=unit)
        for code, zones in DEMO_ZONES.items():
            commune = Unit.objects.current().get(code=code)
            existing = set(commune.children.current().values_list("name", flat=True))
            for name in zones:
                if name not in existing:
                    zone_create(actor=None, commune=commune, name=name, type_name="Tổ dân phố")
    return created

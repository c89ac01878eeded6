"""Devices: creating and changing them, who may, and the `device_create` command.

The helpers at the top (`make_device`, `enrolled`, `add_airing`, the `manifest_root` fixture) are
shared by the other device protocol tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone, translation

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.core.errors import NotFoundError, PermissionDeniedError, ServiceError
from thongtincoso.radio.credentials import enrol
from thongtincoso.radio.devices import device_create, device_update
from thongtincoso.radio.models import Airing, Device, Station
from thongtincoso.units.models import Unit

CODE_RE = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$")


# --- Shared helpers ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def manifest_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "manifests"
    settings.TTCS_MANIFEST_ROOT = str(root)
    return root


def make_device(commune: Unit, code: str, *, zone: Unit | None = None, kind: str = "cluster"):
    return device_create(actor=None, commune=commune, kind=kind, code=code, zone=zone)


def enrolled(
    commune: Unit, code: str, *, zone: Unit | None = None, kind: str = "cluster"
) -> tuple[Device, str]:
    """A device created and enrolled; (device, credential)."""
    _device, enrolment_code = make_device(commune, code, zone=zone, kind=kind)
    return enrol(enrolment_code)


def station_of(commune: Unit) -> Station:
    return Station.objects.get_or_create(unit=commune, defaults={"name": f"Đài {commune.name}"})[0]


def add_airing(
    commune: Unit,
    key: str,
    start: dt.datetime,
    *,
    seconds: float = 120,
    title: str = "Bản tin",
    zone_codes: list[str] | None = None,
) -> Airing:
    sha = hashlib.sha256(key.encode()).hexdigest()
    end = start + dt.timedelta(seconds=seconds)
    return Airing.objects.create(
        station=station_of(commune),
        key=key,
        occurrence_start=start,
        occurrence_end=start + dt.timedelta(minutes=30),
        starts_at=start,
        ends_at=end,
        kind="bulletin",
        title=title,
        priority="normal",
        audio_sha256=sha,
        audio_size=int(seconds * 8000),
        audio_duration=seconds,
        zone_codes=zone_codes or [],
    )


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


# --- device_create -------------------------------------------------------------------------------


@pytest.fixture
def tech(tree: Any, make_user: Any) -> Any:
    return make_user("tech", tree.hanoi, role=Role.TECHNICIAN)


def test_a_technician_creates_a_device_and_gets_a_one_time_code(tree, tech):
    device, code = device_create(
        actor=tech,
        commune=tree.hoankiem,
        kind="cluster",
        code="HK-LOA-01",
        zone=tree.zone,
        name="Cụm loa chợ",
        latitude="21.028511",
        longitude=105.852020,
        speakers=4,
    )
    assert CODE_RE.match(code)
    device.refresh_from_db()
    assert device.commune == tree.hoankiem
    assert device.zone == tree.zone
    assert device.latitude == Decimal("21.028511")
    assert device.created_by == tech
    # Only the hash of the code is kept, valid for seven days.
    assert device.enrolment_code_hash == hashlib.sha256(code.replace("-", "").encode()).hexdigest()
    assert device.enrolment_expires_at is not None
    assert dt.timedelta(days=6, hours=23) < device.enrolment_expires_at - timezone.now()
    assert device.credential_hash is None
    record = AuditRecord.objects.get(action="radio.device.create")
    assert record.actor_id == tech.pk
    assert record.object_id == str(device.pk)
    stored = str(record.after) + str(record.before)
    assert code not in stored
    assert code.replace("-", "") not in stored


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "ab"}, "code"),
        ({"code": "x" * 41}, "code"),
        ({"code": "bad code"}, "code"),
        ({"code": "HK/1"}, "code"),
        ({"kind": "radio"}, "kind"),
        ({"latitude": 91}, "latitude"),
        ({"longitude": "-180.5"}, "longitude"),
        ({"latitude": "north"}, "latitude"),
        ({"connectivity": "5g"}, "connectivity"),
    ],
)
def test_bad_details_are_refused_with_the_field(tree, tech, fields, field):
    args = {"commune": tree.hoankiem, "kind": "cluster", "code": "HK-01", **fields}
    with pytest.raises(ServiceError) as exc:
        device_create(actor=tech, **args)
    assert exc.value.field == field
    assert not Device.objects.exists()


def test_a_code_is_unique_with_a_clear_message(tree, tech):
    device_create(actor=tech, commune=tree.hoankiem, kind="cluster", code="HK-01")
    with pytest.raises(ServiceError, match="already has the code") as exc:
        device_create(actor=tech, commune=tree.cuanam, kind="eboard", code="HK-01")
    assert exc.value.field == "code"
    assert Device.objects.count() == 1


def test_the_zone_must_belong_to_the_commune(tree, tech):
    with pytest.raises(ServiceError) as exc:
        device_create(actor=tech, commune=tree.cuanam, kind="cluster", code="CN-01", zone=tree.zone)
    assert exc.value.field == "zone"
    with pytest.raises(ServiceError):
        device_create(
            actor=tech, commune=tree.hoankiem, kind="cluster", code="HK-01", zone=tree.cuanam
        )
    assert not Device.objects.exists()


def test_devices_are_created_in_communes_only(tree, tech):
    with pytest.raises(ServiceError):
        device_create(actor=tech, commune=tree.hanoi, kind="cluster", code="HN-01")


def test_who_may_create_devices(tree, make_user):
    operator = make_user("op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
    outsider = make_user("outsider", tree.saigon, role=Role.TECHNICIAN)
    with pytest.raises(PermissionDeniedError):
        device_create(actor=operator, commune=tree.hoankiem, kind="cluster", code="HK-01")
    with pytest.raises(NotFoundError):
        device_create(actor=outsider, commune=tree.hoankiem, kind="cluster", code="HK-01")
    assert not Device.objects.exists()
    assert not AuditRecord.objects.filter(action="radio.device.create").exists()


def test_device_update_changes_details_and_is_audited(tree, tech):
    device, _code = device_create(actor=tech, commune=tree.hoankiem, kind="cluster", code="HK-01")
    device_update(actor=tech, device=device, zone=tree.zone, name="Cổng chợ", volume=60)
    device.refresh_from_db()
    assert (device.zone, device.name, device.volume) == (tree.zone, "Cổng chợ", 60)
    record = AuditRecord.objects.get(action="radio.device.update")
    assert record.before == {"zone": None, "name": "", "volume": None}
    assert record.after == {"zone": tree.zone.pk, "name": "Cổng chợ", "volume": 60}


def test_device_update_refuses_bad_values_and_other_fields(tree, tech, make_user):
    device, _code = device_create(actor=tech, commune=tree.hoankiem, kind="cluster", code="HK-01")
    with pytest.raises(ServiceError):
        device_update(actor=tech, device=device, code="OTHER")
    with pytest.raises(ServiceError) as exc:
        device_update(actor=tech, device=device, volume=150)
    assert exc.value.field == "volume"
    with pytest.raises(ServiceError):
        device_update(actor=tech, device=device, zone=tree.cuanam)
    viewer = make_user("viewer", tree.hoankiem, role=Role.VIEWER)
    with pytest.raises(PermissionDeniedError):
        device_update(actor=viewer, device=device, name="x")
    device.refresh_from_db()
    assert (device.code, device.volume, device.zone, device.name) == ("HK-01", None, None, "")


# --- manage.py device_create ---------------------------------------------------------------------


def test_command_prints_the_enrolment_code(tree):
    out = StringIO()
    call_command(
        "device_create", "--commune", "00070", "--kind", "eboard", "--code", "HK-EB-1",
        "--zone", tree.zone.code, "--name", "Bảng tin", stdout=out,
    )  # fmt: skip
    code = out.getvalue().strip()
    assert CODE_RE.match(code)
    assert "\n" not in code
    device = Device.objects.get(code="HK-EB-1")
    assert (device.kind, device.zone, device.name) == ("eboard", tree.zone, "Bảng tin")
    assert device.enrolment_code_hash == hashlib.sha256(code.replace("-", "").encode()).hexdigest()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--commune", "99999", "--kind", "cluster", "--code", "X-01"], "No commune"),
        (["--commune", "01", "--kind", "cluster", "--code", "X-01"], "No commune"),
        (
            ["--commune", "00073", "--kind", "cluster", "--code", "X-01", "--zone", "00070.001"],
            "no zone",
        ),
        (["--commune", "00070", "--kind", "cluster", "--code", "x"], "3 to 40"),
    ],
)
def test_command_errors_are_clear(tree, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("device_create", *args, stdout=StringIO())
    assert not Device.objects.exists()


def test_command_in_a_real_process(tmp_path):
    """The command as automation runs it: a process of its own, exit status and stdout."""
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    setup = (
        "import django; django.setup();"
        "from django.core.management import call_command;"
        "call_command('migrate', verbosity=0);"
        "import datetime as dt;"
        "from thongtincoso.units.models import Unit;"
        "n = Unit(code='VN', name='Việt Nam', kind='nation'); n.save();"
        "p = Unit(code='01', name='Hà Nội', kind='province', parent=n); p.save();"
        "Unit(code='00070', name='Phường Hoàn Kiếm', kind='commune', parent=p).save()"
    )
    subprocess.run(  # noqa: S603
        [sys.executable, "-c", setup], cwd=root, env=env, check=True, timeout=300
    )
    command = [
        sys.executable,
        "manage.py",
        "device_create",
        "--commune",
        "00070",
        "--kind",
        "cluster",
    ]
    ok = subprocess.run(  # noqa: S603
        [*command, "--code", "HK-LOA-09"], cwd=root, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert CODE_RE.match(ok.stdout.strip())
    assert ok.stdout.count("\n") == 1
    again = subprocess.run(  # noqa: S603
        [*command, "--code", "HK-LOA-09"], cwd=root, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert again.returncode != 0
    assert "HK-LOA-09" in again.stderr
    assert again.stdout == ""

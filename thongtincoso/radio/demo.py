"""Demo commune radio: stations of the two demo communes with their weekday sessions, and a fleet
of loudspeaker clusters and an e-board around Hoàn Kiếm lake, so the calendar, the device list
and map, and the emergency page have something to show. Idempotent, like the rest of
`load_demo`. Devices are created but not enrolled: `device_create` prints a code, and a device
(or `curl`, see docs/device-protocol.md) exchanges it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from thongtincoso.accounts.models import User
from thongtincoso.units.models import Unit

from .models import Device, Slot

# (commune code, slot name, start, minutes): Monday to Friday, as most communes air.
DEMO_SLOTS = [
    ("00070", "Bản tin sáng", dt.time(6, 0), 30),
    ("00070", "Bản tin chiều", dt.time(17, 0), 30),
    ("00073", "Bản tin sáng", dt.time(6, 30), 20),
    ("00073", "Bản tin chiều", dt.time(17, 30), 20),
]
WEEKDAYS = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
# (commune, code, kind, name, latitude, longitude, speakers)
DEMO_DEVICES = [
    ("00070", "HK-CL-01", "cluster", "Cụm loa Bờ Hồ", "21.028511", "105.852180", 4),
    ("00070", "HK-CL-02", "cluster", "Cụm loa Hàng Gai", "21.031200", "105.849800", 3),
    ("00070", "HK-CL-03", "cluster", "Cụm loa Hàng Bạc", "21.034400", "105.853500", 3),
    ("00070", "HK-CL-04", "cluster", "Cụm loa Lý Thái Tổ", "21.026900", "105.855600", 2),
    ("00070", "HK-CL-05", "cluster", "Cụm loa Tràng Tiền", "21.024800", "105.856400", 4),
    ("00070", "HK-EB-01", "eboard", "Bảng tin Đinh Tiên Hoàng", "21.030100", "105.853000", 0),
    ("00073", "CN-CL-01", "cluster", "Cụm loa Cửa Nam", "21.028000", "105.842000", 3),
    ("00073", "CN-CL-02", "cluster", "Cụm loa Điện Biên Phủ", "21.030500", "105.840200", 2),
]


def demo_radio_load() -> int:
    """Create what is missing; return how many rows were created."""
    from .devices import device_create
    from .planner import replan
    from .slots import slot_create, station_for

    admin = User.objects.filter(username="admin").first()
    if admin is None:
        return 0
    created = 0
    stations: set[int] = set()
    today = timezone.localdate()
    for code, name, start, minutes in DEMO_SLOTS:
        commune = Unit.objects.current().filter(code=code).first()
        if commune is None:
            continue
        station = station_for(commune)
        assert station is not None
        stations.add(station.pk)
        if Slot.objects.filter(station=station, start_time=start).exists():
            continue
        slot_create(
            actor=admin,
            station=station,
            name=name,
            rrule=WEEKDAYS,
            start_time=start,
            duration_minutes=minutes,
            starts_on=today - dt.timedelta(days=today.weekday()),
            confirm=True,
        )
        created += 1
    for code, device_code, kind, name, lat, lon, speakers in DEMO_DEVICES:
        commune = Unit.objects.current().filter(code=code).first()
        if commune is None or Device.objects.filter(code=device_code).exists():
            continue
        device_create(
            actor=admin,
            commune=commune,
            kind=kind,
            code=device_code,
            name=name,
            latitude=Decimal(lat),
            longitude=Decimal(lon),
            speakers=speakers,
        )
        created += 1
    replan(sorted(stations))
    return created

"""The radio operator pages and the e-board kiosk page, through the real views and services."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins.models import Channel
from thongtincoso.bulletins.tests.factories import published
from thongtincoso.radio import slots
from thongtincoso.radio.models import (
    BroadcastRules,
    CommandKind,
    Device,
    DeviceCommand,
    Emergency,
    EmergencyState,
    QueueOrder,
    Slot,
)
from thongtincoso.radio.tests.factories import with_audio
from thongtincoso.speech.tests.conftest import media  # noqa: F401  (fixture)


@pytest.fixture
def people(tree: Any, make_user: Any) -> Any:
    class People:
        operator = make_user("hk_op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
        technician = make_user("hk_tech", tree.hoankiem, role=Role.TECHNICIAN)
        viewer = make_user("hk_view", tree.hoankiem, role=Role.VIEWER)
        other = make_user("cn_op", tree.cuanam, role=Role.BROADCAST_OPERATOR)
        province = make_user("hn_op", tree.hanoi, role=Role.BROADCAST_OPERATOR)
        province2 = make_user("hn_op2", tree.hanoi, role=Role.BROADCAST_OPERATOR)
        editor = make_user("hk_editor", tree.hoankiem, role=Role.EDITOR)
        approver = make_user("hk_approver", tree.hoankiem, role=Role.APPROVER)

    return People


def _vi(client: Client) -> Client:
    client.cookies["django_language"] = "vi"
    return client


def _device(tree: Any, code: str = "HK-LOA-01", **fields: Any) -> Device:
    fields.setdefault("kind", "cluster")
    return Device.objects.create(code=code, commune=fields.pop("commune", tree.hoankiem), **fields)


# --- Index and access ---------------------------------------------------------------------------


def test_login_required(client: Client, tree: Any) -> None:
    response = client.get("/radio/")
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_index_lists_only_visible_stations(client_for: Any, tree: Any, people: Any) -> None:
    slots.station_for(tree.hoankiem)
    slots.station_for(tree.cuanam)
    _device(tree, last_seen_at=timezone.now())
    _device(tree, "HK-LOA-02")
    page = client_for(people.operator).get("/radio/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/radio/stations/00070/" in html
    assert "/radio/stations/00073/" not in html
    province_page = client_for(people.province).get("/radio/").content.decode()
    assert "/radio/stations/00073/" in province_page


def test_an_unopened_station_opens_on_the_operators_first_visit(
    client_for: Any, tree: Any, people: Any
) -> None:
    from thongtincoso.radio.models import Station

    index = client_for(people.operator).get("/radio/")
    assert [u.code for u in index.context["unopened"]] == ["00070"]
    # A viewer cannot open it: for them there is no station yet.
    assert client_for(people.viewer).get("/radio/stations/00070/").status_code == 404
    assert not Station.objects.exists()
    assert client_for(people.operator).get("/radio/stations/00070/").status_code == 200
    assert Station.objects.get().unit == tree.hoankiem


def test_index_shows_live_emergency_banner(client_for: Any, tree: Any, people: Any) -> None:
    emergency = Emergency.objects.create(
        unit=tree.hoankiem,
        source="speech",
        title="Lũ quét khẩn cấp",
        text="Sơ tán ngay",
        audio_sha256="0" * 64,
        state=EmergencyState.ACTIVE,
        created_by=people.operator,
        started_at=timezone.now(),
    )
    html = client_for(people.viewer).get("/radio/").content.decode()
    assert "Lũ quét khẩn cấp" in html
    assert f"/radio/emergencies/{emergency.pk}/" in html
    assert "Lũ quét khẩn cấp" not in client_for(people.other).get("/radio/").content.decode()


# --- A station: calendar, queue, slots, settings -----------------------------------------------


def _slot(station: Any, operator: Any, **fields: Any) -> Slot:
    fields.setdefault("name", "Sáng")
    fields.setdefault("rrule", "FREQ=DAILY")
    fields.setdefault("start_time", dt.time(6, 0))
    fields.setdefault("duration_minutes", 30)
    fields.setdefault("starts_on", timezone.localdate() - dt.timedelta(days=7))
    slot, _warnings = slots.slot_create(actor=operator, station=station, **fields)
    return slot


def _on_air(people: Any, tree: Any, title: str, seconds: float = 120.0) -> Any:
    bulletin = published(
        people.editor,
        people.approver,
        tree.hoankiem,
        title=title,
        channels=[Channel.RADIO, Channel.PORTAL],
    )
    return with_audio(bulletin, seconds)


def test_station_page_shows_week_queue_and_slots(client_for: Any, tree: Any, people: Any) -> None:
    station = slots.station_for(tree.hoankiem)
    _slot(station, people.operator)
    first = _on_air(people, tree, "Lịch tiêm chủng tháng 5")
    second = _on_air(people, tree, "Thông báo thu thuế đất")
    client = client_for(people.operator)
    page = client.get("/radio/stations/00070/")
    assert page.status_code == 200
    html = page.content.decode()
    assert len(page.context["calendar"]) == 7
    assert html.count('data-testid="session"') == 7  # a daily slot in every column
    waiting = [e["bulletin"].pk for e in page.context["queue"]["waiting"]]
    assert set(waiting) == {first.pk, second.pk}
    assert html.index(f'data-bulletin="{waiting[0]}"') < html.index(f'data-bulletin="{waiting[1]}"')
    assert "FREQ=DAILY" in html
    assert 'data-reorder-url="/radio/stations/00070/queue/"' in html
    # Day view, and moving a week on.
    day = client.get("/radio/stations/00070/", {"view": "day", "date": "2026-05-04"})
    assert len(day.context["calendar"]) == 1
    assert day.context["next"] == dt.date(2026, 5, 5)
    week = client.get("/radio/stations/00070/", {"date": "2026-05-06"})
    assert week.context["start"] == dt.date(2026, 5, 4)  # the Monday
    assert week.context["prev"] == dt.date(2026, 4, 27)
    # A viewer sees it all but gets no forms.
    viewer_html = client_for(people.viewer).get("/radio/stations/00070/").content.decode()
    assert 'data-testid="slot-form"' not in viewer_html
    assert "data-reorder-url" not in viewer_html


def test_station_of_another_commune_is_404(client_for: Any, tree: Any, people: Any) -> None:
    slots.station_for(tree.cuanam)
    client = client_for(people.operator)
    assert client.get("/radio/stations/00073/").status_code == 404
    assert client.get("/radio/stations/01/").status_code == 404  # a province has no station
    assert client.get("/radio/stations/99999/").status_code == 404
    assert client.post("/radio/stations/00073/queue/", {"order": "1"}).status_code == 404
    assert client.post("/radio/stations/00073/slots/new/", {}).status_code == 404


def test_add_slot_builds_the_rrule_from_checkboxes(client_for: Any, tree: Any, people: Any) -> None:
    client = client_for(people.operator)
    response = client.post(
        "/radio/stations/00070/slots/new/",
        {
            "name": "Chiều",
            "weekdays": ["0", "2", "4"],
            "start_time": "17:00",
            "duration_minutes": "30",
            "starts_on": "2026-05-01",
        },
    )
    assert response.status_code == 302
    slot = Slot.objects.get(name="Chiều")
    assert slot.rrule == "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    assert slot.start_time == dt.time(17, 0)
    edit = client.get(f"/radio/stations/00070/slots/{slot.pk}/")
    assert edit.context["form"].initial["weekdays"] == ["0", "2", "4"]
    response = client.post(
        f"/radio/stations/00070/slots/{slot.pk}/",
        {
            "name": "Chiều",
            "rrule": "FREQ=MONTHLY;BYMONTHDAY=1,15",
            "start_time": "17:30",
            "duration_minutes": "20",
            "starts_on": "2026-05-01",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    slot.refresh_from_db()
    assert (slot.rrule, slot.is_active) == ("FREQ=MONTHLY;BYMONTHDAY=1,15", True)
    # Untick "in use": the slot stays, paused.
    paused = {"name": "Chiều", "weekdays": ["0"], "start_time": "17:30"}
    paused |= {"duration_minutes": "20", "starts_on": "2026-05-01"}
    assert client.post(f"/radio/stations/00070/slots/{slot.pk}/", paused).status_code == 302
    slot.refresh_from_db()
    assert (slot.rrule, slot.is_active) == ("FREQ=WEEKLY;BYDAY=MO", False)
    assert client.post(f"/radio/stations/00070/slots/{slot.pk}/delete/").status_code == 302
    assert not Slot.objects.filter(pk=slot.pk).exists()


def test_slot_form_errors_are_translated_and_keep_input(
    client_for: Any, tree: Any, people: Any
) -> None:
    client = _vi(client_for(people.operator))
    response = client.post(
        "/radio/stations/00070/slots/new/",
        {
            "name": "Buổi tối đặc biệt",
            "start_time": "19:00",
            "duration_minutes": "30",
            "starts_on": "2026-05-01",
        },
    )
    assert response.status_code == 400
    with translation.override("vi"):
        expected = translation.gettext("Tick at least one day, or write a recurrence rule.")
    assert response.context["slot_form"].errors["weekdays"] == [expected]
    assert 'value="Buổi tối đặc biệt"' in response.content.decode()
    # The service's refusal (a rule it cannot read) lands on the form too, never a 500.
    response = client.post(
        "/radio/stations/00070/slots/new/",
        {
            "name": "Sai",
            "rrule": "FREQ=SOMETIMES",
            "start_time": "19:00",
            "duration_minutes": "30",
            "starts_on": "2026-05-01",
        },
    )
    assert response.status_code == 400
    assert response.context["slot_form"].errors
    assert not Slot.objects.exists()


def test_reorder_endpoint_changes_queue_order(client_for: Any, tree: Any, people: Any) -> None:
    station = slots.station_for(tree.hoankiem)
    _slot(station, people.operator)
    a = _on_air(people, tree, "Tin A")
    b = _on_air(people, tree, "Tin B")
    client = client_for(people.operator)
    response = client.post(
        "/radio/stations/00070/queue/", {"order": [b.pk, a.pk]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert dict(
        QueueOrder.objects.filter(station=station).values_list("bulletin_id", "position")
    ) == {
        b.pk: 1,
        a.pk: 2,
    }
    html = response.content.decode()
    assert html.index("Tin B") < html.index("Tin A")
    # The no-JavaScript buttons: move A up again.
    response = client.post(
        "/radio/stations/00070/queue/move/", {"bulletin": a.pk, "direction": "up"}
    )
    assert response.status_code == 302
    assert QueueOrder.objects.get(station=station, bulletin=a).position == 1
    # Garbage, and a viewer, change nothing.
    assert client.post("/radio/stations/00070/queue/", {"order": "x,1"}).status_code == 302
    # Digits that are not ASCII ("²" passes str.isdigit) and huge numbers: refused, not a 500.
    for garbage in ("²,1", "9" * 40):
        assert client.post("/radio/stations/00070/queue/", {"order": garbage}).status_code == 302
    viewer = client_for(people.viewer)
    refused = viewer.post(
        "/radio/stations/00070/queue/", {"order": [b.pk, a.pk]}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 403
    assert QueueOrder.objects.get(station=station, bulletin=a).position == 1


def test_station_settings_and_rules_forms(client_for: Any, tree: Any, people: Any) -> None:
    station = slots.station_for(tree.hoankiem)
    client = client_for(people.operator)
    response = client.post(
        "/radio/stations/00070/settings/",
        {
            "name": "Đài Hoàn Kiếm",
            "overflow_rule": "drop",
            "resume_rule": "skip",
            "filler": "silence",
            "volume": "65",
        },
    )
    assert response.status_code == 302
    station.refresh_from_db()
    assert (station.name, station.overflow_rule, station.volume) == ("Đài Hoàn Kiếm", "drop", 65)
    response = client.post(
        "/radio/stations/00070/settings/",
        {
            "name": "Đài Hoàn Kiếm",
            "overflow_rule": "drop",
            "resume_rule": "skip",
            "filler": "audio",
            "volume": "65",
        },
    )
    assert response.status_code == 400  # filler audio without an asset: the service refuses
    assert response.context["station_form"].errors
    response = client.post(
        "/radio/stations/00070/rules/",
        {
            "max_sessions_per_day": "2",
            "max_session_minutes": "45",
            "weekdays": ["0", "1", "2"],
            "quiet_start": "22:00",
            "quiet_end": "05:00",
            "enforcement": "warn",
            "offline_after_seconds": "300",
            "alert_after_minutes": "30",
            "poll_interval_seconds": "30",
            "province_emergency_confirmation": "on",
        },
    )
    assert response.status_code == 302
    rules = slots.broadcast_rules_for(tree.hoankiem)
    assert rules.unit == tree.hoankiem
    assert (rules.max_sessions_per_day, rules.weekdays) == (2, [0, 1, 2])
    viewer = client_for(people.viewer)
    assert (
        viewer.post(
            "/radio/stations/00070/settings/",
            {
                "name": "X",
                "overflow_rule": "carry",
                "resume_rule": "skip",
                "filler": "silence",
                "volume": "10",
            },
        ).status_code
        == 400
    )
    station.refresh_from_db()
    assert station.name == "Đài Hoàn Kiếm"


# --- Devices -------------------------------------------------------------------------------------


def test_device_create_shows_code_qr_and_command(client_for: Any, tree: Any, people: Any) -> None:
    client = client_for(people.technician)
    assert client.get("/radio/devices/new/").status_code == 200
    response = client.post(
        "/radio/devices/new/",
        {
            "code": "HK-LOA-07",
            "kind": "cluster",
            "commune": "00070",
            "zone": "00070.001",
            "connectivity": "4g",
            "speakers": "4",
            "latitude": "21.028511",
            "longitude": "105.852",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    device = Device.objects.get(code="HK-LOA-07")
    assert device.zone == tree.zone
    assert device.enrolment_code_hash
    code = response.context["code"]
    assert code in html
    assert "<svg" in html
    assert "device_create --commune 00070 --kind cluster --code HK-LOA-07" in html
    assert AuditRecord.objects.filter(action="radio.device.create").exists()


def test_device_create_errors_are_translated_and_keep_input(
    client_for: Any, tree: Any, people: Any
) -> None:
    _device(tree, "HK-LOA-01")
    client = _vi(client_for(people.technician))
    response = client.post(
        "/radio/devices/new/",
        {
            "code": "HK-LOA-01",
            "kind": "cluster",
            "commune": "00070",
            "connectivity": "4g",
            "speakers": "2",
            "name": "Cụm loa chợ",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    with translation.override("vi"):
        expected = translation.gettext("Another device already has the code “%(code)s”.") % {
            "code": "HK-LOA-01"
        }
    assert form.errors["code"] == [expected]
    assert 'value="Cụm loa chợ"' in response.content.decode()
    assert Device.objects.filter(code="HK-LOA-01").count() == 1


def test_device_create_refuses_a_commune_out_of_scope(
    client_for: Any, tree: Any, people: Any
) -> None:
    response = client_for(people.technician).post(
        "/radio/devices/new/",
        {
            "code": "CN-01",
            "kind": "cluster",
            "commune": "00073",
            "connectivity": "4g",
            "speakers": "0",
        },
    )
    assert response.status_code == 400
    assert "commune" in response.context["form"].errors
    assert not Device.objects.filter(code="CN-01").exists()
    # A viewer has no device rights anywhere: the page does not exist for them.
    assert client_for(people.viewer).get("/radio/devices/new/").status_code == 404


def test_device_list_filters_badges_and_map(client_for: Any, tree: Any, people: Any) -> None:
    now = timezone.now()
    _device(
        tree,
        "HK-ON",
        last_seen_at=now,
        latitude="21.03",
        longitude="105.85",
        firmware="fw-1.2",
        clock_offset_ms=12,
        reported_volume=70,
    )
    _device(
        tree,
        "HK-OFF",
        last_seen_at=now - dt.timedelta(hours=2),
        latitude="21.02",
        longitude="105.86",
    )
    _device(tree, "HK-NEW", kind="eboard")
    _device(tree, "CN-X", commune=tree.cuanam)
    client = _vi(client_for(people.viewer))
    html = client.get("/radio/devices/").content.decode()
    # Coordinates in the SVG stay plain numbers whatever the language ("12.5", never "12,5").
    assert len(re.findall(r'<circle cx="[0-9.]+" cy="[0-9.]+"', html)) == 2
    assert "HK-ON" in html
    assert "HK-OFF" in html
    assert "HK-NEW" in html
    assert "CN-X" not in html
    assert 'data-status="online"' in html
    assert 'data-status="offline"' in html
    assert "fw-1.2" in html
    assert "12 ms" in html
    assert "70%" in html
    # The map: two dots (the third device has no coordinates), with tooltips and links.
    assert html.count("<circle") == 2
    assert 'class="dot-online"' in html
    assert 'class="dot-offline"' in html
    assert 'href="/radio/devices/HK-ON/"' in html
    offline = client.get("/radio/devices/", {"status": "offline"}).content.decode()
    assert "HK-OFF" in offline
    assert "HK-ON/" not in offline
    eboards = client.get("/radio/devices/", {"kind": "eboard"}).content.decode()
    assert "HK-NEW" in eboards
    assert "HK-OFF" not in eboards


def test_device_map_projection_keeps_north_up_and_fits_the_box() -> None:
    from thongtincoso.radio.views import MAP_HEIGHT, MAP_WIDTH, device_map

    north = Device(code="N", latitude=21.1, longitude=105.8)
    south = Device(code="S", latitude=21.0, longitude=105.9)
    result = device_map(
        [{"device": north, "status": "online"}, {"device": south, "status": "offline"}]
    )
    n, s = ({**d, "x": float(d["x"]), "y": float(d["y"])} for d in result["dots"])
    assert n["y"] < s["y"]  # north is up
    assert n["x"] < s["x"]  # west is left
    for dot in (n, s):
        assert 0 <= dot["x"] <= MAP_WIDTH
        assert 0 <= dot["y"] <= MAP_HEIGHT
    # cos(latitude) correction: 0.1° of longitude is drawn shorter than 0.1° of latitude.
    assert abs(s["x"] - n["x"]) < abs(s["y"] - n["y"])


def test_device_page_404_for_another_commune(client_for: Any, tree: Any, people: Any) -> None:
    _device(tree, "CN-LOA-01", commune=tree.cuanam)
    assert client_for(people.technician).get("/radio/devices/CN-LOA-01/").status_code == 404
    assert client_for(people.other).get("/radio/devices/CN-LOA-01/").status_code == 200
    assert client_for(people.technician).post("/radio/devices/CN-LOA-01/revoke/").status_code == 404


def test_device_commands_reenrol_and_revoke(client_for: Any, tree: Any, people: Any) -> None:
    device = _device(tree)
    client = client_for(people.technician)
    assert client.get("/radio/devices/HK-LOA-01/").status_code == 200
    response = client.post("/radio/devices/HK-LOA-01/command/", {"kind": "volume"})
    assert response.status_code == 400
    assert "volume" in response.context["command_form"].errors
    response = client.post("/radio/devices/HK-LOA-01/command/", {"kind": "volume", "volume": 55})
    assert response.status_code == 302
    command = DeviceCommand.objects.get(device=device)
    assert command.kind == CommandKind.VOLUME
    assert command.params == {"level": 55}
    page = client.get("/radio/devices/HK-LOA-01/").content.decode()
    assert "55%" in page
    response = client.post("/radio/devices/HK-LOA-01/enrol/")
    assert response.status_code == 200
    assert response.context["code"] in response.content.decode()
    response = client.post("/radio/devices/HK-LOA-01/revoke/", {"reason": "stolen"})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.revoked_at is not None
    # A viewer sees the device but may not command it: refused on the form, nothing queued.
    viewer = client_for(people.viewer)
    response = viewer.post("/radio/devices/HK-LOA-01/command/", {"kind": "sync"})
    assert response.status_code == 400
    assert DeviceCommand.objects.filter(device=device).count() == 1


# --- Emergencies ---------------------------------------------------------------------------------


def test_emergency_fire_shows_its_page_then_stop(client_for: Any, tree: Any, people: Any) -> None:
    client = client_for(people.operator)
    form = client.get("/radio/emergencies/new/")
    assert form.status_code == 200
    assert "00073" not in form.content.decode()  # another commune is not a choice
    response = client.post(
        "/radio/emergencies/new/",
        {
            "title": "Cháy chợ",
            "targets": ["00070"],
            "source": "speech",
            "text": "Đề nghị bà con tránh xa khu vực chợ.",
            "repeat_count": 2,
            "interval_seconds": 30,
        },
        follow=True,
    )
    assert response.status_code == 200
    emergency = Emergency.objects.get(title="Cháy chợ")
    assert response.redirect_chain[-1][0] == f"/radio/emergencies/{emergency.pk}/"
    assert emergency.state == EmergencyState.ACTIVE
    html = response.content.decode()
    assert 'data-testid="stop"' in html
    listed = client.get("/radio/emergencies/").content.decode()
    assert "Cháy chợ" in listed
    assert client_for(people.other).get(f"/radio/emergencies/{emergency.pk}/").status_code == 404
    client.post(f"/radio/emergencies/{emergency.pk}/stop/", {"reason": "Đã dập lửa"})
    emergency.refresh_from_db()
    assert emergency.state == EmergencyState.STOPPED


def test_emergency_form_errors_keep_input(client_for: Any, tree: Any, people: Any) -> None:
    client = _vi(client_for(people.operator))
    response = client.post(
        "/radio/emergencies/new/",
        {
            "title": "Bão số 3",
            "targets": ["00070"],
            "source": "speech",
            "text": "",
            "repeat_count": 3,
            "interval_seconds": 60,
        },
    )
    assert response.status_code == 400
    with translation.override("vi"):
        expected = translation.gettext("Write the text to read.")
    assert response.context["form"].errors["text"] == [expected]
    assert 'value="Bão số 3"' in response.content.decode()
    assert not Emergency.objects.exists()


def test_province_emergency_needs_a_second_person(client_for: Any, tree: Any, people: Any) -> None:
    first = client_for(people.province)
    response = first.post(
        "/radio/emergencies/new/",
        {
            "title": "Bão cấp 12",
            "targets": ["01"],
            "source": "speech",
            "text": "Bão mạnh đổ bộ.",
            "repeat_count": 1,
            "interval_seconds": 0,
        },
        follow=True,
    )
    emergency = Emergency.objects.get(title="Bão cấp 12")
    assert emergency.state == EmergencyState.AWAITING_CONFIRMATION
    html = response.content.decode()
    assert 'data-testid="confirm"' not in html  # not the requester
    assert 'data-testid="cancel"' in html
    second = client_for(people.province2)
    assert (
        'data-testid="confirm"'
        in second.get(f"/radio/emergencies/{emergency.pk}/").content.decode()
    )
    second.post(f"/radio/emergencies/{emergency.pk}/confirm/")
    emergency.refresh_from_db()
    assert emergency.state == EmergencyState.ACTIVE
    assert emergency.confirmed_by == people.province2


def test_emergency_from_an_emergency_bulletin(client_for: Any, tree: Any, people: Any) -> None:
    bulletin = published(
        people.editor, people.approver, tree.hoankiem, title="Khẩn: vỡ đê", priority="emergency"
    )
    with_audio(bulletin, 45.0)
    client = client_for(people.operator)
    form = client.get("/radio/emergencies/new/")
    assert (bulletin.pk, "Khẩn: vỡ đê") in form.context["form"].fields["bulletin"].choices
    response = client.post(
        "/radio/emergencies/new/",
        {
            "title": "Vỡ đê",
            "targets": ["00070.001"],
            "source": "bulletin",
            "bulletin": bulletin.pk,
            "repeat_count": 2,
            "interval_seconds": 30,
        },
    )
    assert response.status_code == 302
    emergency = Emergency.objects.get(title="Vỡ đê")
    assert emergency.bulletin == bulletin
    assert emergency.unit == tree.hoankiem  # a zone's emergency belongs to its commune
    assert list(emergency.targets.all()) == [tree.zone]
    assert emergency.audio_duration == 45.0


def test_unit_rules_page(client_for: Any, tree: Any, people: Any, make_user: Any) -> None:
    province = client_for(people.province)
    assert 'href="/radio/rules/01/"' in province.get("/radio/").content.decode()
    rules_form = {
        "max_sessions_per_day": "4",
        "max_session_minutes": "60",
        "weekdays": ["0", "1", "2", "3", "4", "5", "6"],
        "enforcement": "refuse",
        "offline_after_seconds": "300",
        "alert_after_minutes": "30",
        "poll_interval_seconds": "60",
    }
    # An operator may not lift the second-person confirmation of province-wide emergencies.
    response = province.post("/radio/rules/01/", rules_form)
    assert response.status_code == 400
    assert not BroadcastRules.objects.filter(unit=tree.hanoi).exists()
    confirmed = {**rules_form, "province_emergency_confirmation": "on"}
    assert province.post("/radio/rules/01/", confirmed).status_code == 302
    rules = slots.broadcast_rules_for(tree.hoankiem)
    assert rules.unit == tree.hanoi
    assert rules.max_sessions_per_day == 4
    assert rules.province_emergency_confirmation is True
    # The province's administrator may.
    admin = client_for(make_user("hn_admin", tree.hanoi, role=Role.UNIT_ADMIN))
    assert admin.post("/radio/rules/01/", rules_form).status_code == 302
    assert slots.broadcast_rules_for(tree.hoankiem).province_emergency_confirmation is False
    station_page = client_for(people.operator).get("/radio/stations/00070/").content.decode()
    assert 'data-testid="rules-inherited"' in station_page
    # A commune viewer reads the province's rules but has no form; another province is hidden.
    viewer = client_for(people.viewer)
    assert viewer.get("/radio/rules/01/").status_code == 404
    assert 'data-testid="rules-form"' not in viewer.get("/radio/rules/00070/").content.decode()
    assert province.get("/radio/rules/79/").status_code == 404
    response = _vi(province).post("/radio/rules/01/", {"max_sessions_per_day": "0"})
    assert response.status_code == 400
    assert response.context["rules_form"].errors["max_sessions_per_day"]


# --- Reports -------------------------------------------------------------------------------------


def test_report_page_and_csv(client_for: Any, tree: Any, people: Any) -> None:
    slots.station_for(tree.hoankiem)
    slots.station_for(tree.cuanam)
    _device(tree, speakers=6)
    client = client_for(people.operator)
    page = client.get("/radio/reports/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Phường Hoàn Kiếm" in html
    assert "Phường Cửa Nam" not in html
    assert 'data-testid="report-chart"' in html
    today = timezone.localdate()
    response = client.get(
        "/radio/reports/",
        {
            "date_from": (today - dt.timedelta(days=7)).isoformat(),
            "date_to": today.isoformat(),
            "format": "csv",
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    raw = response.content
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 2
    assert rows[1][0] == "00070"
    assert rows[1][1] == "Phường Hoàn Kiếm"
    assert rows[1][3] == "6"  # speakers


def test_report_rejects_a_reversed_period(client_for: Any, tree: Any, people: Any) -> None:
    response = _vi(client_for(people.operator)).get(
        "/radio/reports/", {"date_from": "2026-05-10", "date_to": "2026-05-01"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["date_to"]


# --- Kiosk ---------------------------------------------------------------------------------------


def test_kiosk_needs_no_login_and_never_asks_for_the_credential(client: Client, db: None) -> None:
    response = client.get("/radio/kiosk/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "radio/kiosk.js" in html
    assert 'data-manifest-url="/api/device/v1/manifest"' in html
    assert response["Referrer-Policy"] == "no-referrer"


def test_nav_link_snippet(rf: Any, tree: Any, people: Any) -> None:
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = people.viewer
    html = render_to_string("radio/_nav_link.html", {"user": people.viewer}, request=request)
    assert 'href="/radio/"' in html


def test_filler_music_is_uploaded_at_the_station_loudness(
    client_for: Any,
    tree: Any,
    people: Any,
    media: Any,  # noqa: F811  (the fixture)
) -> None:
    from thongtincoso.speech.tests.audio_samples import at_loudness, tone, wav_bytes

    station = slots.station_for(tree.hoankiem)
    client = client_for(people.operator)
    form = {"name": "Đài Hoàn Kiếm", "overflow_rule": "carry", "resume_rule": "restart"}
    form |= {"filler": "silence", "volume": "70"}
    # A "music" file that is a script: refused on its field, nothing changed.
    script = io.BytesIO(b"<script>alert(1)</script>" * 40)
    script.name = "nhac.mp3"
    response = client.post("/radio/stations/00070/settings/", {**form, "filler_file": script})
    assert response.status_code == 400
    assert response.context["station_form"].errors["filler_file"]
    station.refresh_from_db()
    assert (station.filler, station.filler_asset_id, station.volume) == ("silence", None, 80)
    # Real audio, much too loud: stored at the unit's loudness (−16 LUFS), used as the filler.
    music = io.BytesIO(wav_bytes(at_loudness(tone(12.0, 330.0), -6.0)))
    music.name = "nhac-hieu.wav"
    response = client.post("/radio/stations/00070/settings/", {**form, "filler_file": music})
    assert response.status_code == 302
    station.refresh_from_db()
    assert station.filler == "audio"
    assert station.filler_asset is not None
    assert abs(station.filler_asset.integrated_lufs - (-16.0)) < 1.0
    assert 11.0 < station.filler_asset.duration < 13.0
    page = client.get("/radio/stations/00070/")
    assert "nhac-hieu.wav" in page.content.decode()

"""The radio pages in a real browser: an operator builds the week, reorders the queue by dragging
and enrols a device; an e-board kiosk shows its items and keeps them when the network drops."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from conftest import BROWSER_TEST, login
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import role_assign
from thongtincoso.bulletins.models import Channel
from thongtincoso.bulletins.tests.factories import published
from thongtincoso.radio import credentials, devices, emergencies, slots
from thongtincoso.radio.models import Device, QueueOrder, Slot
from thongtincoso.radio.tests.factories import with_audio

pytestmark = BROWSER_TEST


@pytest.fixture
def people(tree: Any, make_user: Any) -> Any:
    class People:
        operator = make_user("hk_op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
        editor = make_user("hk_editor", tree.hoankiem, role=Role.EDITOR)
        approver = make_user("hk_approver", tree.hoankiem, role=Role.APPROVER)

    # The operator looks after the commune's devices too.
    role_assign(actor=None, user=People.operator, role=Role.TECHNICIAN, unit=tree.hoankiem)
    return People


def _page_as(browser: Browser, base_url: str, user: Any) -> Page:
    context = browser.new_context(base_url=base_url, locale="vi-VN")
    context.set_default_timeout(20_000)
    session = login(Client(), user).cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": base_url},
        ]
    )
    return context.new_page()


def test_operator_builds_the_week_reorders_and_enrols(
    chromium: Browser, live_server: Any, transactional_db: None, tree: Any, people: Any
) -> None:
    operator = people.operator
    for title in ("Tin thứ nhất", "Tin thứ hai"):
        bulletin = published(
            people.editor,
            people.approver,
            tree.hoankiem,
            title=title,
            channels=[Channel.RADIO, Channel.PORTAL],
        )
        with_audio(bulletin, 90.0)
    page = _page_as(chromium, live_server.url, operator)

    # A slot every day of the week at 07:00 for 30 minutes.
    page.goto("/radio/stations/00070/")
    form = page.get_by_test_id("slot-form")
    form.locator("#id_name").fill("Buổi sáng")
    for day in range(7):
        form.locator(f"input[name=weekdays][value='{day}']").check()
    form.locator("#id_start_time").fill("07:00")
    form.locator("#id_duration_minutes").fill("30")
    form.locator("#id_starts_on").fill("2026-01-01")
    form.get_by_role("button", name="Add slot").click()
    expect(page.locator(".messages")).to_contain_text("Slot added")
    expect(page.get_by_test_id("session")).to_have_count(7)
    slot = Slot.objects.get(name="Buổi sáng")
    assert slot.rrule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU"

    # Drag the second waiting item above the first.
    titles = page.get_by_test_id("queue-title")
    expect(titles).to_have_count(2)
    first, second = titles.nth(0).inner_text(), titles.nth(1).inner_text()
    items = page.get_by_test_id("queue").locator("li")
    with page.expect_response(
        lambda r: r.url.endswith("/radio/stations/00070/queue/") and r.request.method == "POST"
    ) as answer:
        items.nth(1).drag_to(items.nth(0), target_position={"x": 20, "y": 3})
    assert answer.value.status == 200
    expect(page.get_by_test_id("queue-title").nth(0)).to_have_text(second)
    expect(page.get_by_test_id("queue-title").nth(1)).to_have_text(first)
    order = list(QueueOrder.objects.order_by("position").values_list("bulletin__title", flat=True))
    assert order == [second, first]
    # The server's answer, not only the dragged DOM: a reload keeps the order.
    page.reload()
    expect(page.get_by_test_id("queue-title").nth(0)).to_have_text(second)

    # A new loudspeaker cluster and its enrolment code.
    page.goto("/radio/devices/new/")
    page.locator("#id_code").fill("HK-LOA-09")
    page.locator("#id_kind").select_option("cluster")
    page.locator("#id_commune").select_option("00070")
    page.get_by_role("button", name="Add and get the enrolment code").click()
    code = page.get_by_test_id("enrolment-code")
    expect(code).to_have_text(re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    expect(page.get_by_test_id("enrolment-qr").locator("svg")).to_be_visible()
    assert Device.objects.get(code="HK-LOA-09").enrolment_code_hash
    page.context.close()


def test_kiosk_shows_eboard_items_and_keeps_them_offline(
    chromium: Browser, live_server: Any, transactional_db: None, tree: Any, people: Any
) -> None:
    published(
        people.editor,
        people.approver,
        tree.hoankiem,
        title="Lịch cắt điện ngày mai",
        summary="Khu vực phố Hàng Bạc mất điện từ 8 giờ đến 11 giờ.",
        channels=[Channel.EBOARD, Channel.PORTAL],
    )
    _device, code = devices.device_create(
        actor=people.operator, commune=tree.hoankiem, kind="eboard", code="HK-BANG-01"
    )
    _device, credential = credentials.enrol(code)
    slots.station_for(tree.hoankiem)

    context = chromium.new_context(base_url=live_server.url, locale="vi-VN")
    context.set_default_timeout(20_000)
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"/radio/kiosk/?rotate=5#{credential}")
    expect(page.get_by_test_id("kiosk-item")).to_contain_text("Lịch cắt điện ngày mai")
    expect(page.get_by_test_id("kiosk-item")).to_contain_text("Hàng Bạc")
    expect(page.get_by_test_id("kiosk-status")).to_have_text("")
    # The credential never travels in a URL, only in the Authorization header.
    assert not any(credential in url for url in seen)

    # An emergency reaches the commune: the red banner shows over the content.
    emergencies.emergency_start(
        actor=people.operator,
        unit=tree.hoankiem,
        targets=[tree.hoankiem],
        source="speech",
        title="Cảnh báo lũ quét",
        text="Đề nghị bà con di chuyển lên vùng cao.",
        repeat_count=3,
        interval_seconds=600,
    )
    page.evaluate("window.dispatchEvent(new Event('ttcs-kiosk-poll'))")
    expect(page.get_by_test_id("kiosk-emergency")).to_be_visible()
    expect(page.get_by_test_id("kiosk-emergency")).to_contain_text("Cảnh báo lũ quét")
    expect(page.get_by_test_id("kiosk-item")).to_contain_text("Lịch cắt điện ngày mai")

    # The network drops: a reload is served from nowhere, so reopen from the page itself by
    # polling again; the last content stays with an "offline since" note.
    context.set_offline(True)
    page.evaluate("window.dispatchEvent(new Event('ttcs-kiosk-poll'))")
    expect(page.get_by_test_id("kiosk-status")).to_contain_text(re.compile(r"\d\d:\d\d"))
    expect(page.get_by_test_id("kiosk-item")).to_contain_text("Lịch cắt điện ngày mai")
    context.close()

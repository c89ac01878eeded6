"""The audio panel in a real browser: a rendering's progress bar and its player, cancelling, and a
recording made with MediaRecorder (Chromium's fake microphone) that becomes the bulletin's audio."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from conftest import BROWSER_TEST, CHROMIUM, CHROMIUM_ARGS, login
from thongtincoso.bulletins import services as bulletin_services
from thongtincoso.bulletins.tests.factories import draft
from thongtincoso.jobs.models import JobState, JobStatus
from thongtincoso.speech.models import AudioSource, BulletinAudio
from thongtincoso.speech.tasks import render_bulletin_audio

pytestmark = BROWSER_TEST

TEXT = " ".join(
    f"Thông báo số {i}: UBND xã đề nghị bà con thu hoạch lúa trước ngày 20/10/2026."
    for i in range(8)
)


@pytest.fixture(scope="module")
def browser_with_microphone() -> Iterator[Browser]:
    """Chromium whose microphone is a fake device playing a beep, granted without a prompt."""
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    *CHROMIUM_ARGS,
                    "--use-fake-device-for-media-stream",
                    "--use-fake-ui-for-media-stream",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            )
            yield browser
            browser.close()


def _page_as(browser: Browser, base_url: str, user: Any) -> Page:
    context = browser.new_context(base_url=base_url, locale="vi-VN")
    context.set_default_timeout(20_000)
    context.grant_permissions(["microphone"], origin=base_url)
    session = login(Client(), user).cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": base_url},
        ]
    )
    return context.new_page()


def _bulletin(staff: Any, tree: Any) -> Any:
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    return bulletin_services.bulletin_update(
        actor=staff.hk_editor, bulletin=bulletin, version=bulletin.version, reading_text=TEXT
    )


def test_progress_bar_then_player(
    browser_with_microphone: Browser,
    live_server: Any,
    transactional_db: None,
    tree: Any,
    staff: Any,
    media: Path,
) -> None:
    bulletin = _bulletin(staff, tree)
    # A rendering the worker has picked up: the page must show its progress and then its result.
    job = JobStatus.objects.create(
        name="thongtincoso.speech.tasks.render_bulletin_audio",
        created_by=staff.hk_editor,
        unit=tree.hoankiem,
        state=JobState.RUNNING,
        done=40,
        total=100,
        message="Synthesising speech: sentence 3 of 8",
    )
    row = BulletinAudio.objects.create(bulletin=bulletin, job=job)
    page = _page_as(browser_with_microphone, live_server.url, staff.hk_editor)
    page.goto(f"/bulletins/{bulletin.pk}/edit/")
    panel = page.get_by_test_id("audio-panel")
    expect(panel.get_by_test_id("audio-percent")).to_have_text("40%")
    expect(panel.get_by_test_id("audio-stage")).to_contain_text("sentence 3 of 8")
    expect(panel.locator("progress")).to_have_attribute("value", "40")

    # The worker finishes (the real task body, run here as the worker would).
    def work() -> None:
        try:
            render_bulletin_audio.call_local(str(job.pk), row.pk)
        finally:
            connection.close()  # this thread's own connection, or PostgreSQL keeps the test DB

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=120)
    expect(panel.get_by_test_id("audio-player")).to_be_visible()
    expect(panel.get_by_test_id("audio-facts")).to_contain_text("LUFS")
    duration = panel.get_by_test_id("audio-duration").inner_text()
    assert duration.count(":") == 1
    assert duration != "0:00"
    page.context.close()


def test_cancel_a_queued_rendering_from_the_page(
    browser_with_microphone: Browser,
    live_server: Any,
    transactional_db: None,
    tree: Any,
    staff: Any,
    media: Path,
) -> None:
    bulletin = _bulletin(staff, tree)
    job = JobStatus.objects.create(
        name="thongtincoso.speech.tasks.render_bulletin_audio",
        created_by=staff.hk_editor,
        unit=tree.hoankiem,
        state=JobState.QUEUED,
    )
    BulletinAudio.objects.create(bulletin=bulletin, job=job)
    page = _page_as(browser_with_microphone, live_server.url, staff.hk_editor)
    page.goto(f"/bulletins/{bulletin.pk}/")
    page.get_by_test_id("audio-cancel").click()
    expect(page.get_by_test_id("audio-cancelled")).to_be_visible()
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    # The text is still there and can be rendered now.
    expect(page.get_by_test_id("render-button")).to_be_visible()
    page.context.close()


def test_record_in_the_browser_and_use_the_recording(
    browser_with_microphone: Browser,
    live_server: Any,
    transactional_db: None,
    tree: Any,
    staff: Any,
    media: Path,
) -> None:
    bulletin = _bulletin(staff, tree)
    page = _page_as(browser_with_microphone, live_server.url, staff.hk_editor)
    page.goto(f"/bulletins/{bulletin.pk}/edit/")
    page.get_by_test_id("record-start").click()
    page.wait_for_timeout(2500)
    page.get_by_test_id("record-stop").click()
    expect(page.get_by_test_id("record-use")).to_be_enabled()
    page.get_by_test_id("record-use").click()
    expect(page.get_by_test_id("audio-player")).to_be_visible()
    expect(page.get_by_test_id("audio-facts")).to_contain_text("Recorded in the browser")
    row = BulletinAudio.objects.get(bulletin=bulletin)
    assert row.source == AudioSource.RECORDING
    assert row.asset is not None
    assert 1.5 < row.asset.duration < 6
    assert abs(row.asset.integrated_lufs + 16) <= 0.5
    page.context.close()

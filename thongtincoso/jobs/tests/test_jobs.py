"""Background jobs on Huey (immediate mode in tests): after-commit start, progress, retries."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from thongtincoso.accounts.roles import Role
from thongtincoso.jobs.models import JobState, JobStatus
from thongtincoso.jobs.services import PERIODIC_REGISTRY, enqueue_on_commit, job_start

from . import tasks_for_tests as t


@pytest.fixture(autouse=True)
def _reset_ran():
    t.RAN.clear()
    t.FLAKY_FAILURES["left"] = 0
    yield
    t.RAN.clear()


def test_job_runs_only_after_commit_and_reports_progress(
    tree, make_user, django_capture_on_commit_callbacks
):
    editor = make_user("editor70", tree.hoankiem, role=Role.EDITOR)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            job = job_start(
                t.count_to,
                3,
                label="Nhập",
                title="Nhập danh sách",
                unit=tree.hoankiem,
                created_by=editor,
            )
            assert t.RAN == []
            assert JobStatus.objects.get(pk=job.pk).state == JobState.QUEUED
        # The block is done but the test's outer transaction has not committed yet.
        assert t.RAN == []
        queued = JobStatus.objects.get(pk=job.pk)
        assert queued.state == JobState.QUEUED
        assert queued.attempts == 0
        assert queued.finished_at is None

    assert len(callbacks) == 1
    assert t.RAN == [("count_to", (3, "Nhập"))]
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert job.name == "thongtincoso.jobs.tests.tasks_for_tests.count_to"
    assert job.title == "Nhập danh sách"
    assert (job.done, job.total) == (3, 3)
    assert job.percent == 100
    assert job.message == "Nhập 3/3"
    assert job.result == {"counted": 3}
    assert job.attempts == 1
    assert job.finished_at is not None
    assert job.is_finished


def test_failing_job_ends_failed_with_its_error_after_retries(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(t.always_fails, "thiết bị không phản hồi")

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "ValueError" in job.message
    assert "thiết bị không phản hồi" in job.message
    # One attempt and two retries.
    assert job.attempts == 3
    assert [name for name, _ in t.RAN] == ["always_fails"] * 3
    assert job.finished_at is not None
    assert job.result is None


def test_job_that_recovers_on_retry_succeeds(db, django_capture_on_commit_callbacks):
    t.FLAKY_FAILURES["left"] = 2
    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(t.fails_then_succeeds)

    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert job.attempts == 3
    assert job.result == "ok"
    assert len(t.RAN) == 3


def test_enqueue_on_commit_does_not_run_after_rollback(db, django_capture_on_commit_callbacks):
    def start_then_fail() -> None:
        with transaction.atomic():
            enqueue_on_commit(t.count_to, None, 2)
            job_start(t.count_to, 5)
            raise RuntimeError("rolled back")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        start_then_fail()

    assert callbacks == []
    assert t.RAN == []
    assert not JobStatus.objects.exists()


def test_enqueue_on_commit_runs_on_commit(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            enqueue_on_commit(t.plain_record, "a")
            enqueue_on_commit(t.count_to, None, 2)
        assert t.RAN == []
    assert len(callbacks) == 2
    assert t.RAN == [("plain_record", ("a",)), ("count_to", (2, ""))]


def test_periodic_registry_lists_housekeeping():
    from thongtincoso.jobs import tasks  # noqa: F401  (what the Huey consumer imports)

    assert "jobs.prune_finished" in PERIODIC_REGISTRY
    assert "audit.verify_chain" in PERIODIC_REGISTRY
    for name in ("jobs.prune_finished", "audit.verify_chain"):
        entry = PERIODIC_REGISTRY[name]
        assert entry.name == name
        assert entry.schedule
        assert entry.doc


def test_periodic_registry_is_filled_in_the_web_process():
    code = (
        "import django; django.setup();"
        "from django.conf import settings; from importlib import import_module;"
        "import_module(settings.ROOT_URLCONF);"
        "from thongtincoso.jobs.services import PERIODIC_REGISTRY;"
        "print(','.join(sorted(PERIODIC_REGISTRY)))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(  # noqa: S603  (our own interpreter and fixed code)
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
        timeout=60,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    names = lines[-1].split(",") if lines else []
    assert "jobs.prune_finished" in names
    assert "audit.verify_chain" in names


def _finished(days_ago: float, state: str = JobState.SUCCEEDED) -> JobStatus:
    job = JobStatus.objects.create(name="x", state=state)
    when = timezone.now() - dt.timedelta(days=days_ago)
    JobStatus.objects.filter(pk=job.pk).update(finished_at=when, created_at=when)
    return job


def test_prune_deletes_only_old_finished_jobs(db):
    from thongtincoso.jobs.tasks import prune_finished_jobs

    old_ok = _finished(31)
    old_failed = _finished(45, JobState.FAILED)
    recent = _finished(2)
    recent_failed = _finished(29, JobState.FAILED)
    stuck = JobStatus.objects.create(name="x", state=JobState.RUNNING)
    JobStatus.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - dt.timedelta(days=90))
    queued = JobStatus.objects.create(name="x")

    prune_finished_jobs()  # through Huey, as the scheduler runs it

    remaining = set(JobStatus.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, recent_failed.pk, stuck.pk, queued.pk}
    assert old_ok.pk not in remaining
    assert old_failed.pk not in remaining
    # Nothing left to prune: a second run deletes nothing.
    assert prune_finished_jobs.call_local() == 0
    assert JobStatus.objects.count() == 4


def test_verify_chain_task_reports_intact_and_broken_log(tree):
    from conftest import tamper_cursor
    from thongtincoso.audit.models import AuditRecord
    from thongtincoso.jobs.tasks import verify_audit_chain
    from thongtincoso.units.services import unit_update

    unit_update(actor=None, unit=tree.hoankiem, committee_name="UBND 1")
    unit_update(actor=None, unit=tree.hoankiem, committee_name="UBND 2")
    assert verify_audit_chain.call_local() is True

    with tamper_cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditRecord._meta.db_table} SET action = %s WHERE seq = 1",  # noqa: S608
            ["units.unit.view"],
        )
    assert verify_audit_chain.call_local() is False


# --- The progress partial -------------------------------------------------------------------


@pytest.fixture
def finished_job(tree, make_user, django_capture_on_commit_callbacks):
    editor = make_user("editor70", tree.hoankiem, role=Role.EDITOR)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(
            t.count_to, 4, label="Bước", title="Tạo âm thanh", unit=tree.hoankiem, created_by=editor
        )
    return job, editor


def test_progress_partial_is_visible_to_its_creator(finished_job, client_for):
    job, editor = finished_job
    # htmx polls with HX-Request and gets the partial alone; a plain GET gets the full page.
    response = client_for(editor).get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "Tạo âm thanh" in content
    assert "4/4" in content
    assert 'value="100"' in content
    # Finished: the partial stops polling.
    assert "hx-trigger" not in content
    assert "<html" not in content


def test_running_job_partial_keeps_polling(tree, make_user, client_for):
    editor = make_user("editor70", tree.hoankiem, role=Role.EDITOR)
    job = JobStatus.objects.create(
        name="x",
        title="Đang chạy",
        state=JobState.RUNNING,
        done=1,
        total=4,
        unit=tree.hoankiem,
        created_by=editor,
    )
    content = client_for(editor).get(f"/jobs/{job.pk}/").content.decode()
    assert "hx-trigger" in content
    assert 'value="25"' in content


def test_progress_partial_follows_the_unit_policy(finished_job, make_user, client_for, tree):
    job, _editor = finished_job
    province_viewer = make_user("viewer01", tree.hanoi, role=Role.VIEWER)
    other_province = make_user("editor79", tree.hcm, role=Role.EDITOR)
    other_commune = make_user("editor73", tree.cuanam, role=Role.EDITOR)

    assert client_for(province_viewer).get(f"/jobs/{job.pk}/").status_code == 200
    assert client_for(other_province).get(f"/jobs/{job.pk}/").status_code == 404
    assert client_for(other_commune).get(f"/jobs/{job.pk}/").status_code == 404


def test_job_without_unit_is_visible_to_its_creator_only(tree, make_user, client_for):
    creator = make_user("editor70", tree.hoankiem, role=Role.EDITOR)
    neighbour = make_user("editor70b", tree.hoankiem, role=Role.EDITOR)
    job = JobStatus.objects.create(name="x", title="Riêng", created_by=creator)
    assert client_for(creator).get(f"/jobs/{job.pk}/").status_code == 200
    assert client_for(neighbour).get(f"/jobs/{job.pk}/").status_code == 404


def test_unknown_job_is_404(tree, make_user, client_for):
    editor = make_user("editor70", tree.hoankiem, role=Role.EDITOR)
    assert client_for(editor).get(f"/jobs/{uuid.uuid4()}/").status_code == 404


def test_cancelling_a_running_job_stops_it_at_its_next_progress_update(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(t.cancels_itself_at, 2, 5)

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.is_finished
    assert job.finished_at is not None
    # Steps 1 and 2 ran; the update after step 2 saw the cancellation; no retry.
    assert [args for _, args in t.RAN] == [(1,), (2,)]
    assert job.done == 1
    assert job.attempts == 1


def test_a_queued_job_cancelled_before_commit_never_runs(
    tree, make_user, django_capture_on_commit_callbacks
):
    from thongtincoso.audit.models import AuditRecord
    from thongtincoso.jobs.services import job_cancel

    editor = make_user("editor71", tree.hoankiem, role=Role.EDITOR)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(t.count_to, 3, created_by=editor, unit=tree.hoankiem)
        assert job_cancel(job, actor=editor) is True

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert t.RAN == []
    assert AuditRecord.objects.filter(action="jobs.job.cancel", object_id=str(job.pk)).exists()
    # A finished job cannot be cancelled again.
    assert job_cancel(job, actor=editor) is False


def test_a_job_refusing_its_input_fails_at_once_with_its_message(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(t.refuses_input, "Văn bản trống: hãy viết nội dung cần đọc.")

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.message == "Văn bản trống: hãy viết nội dung cần đọc."
    assert job.attempts == 1
    assert len(t.RAN) == 1


def test_cancel_page_is_for_the_starter_or_the_unit_admin(
    tree, make_user, client_for, django_capture_on_commit_callbacks
):
    starter = make_user("editor72", tree.hoankiem, role=Role.EDITOR)
    colleague = make_user("editor73", tree.hoankiem, role=Role.EDITOR)
    admin = make_user("admin72", tree.hoankiem, role=Role.UNIT_ADMIN)
    job = JobStatus.objects.create(
        name="x", created_by=starter, unit=tree.hoankiem, state=JobState.RUNNING
    )
    url = f"/jobs/{job.pk}/cancel/"
    assert client_for(colleague).post(url).status_code == 403
    job.refresh_from_db()
    assert not job.cancel_requested
    response = client_for(admin).post(url)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.cancel_requested
    assert job.state == JobState.RUNNING
    assert client_for(starter).get(url).status_code == 405


def test_cancel_follows_only_a_panel_address_on_this_site(tree, make_user, client_for):
    starter = make_user("editor74", tree.hoankiem, role=Role.EDITOR)
    url = "/jobs/{}/cancel/"
    for panel, expected in (
        ("https://evil.example/x", "/jobs/"),
        ("/\\evil.example/x", "/jobs/"),
        ("/speech/bulletins/1/audio/", "/speech/bulletins/1/audio/"),
    ):
        job = JobStatus.objects.create(
            name="x", created_by=starter, unit=tree.hoankiem, state=JobState.RUNNING
        )
        response = client_for(starter).post(
            url.format(job.pk), {"panel": panel}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 302
        assert response["Location"].startswith(expected), (panel, response["Location"])

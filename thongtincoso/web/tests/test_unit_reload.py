"""Reloading the official unit list as a background job, and the job page that shows it.

Huey runs in immediate mode in tests: the job runs when the request's transaction commits, which
`django_capture_on_commit_callbacks(execute=True)` makes happen inside the test. The real loader
runs (34 provinces and 3,321 communes, about two seconds).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import translation
from django.utils.translation import pgettext

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.jobs.models import JobState, JobStatus
from thongtincoso.units.models import Unit, UnitKind

from .test_forms import VIETNAMESE, vi


def vi_context(context: str, msgid: str) -> str:
    with translation.override("vi"):
        text = pgettext(context, msgid)
    assert VIETNAMESE.search(text), f"no Vietnamese translation for {msgid!r}"
    return text


NATION_UNITS = 1 + 34 + 3321
RELOAD_URL = "/units/VN/reload/"


def _buttons(html: str) -> bool:
    return f'action="{RELOAD_URL}"' in html


# --- Who counts as a system administrator ---------------------------------------------------


def test_is_system_admin(tree, make_user, system_admin, django_user_model):
    assert policy.is_system_admin(system_admin)

    superuser = make_user("root", tree.hanoi)
    django_user_model.objects.filter(pk=superuser.pk).update(is_superuser=True)
    superuser.refresh_from_db()
    assert policy.is_system_admin(superuser)

    # Everything short of the system-admin role over the whole tree does not count.
    assert not policy.is_system_admin(make_user("admin_vn", tree.nation, role=Role.UNIT_ADMIN))
    assert not policy.is_system_admin(make_user("sys01", tree.hanoi, role=Role.SYSTEM_ADMIN))
    assert not policy.is_system_admin(
        make_user("sys_vn_only", tree.nation, role=Role.SYSTEM_ADMIN, covers_descendants=False)
    )
    assert not policy.is_system_admin(make_user("editor", tree.hoankiem, role=Role.EDITOR))
    assert not policy.is_system_admin(AnonymousUser())
    assert not policy.is_system_admin(None)

    inactive = make_user("sys_inactive", tree.nation, role=Role.SYSTEM_ADMIN)
    django_user_model.objects.filter(pk=inactive.pk).update(is_active=False)
    inactive.refresh_from_db()
    assert not policy.is_system_admin(inactive)


# --- The button and who may press it --------------------------------------------------------


def test_system_admin_sees_the_reload_button_on_the_nation_page_only(system_admin, client_for):
    client = client_for(system_admin)
    html = client.get("/units/VN/").content.decode()
    assert _buttons(html)
    assert vi("Reload official units") in html
    assert not _buttons(client.get("/units/01/").content.decode())
    assert "/reload/" not in client.get("/units/00070/").content.decode()


@pytest.mark.parametrize(
    ("username", "unit", "role", "covers"),
    [
        ("admin_vn", "nation", Role.UNIT_ADMIN, True),  # manage_users on VN, not system admin
        ("sys01", "hanoi", Role.SYSTEM_ADMIN, True),  # system admin of one province only
        ("sys_vn_only", "nation", Role.SYSTEM_ADMIN, False),  # not covering the tree
        ("editor_vn", "nation", Role.EDITOR, True),
        ("viewer_vn", "nation", Role.VIEWER, True),
        ("editor70", "hoankiem", Role.EDITOR, True),
    ],
)
def test_others_get_no_button_and_404(tree, make_user, client_for, username, unit, role, covers):
    user = make_user(username, tree.by_name(unit), role=role, covers_descendants=covers)
    client = client_for(user)
    page = client.get("/units/VN/")
    if page.status_code == 200:
        assert not _buttons(page.content.decode())
    audit_before = AuditRecord.objects.count()

    assert client.post(RELOAD_URL).status_code == 404

    assert not JobStatus.objects.exists()
    assert AuditRecord.objects.count() == audit_before


@pytest.mark.parametrize("code", ["01", "00070", "00070.001", "XX"])
def test_reload_only_from_the_nation(system_admin, client_for, code):
    client = client_for(system_admin)
    assert client.post(f"/units/{code}/reload/").status_code == 404
    assert not JobStatus.objects.exists()


def test_reload_needs_post(system_admin, client_for):
    assert client_for(system_admin).get(RELOAD_URL).status_code == 405
    assert not JobStatus.objects.exists()


# --- The job, end to end --------------------------------------------------------------------


def test_system_admin_reloads_the_units_and_follows_the_job_page(
    tree, system_admin, client_for, django_capture_on_commit_callbacks
):
    client = client_for(system_admin)
    audit_before = AuditRecord.objects.count()
    existing = set(Unit.objects.current().values_list("code", flat=True))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(RELOAD_URL)
        # Queued only: the job waits for the request's transaction to commit.
        job = JobStatus.objects.get()
        assert job.state == JobState.QUEUED
    assert len(callbacks) == 1

    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert job.done == job.total == NATION_UNITS
    assert job.percent == 100
    assert job.attempts == 1
    assert job.created_by == system_admin
    assert job.unit == tree.nation
    assert job.result["total"] == NATION_UNITS
    assert job.result["created"] + job.result["updated"] + job.result["unchanged"] == NATION_UNITS
    added = set(Unit.objects.current().values_list("code", flat=True)) - existing
    assert job.result["created"] == len(added) > 3000

    # The tree is the official one. The loader removes nothing: the zone made by hand stays, and
    # so does the fixture's "26734", a code the official list does not have.
    assert Unit.objects.current().filter(kind=UnitKind.PROVINCE).count() == 34
    assert Unit.objects.current().filter(kind=UnitKind.COMMUNE).exclude(code="26734").count() == (
        3321
    )
    assert Unit.objects.current().filter(code="00070.001").exists()

    # Who started it, then what the loader changed.
    actions = list(
        AuditRecord.objects.filter(seq__gt=audit_before)
        .order_by("seq")
        .values_list("action", "actor_username")
    )
    assert actions == [("units.tree.reload", "sysadmin"), ("units.tree.load", "")]

    # The job page: a full page with the finished progress and the counts.
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html
    assert vi("Reload the official unit list") in html
    assert vi("Succeeded") in html
    assert 'value="100"' in html
    assert f"{NATION_UNITS}/{NATION_UNITS} · 100%" in html
    assert "hx-trigger" not in html  # finished: no more polling
    for key in ("created", "updated", "unchanged", "total"):
        assert f"<dd>{job.result[key]}</dd>" in html
    for label in ("Created", "Updated", "Unchanged", "Total"):
        assert f"<dt>{vi_context('job result', label)}</dt>" in html

    # htmx polls the same address and gets the partial alone.
    partial = client.get(response["Location"], headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode()
    assert 'value="100"' in partial.content.decode()


def test_running_job_page_polls_for_progress(tree, system_admin, client_for):
    job = JobStatus.objects.create(
        name="thongtincoso.units.tasks.units_reload",
        title="Tải lại danh mục",
        state=JobState.RUNNING,
        done=1201,
        total=NATION_UNITS,
        unit=tree.nation,
        created_by=system_admin,
    )
    html = client_for(system_admin).get(f"/jobs/{job.pk}/").content.decode()
    assert "<html" in html
    assert f'hx-get="/jobs/{job.pk}/"' in html
    assert 'hx-trigger="every 2s"' in html
    assert 'value="36"' in html
    assert vi("Running") in html


def test_reload_job_page_is_hidden_from_province_staff(
    tree, system_admin, make_user, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(system_admin).post(RELOAD_URL)
    url = response["Location"]
    province_admin = client_for(make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN))
    nation_viewer = client_for(make_user("viewer_vn", tree.nation, role=Role.VIEWER))
    assert province_admin.get(url).status_code == 404
    assert nation_viewer.get(url).status_code == 200


def test_job_result_rows_keep_their_order_whatever_the_database_returns():
    from thongtincoso.web.job_labels import job_result_items

    with translation.override("en"):
        rows = job_result_items({"total": 4, "zeta": 9, "unchanged": 1, "created": 3, "alpha": 0})
    assert rows == [("Created", 3), ("Unchanged", 1), ("Total", 4), ("alpha", 0), ("zeta", 9)]
    assert job_result_items("ok") == []
    assert job_result_items(None) == []

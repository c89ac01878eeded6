"""Back-office labels: every field of our models is named in words people read, in Vietnamese.

(The audit app's models are kept by their own tests.)
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Model
from django.utils import translation
from django.utils.functional import Promise

from thongtincoso.accounts.models import ApiToken, RoleAssignment, User
from thongtincoso.jobs.models import JobState, JobStatus
from thongtincoso.units.models import Unit

from .test_forms import VIETNAMESE

MODELS: list[type[Model]] = [Unit, User, RoleAssignment, ApiToken, JobStatus]


def _own_fields(model: type[Model]) -> list:
    # Fields Django adds by itself (the automatic id) and those User inherits from Django's
    # AbstractUser (translated by Django) are not ours to label.
    inherited = {"password", "last_login", "is_superuser", "username", "first_name", "last_name"}
    inherited |= {"email", "is_staff", "is_active", "date_joined", "groups", "user_permissions"}
    return [
        f
        for f in model._meta.get_fields(include_parents=False)
        if f.concrete and not f.auto_created and not (model is User and f.name in inherited)
    ]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_translated_label(model):
    fields = _own_fields(model)
    assert fields
    for field in fields:
        assert isinstance(field.verbose_name, Promise), (
            f"{model.__name__}.{field.name} needs verbose_name=_(…)"
        )
        with translation.override("vi"):
            label = str(field.verbose_name)
        assert VIETNAMESE.search(label), f"{model.__name__}.{field.name}: {label!r} is English"


def test_labels_have_their_migrations(db):
    out = StringIO()
    call_command(
        "makemigrations", "units", "accounts", "jobs", check=True, dry_run=True, stdout=out
    )
    assert "No changes detected" in out.getvalue()


def test_back_office_job_list_reads_in_vietnamese(tree, system_admin, client_for):
    JobStatus.objects.create(name="x", title="Nhập", state=JobState.SUCCEEDED, done=2, total=2)
    system_admin.is_staff = True
    system_admin.save(update_fields=["is_staff"])

    response = client_for(system_admin).get("/admin/jobs/jobstatus/")

    assert response.status_code == 200
    html = response.content.decode()
    with translation.override("vi"):
        for field in ("done", "total", "created_at", "finished_at"):
            label = str(JobStatus._meta.get_field(field).verbose_name)
            assert label.capitalize() in html or label in html, label

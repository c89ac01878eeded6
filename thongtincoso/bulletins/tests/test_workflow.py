"""The editorial workflow through the services: states, rules, audit, notifications."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin, Review, ReviewState, Status
from thongtincoso.core.errors import ConflictError, PermissionDeniedError, ServiceError
from thongtincoso.notifications.models import Notification

from .factories import draft


def test_commune_bulletin_from_draft_to_published(tree, staff):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    assert bulletin.status == Status.DRAFT
    assert bulletin.reading_text == "Trạm y tế tiêm chủng ngày 20/4/2026."
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    # The commune's approver and the province's approver (covering communes) are notified.
    notified = set(Notification.objects.values_list("recipient__username", flat=True))
    assert notified == {"hk_approver", "hn_approver"}
    services.bulletin_approve(actor=staff.hk_approver, bulletin=bulletin)
    bulletin.refresh_from_db()
    assert bulletin.status == Status.PUBLISHED
    assert bulletin.approved_by == staff.hk_approver
    actions = list(
        AuditRecord.objects.filter(object_id=str(bulletin.pk), object_type="bulletins.bulletin")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "bulletins.bulletin.create",
        "bulletins.bulletin.submit",
        "bulletins.bulletin.approve",
        "bulletins.bulletin.publish",
    ]
    assert Notification.objects.filter(recipient=staff.hk_editor).count() == 1


def test_four_eyes_refuses_the_author_and_can_be_switched_off(tree, staff, make_user):
    from thongtincoso.accounts.roles import Role

    both = make_user("both", tree.hoankiem, role=Role.EDITOR)
    from thongtincoso.accounts.services import role_assign

    role_assign(actor=None, user=both, role=Role.APPROVER, unit=tree.hoankiem)
    bulletin = draft(both, tree.hoankiem)
    services.bulletin_submit(actor=both, bulletin=bulletin)
    with pytest.raises(PermissionDeniedError, match="four-eyes"):
        services.bulletin_approve(actor=both, bulletin=bulletin)
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.SUBMITTED
    admin = make_user("hk_admin", tree.hoankiem, role=Role.UNIT_ADMIN)
    services.editorial_settings_update(
        actor=admin, unit=tree.hoankiem, four_eyes=False, own_unit_approval=False
    )
    services.bulletin_approve(actor=both, bulletin=bulletin)
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.PUBLISHED


def test_own_unit_approval_rule_excludes_the_province(tree, staff, make_user):
    from thongtincoso.accounts.roles import Role

    admin = make_user("hk_admin", tree.hoankiem, role=Role.UNIT_ADMIN)
    services.editorial_settings_update(
        actor=admin, unit=tree.hoankiem, four_eyes=True, own_unit_approval=True
    )
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    # Only the commune's own approver is notified and may approve.
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {
        "hk_approver"
    }
    with pytest.raises(PermissionDeniedError, match="appointed in the unit itself"):
        services.bulletin_approve(actor=staff.hn_approver, bulletin=bulletin)
    services.bulletin_approve(actor=staff.hk_approver, bulletin=bulletin)


def test_return_needs_a_comment_and_resubmission_opens_a_new_review(tree, staff):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    with pytest.raises(ServiceError):
        services.bulletin_return(actor=staff.hk_approver, bulletin=bulletin, comment="  ")
    services.bulletin_return(actor=staff.hk_approver, bulletin=bulletin, comment="Sửa ngày")
    bulletin.refresh_from_db()
    assert bulletin.status == Status.RETURNED
    services.bulletin_update(
        actor=staff.hk_editor, bulletin=bulletin, version=bulletin.version, title="Đã sửa"
    )
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    states = list(bulletin.reviews.order_by("id").values_list("state", flat=True))
    assert states == [ReviewState.RETURNED, ReviewState.PENDING]


def test_forbidden_transition_is_a_conflict_and_changes_nothing(tree, staff):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    before = AuditRecord.objects.count()
    with pytest.raises(ConflictError):
        services.bulletin_approve(actor=staff.hk_approver, bulletin=bulletin)
    with pytest.raises(ConflictError):
        services.bulletin_publish(actor=staff.hk_approver, bulletin=bulletin)
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.DRAFT
    assert AuditRecord.objects.count() == before


def test_one_pending_review_is_a_database_constraint(tree, staff):
    from django.db import IntegrityError, transaction

    bulletin = draft(staff.hk_editor, tree.hoankiem)
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(
            bulletin=bulletin,
            revision=bulletin.revisions.get(),
            requested_by=staff.hk_editor,
        )


def test_stale_version_is_refused_and_the_first_save_kept(tree, staff):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    opened = bulletin.version
    services.bulletin_update(actor=staff.hk_editor, bulletin=bulletin, version=opened, title="A")
    with pytest.raises(ConflictError, match="Someone else saved"):
        services.bulletin_update(
            actor=staff.hk_editor, bulletin=bulletin, version=opened, title="B"
        )
    bulletin.refresh_from_db()
    assert bulletin.title == "A"
    assert bulletin.revisions.count() == 2


def test_body_is_sanitised_and_reading_text_follows_until_edited(tree, staff):
    bulletin = draft(
        staff.hk_editor,
        tree.hoankiem,
        body='<p onclick="x()">Xin <b>chào</b><script>alert(1)</script></p><p>Hai</p>',
    )
    assert "script" not in bulletin.body
    assert "onclick" not in bulletin.body
    assert bulletin.reading_text == "Xin chào\nHai"
    services.bulletin_update(
        actor=staff.hk_editor,
        bulletin=bulletin,
        version=bulletin.version,
        reading_text="Xin chào bà con",
    )
    bulletin.refresh_from_db()
    assert bulletin.reading_text_edited
    services.bulletin_update(
        actor=staff.hk_editor, bulletin=bulletin, version=bulletin.version, body="<p>Mới</p>"
    )
    bulletin.refresh_from_db()
    assert bulletin.reading_text == "Xin chào bà con"


def test_approved_bulletin_waits_for_its_validity_then_publishes_and_expires(tree, staff):
    start = timezone.now() + dt.timedelta(hours=2)
    bulletin = draft(
        staff.hk_editor,
        tree.hoankiem,
        valid_from=start,
        valid_until=start + dt.timedelta(days=1),
    )
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    services.bulletin_approve(actor=staff.hk_approver, bulletin=bulletin)
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.APPROVED
    assert services.bulletins_publish_due(now=start - dt.timedelta(minutes=1)) == 0
    assert services.bulletins_publish_due(now=start + dt.timedelta(minutes=1)) == 1
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.PUBLISHED
    assert services.bulletins_expire_due(now=start + dt.timedelta(days=2)) == 1
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.EXPIRED


def test_out_of_scope_bulletin_is_not_found(tree, staff):
    from thongtincoso.core.errors import NotFoundError

    bulletin = draft(staff.hk_editor, tree.hoankiem)
    with pytest.raises(NotFoundError):
        services.bulletin_submit(actor=staff.cn_editor, bulletin=bulletin)


def test_reopened_bulletin_forgets_its_approval_and_withdrawal(tree, staff):
    from .factories import published

    bulletin = published(staff.hk_editor, staff.hk_approver, tree.hoankiem)
    services.bulletin_withdraw(actor=staff.hk_approver, bulletin=bulletin, reason="Sai ngày")
    services.bulletin_reopen(actor=staff.hk_editor, bulletin=bulletin)
    bulletin.refresh_from_db()
    assert bulletin.status == Status.DRAFT
    assert bulletin.approved_by is None
    assert bulletin.ended_at is None
    assert bulletin.end_reason == ""


def test_implausible_dates_are_refused_by_the_service_itself(tree, staff):
    """Forms and the API check early; the service is the rule every entry point shares."""
    import datetime as dt

    far = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
    with pytest.raises(ServiceError) as error:
        draft(staff.hk_editor, tree.hoankiem, valid_until=far)
    assert error.value.field == "valid_until"
    assert "2000" in str(error.value.message)
    assert not Bulletin.objects.exists()

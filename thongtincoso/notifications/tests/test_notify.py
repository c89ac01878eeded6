"""Notifications: one row per active recipient, e-mail only when a mail server is configured."""

from __future__ import annotations

from django.core import mail

from thongtincoso.accounts.roles import Role
from thongtincoso.notifications.models import Notification
from thongtincoso.notifications.selectors import notifications_for, unread_count
from thongtincoso.notifications.services import notifications_mark_read, notify


def test_rows_for_active_recipients_only_and_no_mail_by_default(tree, make_user, settings):
    settings.NOTIFY_BY_EMAIL = False
    a = make_user("a", tree.hanoi, role=Role.EDITOR)
    b = make_user("b", tree.hanoi, role=Role.EDITOR)
    b.is_active = False
    b.save()
    assert notify(recipients=[a, b, a], message="Xin chào", url="/x/") == 1
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["a"]
    assert mail.outbox == []


def test_mail_sent_per_recipient_when_configured(
    tree, make_user, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_BY_EMAIL = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PUBLIC_BASE_URL = "https://ttcs.example.vn"
    a = make_user("a", tree.hanoi, role=Role.EDITOR)
    b = make_user("b", tree.hanoi, role=Role.EDITOR)
    for user, address in ((a, "a@example.vn"), (b, "b@example.vn")):
        user.email = address
        user.save()
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipients=[a, b], message="Bản tin chờ duyệt", url="/bulletins/1/")
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.vn", "b@example.vn"]
    assert all(len(m.to) == 1 for m in mail.outbox)  # colleagues' addresses are not shared
    assert "https://ttcs.example.vn/bulletins/1/" in mail.outbox[0].body


def test_each_user_sees_and_marks_only_their_own(tree, make_user):
    a = make_user("a", tree.hanoi, role=Role.EDITOR)
    b = make_user("b", tree.hanoi, role=Role.EDITOR)
    notify(recipients=[a], message="cho a")
    notify(recipients=[b], message="cho b")
    assert [n.message for n in notifications_for(a)] == ["cho a"]
    assert notifications_mark_read(user=a) == 1
    assert unread_count(a) == 0
    assert unread_count(b) == 1

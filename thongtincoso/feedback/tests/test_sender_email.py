"""Senders who leave an e-mail get their receipt (with the sender key link) and the answer."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from thongtincoso.audit.models import AuditRecord
from thongtincoso.feedback import services
from thongtincoso.feedback.models import Feedback

from .factories import make_feedback, make_officer


@pytest.fixture
def mail_on(settings: Any) -> Any:
    settings.NOTIFY_BY_EMAIL = True
    settings.PUBLIC_BASE_URL = "https://ttcs.example.vn"
    return settings


def _answer(feedback: Feedback, officer: Any, text: str) -> None:
    services.feedback_accept(actor=officer, feedback=feedback)
    services.answer_save(actor=officer, feedback=feedback, text=text)
    services.answer_submit(actor=officer, feedback=feedback)


def test_receipt_then_answer_by_email(
    tree: Any, make_user: Any, mail_on: Any, django_capture_on_commit_callbacks: Any
) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    with django_capture_on_commit_callbacks(execute=True):
        feedback = make_feedback(tree.hoankiem, email="Nguoi.Gui@example.vn", phone="0912345678")
    assert len(mail.outbox) == 1
    receipt = mail.outbox[0]
    assert receipt.to == ["Nguoi.Gui@example.vn"]
    assert feedback.code in receipt.subject
    # The receipt carries the sender key link, so the code and the key are not lost.
    assert f"https://ttcs.example.vn/feedback/track/{feedback.code}/?key={feedback.token}" in (
        receipt.body
    )
    assert "0912345678" not in receipt.body  # nothing else personal is repeated

    with django_capture_on_commit_callbacks(execute=True):
        _answer(feedback, officer, "Đã thu gom rác. Gọi 0987 654 321 nếu còn tồn đọng.")
    answered = mail.outbox[1]
    assert answered.to == ["Nguoi.Gui@example.vn"]
    assert "Đã thu gom rác." in answered.body
    assert "0987 654 321" not in answered.body  # the answer's public text, masked like the portal
    assert AuditRecord.objects.filter(action="feedback.contact.email").count() == 2


def test_merged_duplicates_senders_hear_of_the_shared_answer(
    tree: Any, make_user: Any, mail_on: Any, django_capture_on_commit_callbacks: Any
) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    master = make_feedback(tree.hoankiem, email="a@example.vn")
    duplicate = make_feedback(tree.hoankiem, email="b@example.vn")
    services.feedback_accept(actor=officer, feedback=master)
    services.feedback_merge(actor=officer, duplicate=duplicate, into=master)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.answer_save(actor=officer, feedback=master, text="Đã xử lý.")
        services.answer_submit(actor=officer, feedback=master)
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.vn", "b@example.vn"]
    assert all("Đã xử lý." in m.body for m in mail.outbox)


def test_no_email_without_an_address_or_when_mail_is_off(
    tree: Any, make_user: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    officer = make_officer(make_user, tree.hoankiem)
    settings.NOTIFY_BY_EMAIL = True
    with django_capture_on_commit_callbacks(execute=True):
        anonymous = make_feedback(tree.hoankiem, phone="0912345678")
        _answer(anonymous, officer, "Đã xử lý.")
    assert mail.outbox == []
    settings.NOTIFY_BY_EMAIL = False
    with django_capture_on_commit_callbacks(execute=True):
        quiet = make_feedback(tree.hoankiem, email="c@example.vn")
        _answer(quiet, officer, "Đã xử lý.")
    assert mail.outbox == []


def test_purged_contact_gets_nothing(tree: Any, mail_on: Any) -> None:
    feedback = make_feedback(tree.hoankiem, email="d@example.vn")
    feedback.contact.delete()
    assert services.sender_email(feedback.pk, "receipt") is None

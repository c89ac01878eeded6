"""The demo feedback `make demo` loads: real services, the states a handler meets."""

from __future__ import annotations

from typing import Any

from thongtincoso.accounts.demo import demo_load
from thongtincoso.feedback.demo import demo_feedback_load
from thongtincoso.feedback.models import Answer, Feedback, Status, UnitSettings
from thongtincoso.feedback.public import public_queryset


def test_demo_feedback_loads_once_in_every_state(tree: Any) -> None:
    demo_load()
    assert demo_feedback_load() == 5
    assert demo_feedback_load() == 0  # idempotent: nothing twice
    statuses = sorted(Feedback.objects.values_list("status", flat=True))
    assert statuses == sorted(
        [Status.ANSWERED, Status.IN_PROGRESS, Status.RECEIVED, Status.ACCEPTED, Status.TRANSFERRED]
    )
    answered = Feedback.objects.get(status=Status.ANSWERED)
    assert Answer.objects.get(feedback=answered).state == "published"
    assert answered.received_at < answered.answered_at  # type: ignore[operator]
    transferred = Feedback.objects.get(status=Status.TRANSFERRED)
    assert transferred.unit == tree.hanoi
    # The item nobody has checked yet is not public.
    assert public_queryset().count() == 4
    assert UnitSettings.objects.get(unit=tree.hoankiem).answers_need_approval

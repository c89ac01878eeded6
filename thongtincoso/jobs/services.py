"""Background work on Huey: enqueue after commit, retry with backoff, report progress.

Write a task with `@job_task()`; it receives a `JobProgress` as its first argument and reports with
`progress.update(done, total, message)`. Start it with `job_start(...)`, which records a JobStatus
and enqueues the task only once the surrounding transaction commits (so the worker never sees a
row that might still roll back). Tasks must be idempotent: a retry runs them again from the top.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from huey import crontab
from huey.api import Task
from huey.contrib.djhuey import HUEY, periodic_task, task

from .models import JobState, JobStatus

log = logging.getLogger(__name__)

StrOrPromise = str | Promise

DEFAULT_RETRIES = 3
DEFAULT_RETRY_DELAY = 10  # seconds before the first retry
DEFAULT_BACKOFF = 2.0  # each retry waits twice as long as the one before


@dataclass
class PeriodicJob:
    name: str
    schedule: StrOrPromise  # translatable: shown on pages
    doc: StrOrPromise


# What runs on its own, and when: shown on the jobs page so operators know what to expect.
PERIODIC_REGISTRY: dict[str, PeriodicJob] = {}


class JobCancelled(Exception):
    """Raised inside a task by `JobProgress` once someone asked to cancel the job."""


class JobFailed(Exception):
    """Raised by a task for a failure that a retry cannot fix (bad input): the job fails at once
    with this message, which people read as it is (so it should be translated and say what to
    fix)."""


class JobProgress:
    def __init__(self, job_id: str | None) -> None:
        self.job_id = job_id

    def update(
        self, done: int, total: int | None = None, message: str = "", *, stage: str = ""
    ) -> None:
        """Record progress; raises JobCancelled when the job was cancelled meanwhile.

        Checking at every update is what makes cancelling prompt: a task that reports progress
        often stops within one step, and leaves nothing half-written as long as it writes its
        result only after its last update.
        """
        if not self.job_id:
            return
        fields: dict[str, Any] = {"done": done, "updated_at": timezone.now()}
        if total is not None:
            fields["total"] = total
        if message:
            fields["message"] = message[:500]
        if stage:
            fields["stage"] = stage[:100]
        # One statement both records progress and tells us whether a cancel is pending.
        updated = JobStatus.objects.filter(pk=self.job_id, cancel_requested=False).update(**fields)
        if not updated and JobStatus.objects.filter(pk=self.job_id).exists():
            raise JobCancelled()


def job_task(
    *,
    retries: int = DEFAULT_RETRIES,
    retry_delay: int = DEFAULT_RETRY_DELAY,
    backoff: float = DEFAULT_BACKOFF,
    **task_kwargs: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """A Huey task that keeps its JobStatus up to date and retries with exponential backoff."""

    def decorator(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def run(job_id: str | None, *args: Any, **kwargs: Any) -> Any:
            if _cancel_pending(job_id):
                _mark(job_id, state=JobState.CANCELLED, finished=True)
                return None
            _mark(job_id, state=JobState.RUNNING, attempt=True)
            try:
                result = fn(JobProgress(job_id), *args, **kwargs)
            except JobCancelled:
                # Not a failure: no retry, and the task has already undone its partial work.
                _mark(job_id, state=JobState.CANCELLED, finished=True)
                return None
            except JobFailed as exc:
                _mark(job_id, state=JobState.FAILED, message=str(exc)[:500], finished=True)
                return None
            except Exception as exc:
                final = _is_last_attempt(job_id, retries)
                _mark(
                    job_id,
                    state=JobState.FAILED if final else JobState.QUEUED,
                    message=f"{exc.__class__.__name__}: {exc}"[:500],
                    finished=final,
                )
                raise
            _mark(job_id, state=JobState.SUCCEEDED, result=result, finished=True)
            return result

        return task(
            retries=retries,
            retry_delay=retry_delay,
            retry_backoff=backoff,
            **task_kwargs,
        )(run)

    return decorator


def _cancel_pending(job_id: str | None) -> bool:
    if not job_id:
        return False
    return JobStatus.objects.filter(pk=job_id, cancel_requested=True).exists()


def _is_last_attempt(job_id: str | None, retries: int) -> bool:
    if not job_id:
        return True
    attempts = JobStatus.objects.filter(pk=job_id).values_list("attempts", flat=True).first()
    return attempts is None or attempts > retries


def _mark(
    job_id: str | None,
    *,
    state: str,
    message: str = "",
    result: Any = None,
    finished: bool = False,
    attempt: bool = False,
) -> None:
    if not job_id:
        return
    from django.db.models import F

    fields: dict[str, Any] = {"state": state, "updated_at": timezone.now()}
    if message:
        fields["message"] = message
    if result is not None:
        fields["result"] = result
    if finished:
        fields["finished_at"] = timezone.now()
    if attempt:
        fields["attempts"] = F("attempts") + 1
    JobStatus.objects.filter(pk=job_id).update(**fields)


def enqueue_on_commit(task_fn: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue a Huey task once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task_fn(*args, **kwargs))


def job_start(
    task_fn: Any,
    *args: Any,
    title: str = "",
    unit: Any = None,
    created_by: Any = None,
    **kwargs: Any,
) -> JobStatus:
    """Record a JobStatus and enqueue `task_fn` (made with @job_task) after commit."""
    job = JobStatus.objects.create(
        name=HUEY._registry.task_to_string(task_fn.task_class),  # "app.tasks.function"
        title=title,
        unit=unit,
        created_by=created_by,
    )
    enqueue_on_commit(task_fn, str(job.pk), *args, **kwargs)
    return job


def may_cancel(actor: Any, job: JobStatus) -> bool:
    """Whoever started a job may cancel it, and so may whoever manages its unit; the system
    (no actor) always may."""
    if actor is None:
        return True
    if job.created_by_id is not None and job.created_by_id == getattr(actor, "pk", None):
        return True
    from thongtincoso.accounts import policy
    from thongtincoso.accounts.roles import Action

    return job.unit is not None and policy.may(actor, Action.MANAGE_USERS, job.unit)


def job_cancel(job: JobStatus, *, actor: Any) -> bool:
    """Ask a queued or running job to stop. Returns False when it had already finished.

    A queued job is cancelled before it starts; a running one stops at its next progress update.
    Raises PermissionDeniedError for someone who neither started it nor manages its unit.
    """
    from django.utils.translation import gettext as _

    from thongtincoso.audit.services import audit_record
    from thongtincoso.core.errors import PermissionDeniedError

    if not may_cancel(actor, job):
        raise PermissionDeniedError(
            _("Only whoever started this job, or manages its unit, may cancel it.")
        )

    updated = JobStatus.objects.filter(
        pk=job.pk, state__in=[JobState.QUEUED, JobState.RUNNING]
    ).update(cancel_requested=True, updated_at=timezone.now())
    if not updated:
        return False
    JobStatus.objects.filter(pk=job.pk, state=JobState.QUEUED).update(
        state=JobState.CANCELLED, finished_at=timezone.now()
    )
    audit_record(
        actor=actor,
        action="jobs.job.cancel",
        obj=job,
        unit=job.unit,
        after={"job": job.name, "title": job.title},
    )
    return True


def register_periodic(
    schedule: crontab, *, name: str, description: StrOrPromise, human: StrOrPromise
) -> Callable:
    """A periodic Huey task that also appears in PERIODIC_REGISTRY."""

    def decorator(fn: Callable[..., Any]) -> Task:
        PERIODIC_REGISTRY[name] = PeriodicJob(name=name, schedule=human, doc=description)
        # Huey names it "<module>.<function>"; `name` is the key operators see in the registry.
        return periodic_task(schedule)(fn)

    return decorator

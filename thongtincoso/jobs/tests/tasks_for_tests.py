"""Huey tasks used only by the jobs tests (task names must be unique, so they live here once)."""

from __future__ import annotations

from thongtincoso.jobs.services import JobProgress, job_task

# What the tasks did, in order: lets a test see whether (and when) a task body ran.
RAN: list[tuple[str, tuple]] = []


@job_task(retries=0)
def count_to(progress: JobProgress, n: int, label: str = "") -> dict:
    RAN.append(("count_to", (n, label)))
    for i in range(1, n + 1):
        progress.update(i, n, f"{label} {i}/{n}")
    return {"counted": n}


# No delay between attempts, so immediate mode retries at once instead of scheduling the retry.
@job_task(retries=2, retry_delay=0)
def always_fails(progress: JobProgress, reason: str) -> None:
    RAN.append(("always_fails", (reason,)))
    progress.update(1, 4, "started")
    raise ValueError(reason)


FLAKY_FAILURES = {"left": 0}


@job_task(retries=3, retry_delay=0)
def fails_then_succeeds(progress: JobProgress) -> str:
    RAN.append(("fails_then_succeeds", ()))
    if FLAKY_FAILURES["left"] > 0:
        FLAKY_FAILURES["left"] -= 1
        raise ConnectionError("device offline")
    progress.update(1, 1)
    return "ok"


def plain_record(value: str) -> None:
    """Not a Huey task: lets a test check enqueue_on_commit with any callable."""
    RAN.append(("plain_record", (value,)))


@job_task(retries=2, retry_delay=0)
def cancels_itself_at(progress: JobProgress, stop_at: int, n: int) -> dict:
    """Counts to n; at `stop_at` someone (here the task itself, standing in for a person on
    another page) cancels the job, which the next progress update notices."""
    from thongtincoso.jobs.models import JobStatus
    from thongtincoso.jobs.services import job_cancel

    for i in range(1, n + 1):
        RAN.append(("cancels_itself_at", (i,)))
        if i == stop_at:
            job_cancel(JobStatus.objects.get(pk=str(progress.job_id)), actor=None)
        progress.update(i, n)
    return {"counted": n}


@job_task(retries=2, retry_delay=0)
def refuses_input(progress: JobProgress, reason: str) -> None:
    from thongtincoso.jobs.services import JobFailed

    RAN.append(("refuses_input", (reason,)))
    raise JobFailed(reason)

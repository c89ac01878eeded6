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

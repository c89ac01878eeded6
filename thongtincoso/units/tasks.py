"""Background work on the unit tree. Huey's consumer imports `tasks` modules of every app."""

from __future__ import annotations

from thongtincoso.jobs.services import JobProgress, job_task

from .services import units_load_official


@job_task(retries=2, retry_delay=30)
def units_reload(progress: JobProgress) -> dict[str, int]:
    """Reload the official list (34 provinces, 3,321 communes), reporting each step.

    Started by `units_reload_start`; idempotent, so a retry simply runs the load again.
    """
    report = units_load_official(progress=progress.update)
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "total": report.total,
    }

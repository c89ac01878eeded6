"""Background rendering of bulletin audio, with progress by stage and cancellation."""

from __future__ import annotations

from django.utils.translation import gettext as _

from thongtincoso.jobs.services import JobFailed, JobProgress, job_task

from . import services
from .errors import SpeechError
from .messages import message_for

# Failures a later attempt may not meet (the service was down); everything else is the input's.
RETRYABLE = frozenset({"service_unreachable", "service_error"})

# Share of the progress bar each stage fills: synthesis is nearly all of the work.
_STAGES = {
    "synthesising": (0, 85),
    "decoding": (0, 20),
    "loudness": (85, 92),
    "encoding": (92, 100),
}


def _stage_label(stage: str, done: int, total: int) -> str:
    if stage == "synthesising":
        return _("Synthesising speech: sentence %(done)d of %(total)d") % {
            "done": done,
            "total": total,
        }
    return {
        "decoding": _("Decoding the file"),
        "loudness": _("Normalising loudness"),
        "encoding": _("Encoding MP3 and Opus"),
    }.get(stage, stage)


def _reporter(progress: JobProgress):  # type: ignore[no-untyped-def]
    def report(stage: str, done: int, total: int) -> None:
        start, end = _STAGES.get(stage, (0, 100))
        share = done / total if total else 0
        progress.update(
            round(start + (end - start) * share), 100, _stage_label(stage, done, total), stage=stage
        )

    return report


@job_task(retries=2, retry_delay=30)
def render_bulletin_audio(progress: JobProgress, row_id: int) -> dict:
    progress.update(0, 100, _("Normalising the text"), stage="normalising")
    try:
        return services.render_bulletin(row_id, progress=_reporter(progress))
    except SpeechError as exc:
        if exc.code in RETRYABLE:
            raise RuntimeError(message_for(exc)) from exc
        raise JobFailed(message_for(exc)) from exc

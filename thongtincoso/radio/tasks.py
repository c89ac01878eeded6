"""Huey discovers tasks in each app's tasks.py; the radio's live beside the code they run."""

from __future__ import annotations

from . import planner, radio_tasks  # noqa: F401  (registers their tasks and periodic tasks)

"""Huey discovers tasks in each app's tasks.py; the radio's live beside the code they run."""

from __future__ import annotations

import contextlib
import importlib

for _name in ("planner", "radio_tasks"):  # INTEGRATION-TODO: plain imports once both exist
    with contextlib.suppress(ModuleNotFoundError):
        importlib.import_module(f"thongtincoso.radio.{_name}")

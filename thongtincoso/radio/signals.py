"""What other apps' events mean for the radio: re-plan, re-render manifests, start emergencies."""

from __future__ import annotations


def connect() -> None:
    """Connect the receivers (called once from RadioConfig.ready)."""

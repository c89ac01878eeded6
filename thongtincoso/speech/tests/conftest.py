from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from thongtincoso.bulletins.tests.factories import staff  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _english_service_messages() -> Any:
    """Services called directly speak English here; requests still choose their language."""
    with translation.override("en"):
        yield


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    """A media directory of the test's own, so it can check exactly which files were written."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    # Real files on a real file system (the test settings keep media in memory otherwise).
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())

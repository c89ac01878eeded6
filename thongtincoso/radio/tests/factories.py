"""Shared helpers for radio tests: bulletins with programme audio, without rendering speech.

`with_audio` attaches a small AudioAsset row (no files) as the bulletin's fresh programme audio,
so planning and manifests can be tested in milliseconds. Tests that need real audio files use the
speech app's `media` fixture and real rendering instead.
"""

from __future__ import annotations

import hashlib
from typing import Any

from thongtincoso.bulletins.models import Bulletin
from thongtincoso.speech.models import AudioAsset, AudioSource, BulletinAudio
from thongtincoso.speech.services import text_sha256


def fake_asset(label: str, duration: float = 60.0) -> AudioAsset:
    """An AudioAsset row named by the hash of `label` (no files behind it)."""
    sha = hashlib.sha256(f"mp3:{label}".encode()).hexdigest()
    asset, _ = AudioAsset.objects.get_or_create(
        sha256=sha,
        defaults={
            "mp3": f"audio/{sha[:2]}/{sha}.mp3",
            "mp3_size": int(duration * 8000),
            "opus_sha256": hashlib.sha256(f"opus:{label}".encode()).hexdigest(),
            "opus": f"audio/{sha[:2]}/{sha}.opus",
            "opus_size": int(duration * 4000),
            "duration": duration,
            "integrated_lufs": -16.0,
            "true_peak_dbtp": -1.5,
            "target_lufs": -16.0,
            "sample_rate": 24000,
            "source": AudioSource.SPEECH,
        },
    )
    return asset


def with_audio(bulletin: Bulletin, duration: float = 60.0, **extra: Any) -> Bulletin:
    """Give the bulletin fresh programme audio of `duration` seconds."""
    asset = fake_asset(f"bulletin-{bulletin.pk}-{duration}", duration)
    BulletinAudio.objects.update_or_create(
        bulletin=bulletin,
        defaults={
            "asset": asset,
            "source": AudioSource.SPEECH,
            "text_sha256": text_sha256(bulletin.reading_text),
            **extra,
        },
    )
    return bulletin

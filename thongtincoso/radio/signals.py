"""What other apps' events mean for the radio: re-plan stations, start emergencies.

The receivers live in receivers.py (planning) and emergencies.py; they are imported when an event
arrives, so loading the app does not import the whole radio stack.
"""

from __future__ import annotations

from typing import Any


def _bulletin_changed(sender: Any, bulletin: Any, **kwargs: Any) -> None:
    from .receivers import on_bulletin_changed

    on_bulletin_changed(sender, bulletin=bulletin, **kwargs)


def _delivery_changed(sender: Any, delivery: Any, **kwargs: Any) -> None:
    from .receivers import on_delivery_changed

    on_delivery_changed(sender, delivery=delivery, **kwargs)


def _audio_changed(sender: Any, bulletin: Any, **kwargs: Any) -> None:
    from .receivers import on_audio_changed

    on_audio_changed(sender, bulletin=bulletin, **kwargs)


def _emergency_relayed(sender: Any, bulletin: Any, commune_ids: list[int], **kwargs: Any) -> None:
    from .emergencies import on_emergency_relayed

    on_emergency_relayed(sender, bulletin=bulletin, commune_ids=commune_ids, **kwargs)


def connect() -> None:
    """Connect the receivers (called once from RadioConfig.ready)."""
    from thongtincoso.bulletins.services import (
        bulletin_published,
        bulletin_unpublished,
        delivery_changed,
        emergency_relayed,
    )
    from thongtincoso.speech.services import audio_changed

    bulletin_published.connect(_bulletin_changed, dispatch_uid="radio.bulletin_published")
    bulletin_unpublished.connect(_bulletin_changed, dispatch_uid="radio.bulletin_unpublished")
    delivery_changed.connect(_delivery_changed, dispatch_uid="radio.delivery_changed")
    audio_changed.connect(_audio_changed, dispatch_uid="radio.audio_changed")
    emergency_relayed.connect(_emergency_relayed, dispatch_uid="radio.emergency_relayed")

"""A bulletin published for radio gets its audio without anyone asking (an emergency must not wait
for an editor to press a button): rendered if it has none or if its text changed since."""

from __future__ import annotations

import logging
from typing import Any

from thongtincoso.core.errors import ServiceError

log = logging.getLogger(__name__)


def render_on_publication(sender: Any, bulletin: Any, **kwargs: Any) -> None:
    from thongtincoso.bulletins.models import Channel

    from . import services

    if Channel.RADIO not in (bulletin.channels or []):
        return
    row = services.bulletin_audio_of(bulletin)
    if row is not None and row.asset_id and not services.is_stale(bulletin, row):
        return
    if row is not None and row.job_id and row.job and not row.job.is_finished:
        return
    try:
        services.audio_render_start(actor=None, bulletin=bulletin, system=True)
    except ServiceError as exc:
        # The text cannot be read (empty, only symbols): the bulletin is published all the same,
        # and its page says why there is no audio.
        log.warning("bulletin %s published without audio: %s", bulletin.pk, exc.message)

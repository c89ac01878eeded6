"""Reads on audio, through the permission policy."""

from __future__ import annotations

from typing import Any

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.bulletins.models import Bulletin
from thongtincoso.bulletins.selectors import bulletins_visible, is_public

from .models import AudioAsset, SpeechSettings


def asset_by_hash(sha256: str, extension: str) -> AudioAsset | None:
    """The asset whose MP3 (or Opus) file has this SHA-256."""
    if extension == "mp3":
        return AudioAsset.objects.filter(sha256=sha256).first()
    return AudioAsset.objects.filter(opus_sha256=sha256).first()


def asset_access(user: Any, asset: AudioAsset) -> tuple[bool, bool]:
    """(may the user hear it, is it public). Public: the audio of a published bulletin anyone can
    read on the portal. Otherwise staff who may see a bulletin, or a unit whose jingle it is."""
    bulletins = Bulletin.objects.filter(speech_audio__asset=asset).select_related("unit")
    for bulletin in bulletins[:20]:
        if is_public(bulletin):
            return True, True
    if bulletins_visible(user).filter(speech_audio__asset=asset).exists():
        return True, False
    jingle_units = SpeechSettings.objects.filter(intro=asset) | SpeechSettings.objects.filter(
        outro=asset
    )
    for row in jingle_units.select_related("unit")[:50]:
        if policy.may(user, Action.VIEW, row.unit):
            return True, False
    return False, False

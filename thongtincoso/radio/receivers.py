"""What other apps' events mean for the plan: the stations they touch are re-planned.

Each receiver works out the affected stations (the bulletin's own commune, and every commune it
was relayed to) and re-plans them after commit. `signals.connect()` wires them up.
"""

from __future__ import annotations

from typing import Any

from thongtincoso.bulletins.models import Bulletin, Delivery

from .models import Station
from .planner import replan_on_commit


def stations_of_bulletin(bulletin: Bulletin) -> list[int]:
    """Stations that may air the bulletin: its own commune's, and its relay targets'."""
    communes = {bulletin.unit_id} | set(
        Delivery.objects.filter(bulletin=bulletin).values_list("commune_id", flat=True)
    )
    return list(Station.objects.filter(unit_id__in=communes).values_list("pk", flat=True))


def on_bulletin_changed(sender: Any, bulletin: Bulletin, **kwargs: Any) -> None:
    """Published, withdrawn, expired, edited or relayed."""
    replan_on_commit(stations_of_bulletin(bulletin))


def on_delivery_changed(sender: Any, delivery: Delivery, **kwargs: Any) -> None:
    """Accepted, declined, reordered or given an air-from time by its commune."""
    replan_on_commit(
        Station.objects.filter(unit_id=delivery.commune_id).values_list("pk", flat=True)
    )


def on_audio_changed(sender: Any, bulletin: Bulletin, **kwargs: Any) -> None:
    """Programme audio rendered, uploaded or removed: its length and hash change the plan."""
    replan_on_commit(stations_of_bulletin(bulletin))

"""Demo speech settings: a Southern voice and readings for Hồ Chí Minh City, and a few local
abbreviations for Phường Hoàn Kiếm (the demo's commune), so the settings page has something to
show. Idempotent, like the rest of `load_demo`."""

from __future__ import annotations

from thongtincoso.units.models import Unit

from .models import Abbreviation, SpeechSettings

DEMO_ABBREVIATIONS = {
    "00070": [("TDP", "tổ dân phố"), ("KDC", "khu dân cư"), ("BQL", "ban quản lý")],
}


def demo_speech_load() -> int:
    """Create what is missing; return how many rows were created."""
    created = 0
    hcm = Unit.objects.current().filter(code="79").first()
    if hcm is not None and not SpeechSettings.objects.filter(unit=hcm).exists():
        SpeechSettings.objects.create(
            unit=hcm, engine="espeak", voice="vi-VN-x-south", thousand="ngàn", odd="lẻ"
        )
        created += 1
    for code, rows in DEMO_ABBREVIATIONS.items():
        unit = Unit.objects.current().filter(code=code).first()
        if unit is None:
            continue
        for written, spoken in rows:
            _row, made = Abbreviation.objects.get_or_create(
                unit=unit, written=written, defaults={"spoken": spoken}
            )
            created += int(made)
    return created

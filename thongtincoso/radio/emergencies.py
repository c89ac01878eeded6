"""Emergency broadcasts: start, confirm, stop, cancel, finish (TT 39 "phát khẩn cấp").

An emergency pre-empts what the targeted devices play from the moment it is on air (the
pre-emption itself is computed in timeline.py from `started_at`/`ends_at`). This module owns the
state machine awaiting → active → stopped/finished (or awaiting → cancelled), the audio it plays,
and telling the devices. After commit, in this order:

1. the alerts files of the touched provinces are rewritten (alerts.py: a handful of small files),
2. the MQTT emergency event is published at once (push.emergency_event_now; a broker that does
   not answer within about 2 s is left to the retried task),
3. the reached devices' manifests are re-rendered (in the request up to SYNC_DEVICES, else by a
   task), which pushes "manifest changed" to them.

Steps 1 and 2 cost the same for ten devices or ten thousand, so a device hears of an emergency
in seconds whatever the fleet's size; step 3 brings the full re-planned schedule after it. A
failure in 1 or 2 is logged and never fails the operator's request: the emergency is on air.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from thongtincoso.units.models import Unit, UnitKind

from . import push
from .fleet import rules_for
from .models import Emergency, EmergencySource, EmergencyState

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User
    from thongtincoso.bulletins.models import Bulletin
    from thongtincoso.speech.models import AudioAsset

log = logging.getLogger(__name__)

MAX_REPEAT = 20
MAX_INTERVAL_SECONDS = 3600
MAX_TEXT_CHARS = 5000  # a few minutes of speech: an emergency is short, and renders in the request
# Units above a commune: targeting one makes the emergency province-wide.
WIDE_KINDS = frozenset({UnitKind.NATION, UnitKind.PROVINCE, UnitKind.DISTRICT})
LIVE_STATES = (EmergencyState.AWAITING_CONFIRMATION, EmergencyState.ACTIVE)


# --- Audio --------------------------------------------------------------------------------------


def render_text(unit: Unit, text: str) -> AudioAsset:
    """Read `text` with the unit's speech settings, synchronously, into a stored AudioAsset.

    No jingles: an emergency starts with the message itself. The same text and settings give
    the same render key, so rendering again finds the stored asset.
    """
    from thongtincoso.speech import pipeline
    from thongtincoso.speech.errors import SpeechError
    from thongtincoso.speech.messages import message_for
    from thongtincoso.speech.models import AudioAsset, AudioSource
    from thongtincoso.speech.services import (
        engine_for,
        reading_options_for,
        speech_settings_for,
        store_asset,
    )

    config = speech_settings_for(unit)
    try:
        script = pipeline.prepare_script(text, reading_options_for(unit))
        engine = engine_for(config.engine)
        key = pipeline.render_key(
            script,
            engine=config.engine,
            engine_fingerprint=engine.fingerprint(config.voice),
            voice=config.voice,
            rate=config.rate,
            target_lufs=config.target_lufs,
        )
        cached = AudioAsset.objects.filter(render_key=key).first()
        if cached is not None:
            return cached
        speech = pipeline.synthesise(script, engine, voice=config.voice, rate=config.rate)
        rendered = pipeline.finish(speech, target_lufs=config.target_lufs)
    except SpeechError as exc:
        raise ServiceError(message_for(exc), field="text") from exc
    return store_asset(
        rendered,
        source=AudioSource.SPEECH,
        render_key=key,
        description=script.text,
        target_lufs=config.target_lufs,
    )


def _recording_asset(unit: Unit, audio: IO[bytes]) -> AudioAsset:
    """An uploaded or recorded file through the speech app's decode → loudness → encode path."""
    from thongtincoso.speech.models import AudioSource
    from thongtincoso.speech.services import upload_asset

    try:
        return upload_asset(
            unit=unit,
            stream=audio,
            source=AudioSource.RECORDING,
            name=str(getattr(audio, "name", "") or ""),
        )
    except ServiceError as exc:
        raise ServiceError(exc.message, field="audio") from exc


def bulletin_asset(bulletin: Bulletin) -> AudioAsset:
    """The bulletin's fresh programme audio, rendered now when it is missing or stale."""
    from thongtincoso.speech.errors import SpeechError
    from thongtincoso.speech.messages import message_for
    from thongtincoso.speech.models import BulletinAudio
    from thongtincoso.speech.services import bulletin_audio_of, is_stale, render_bulletin

    row = bulletin_audio_of(bulletin)
    if row is not None and row.asset is not None and not is_stale(bulletin, row):
        return row.asset
    if row is None:
        row, _created = BulletinAudio.objects.get_or_create(bulletin=bulletin)
    try:
        render_bulletin(row.pk)
    except SpeechError as exc:
        raise ServiceError(message_for(exc), field="bulletin") from exc
    row.refresh_from_db()
    assert row.asset is not None
    return row.asset


# --- Helpers ------------------------------------------------------------------------------------


def _require_broadcast(actor: User | None, unit: Unit) -> None:
    if policy.may(actor, Action.BROADCAST, unit):
        return
    if policy.may(actor, Action.VIEW, unit):
        raise PermissionDeniedError(_("You are not allowed to operate this unit's broadcasts."))
    raise NotFoundError(_("Unit not found."))


def _require_visible(actor: User | None, emergency: Emergency) -> None:
    if not policy.may(actor, Action.VIEW, emergency):
        raise NotFoundError(_("Emergency broadcast not found."))
    _require_broadcast(actor, emergency.unit)


def _clean_targets(unit: Unit, targets: Iterable[Unit]) -> list[Unit]:
    chosen = {t.pk: t for t in targets}
    if not chosen:
        raise ServiceError(_("Choose at least one zone, commune or province."), field="targets")
    fresh = {u.pk: u for u in Unit.objects.filter(pk__in=list(chosen))}
    result = []
    for pk in chosen:
        target = fresh.get(pk)
        # Outside the unit's subtree answers like a unit that does not exist.
        if target is None or not target.is_descendant_of(unit):
            raise NotFoundError(_("Target unit not found."), field="targets")
        if not target.is_current:
            raise ServiceError(
                _("“%(unit)s” no longer exists; choose a unit in force.") % {"unit": target.name},
                field="targets",
            )
        result.append(target)
    return sorted(result, key=lambda u: u.path)


def _clean_numbers(repeat_count: Any, interval_seconds: Any) -> tuple[int, int]:
    if not isinstance(repeat_count, int) or not 1 <= repeat_count <= MAX_REPEAT:
        raise ServiceError(
            _("Play it between 1 and %(max)d times.") % {"max": MAX_REPEAT}, field="repeat_count"
        )
    if not isinstance(interval_seconds, int) or not 0 <= interval_seconds <= MAX_INTERVAL_SECONDS:
        raise ServiceError(
            _("The pause between repetitions must be between 0 and %(max)d seconds.")
            % {"max": MAX_INTERVAL_SECONDS},
            field="interval_seconds",
        )
    return repeat_count, interval_seconds


def _is_wide(targets: Iterable[Unit]) -> bool:
    return any(t.kind in WIDE_KINDS for t in targets)


def on_air_until(emergency: Emergency, start: dt.datetime) -> dt.datetime:
    """End of the last repetition: repeats × length + the pauses between them."""
    seconds = (
        emergency.repeat_count * emergency.audio_duration
        + (emergency.repeat_count - 1) * emergency.interval_seconds
    )
    return start + dt.timedelta(seconds=seconds)


def _snapshot(emergency: Emergency) -> dict[str, Any]:
    return {
        "state": emergency.state,
        "started_at": emergency.started_at.isoformat() if emergency.started_at else None,
        "ends_at": emergency.ends_at.isoformat() if emergency.ends_at else None,
    }


def _locked(emergency: Emergency, *, expected: Iterable[str]) -> Emergency:
    """The emergency, row-locked, refused unless it is in one of the `expected` states."""
    current = Emergency.objects.select_for_update().select_related("unit").get(pk=emergency.pk)
    if current.state not in expected:
        raise ConflictError(
            _("This emergency broadcast is already “%(state)s”.")
            % {"state": current.get_state_display()}
        )
    return current


def _move(current: Emergency, expected: Iterable[str], **fields: Any) -> None:
    """Write a transition only if nobody else moved the row first (SQLite does not lock rows)."""
    updated = Emergency.objects.filter(pk=current.pk, state__in=list(expected)).update(**fields)
    if not updated:
        raise ConflictError(_("Someone else changed this emergency broadcast; reload the page."))
    for name, value in fields.items():
        setattr(current, name, value)


def tell_devices_now(emergency_id: int, event: str | None) -> None:
    """Re-render the reached devices' manifests (refresh pushes "manifest changed" to them).

    The emergency event itself was published before, by `_announce`; `event` stays in the
    signature for tasks queued by an earlier version.
    """
    from . import targeting

    emergency = Emergency.objects.filter(pk=emergency_id).first()
    if emergency is None:
        return
    devices = list(targeting.devices_in(emergency.targets.all()).select_related("commune"))
    refresh_manifests(devices)


def refresh_manifests(devices: list[Any]) -> list[Any]:
    """Re-render these devices' manifests; manifests.refresh pushes the changed ones itself."""
    if not devices:
        return []
    from .manifests import refresh

    return refresh(devices)


# Up to this many devices are re-rendered in the operator's request (about 0.4 ms each), so a
# commune's or a district's emergency is on the devices' manifests before the page answers.
SYNC_DEVICES = 2000


def _tell_devices(emergency_id: int, event: str | None) -> None:
    """After commit. A large fleet, or a failure here, goes to a retried background task: the
    emergency is already on air, so the operator's page must not fail, and no device may be
    left without it."""
    from . import targeting
    from .radio_tasks import tell_devices

    try:
        emergency = Emergency.objects.get(pk=emergency_id)
        if targeting.devices_in(emergency.targets.all()).count() <= SYNC_DEVICES:
            tell_devices_now(emergency_id, event)
            return
    except Exception:
        log.exception("emergency %s: devices not told in the request; retrying", emergency_id)
    tell_devices(emergency_id, event)


def _announce(emergency_id: int, event: str | None) -> None:
    """After commit, before any manifest: the alerts files, then the MQTT event. O(1) in the
    fleet's size. Failures are logged: the manifests (next step) still carry the emergency."""
    from .alerts import write_alerts_for

    emergency = Emergency.objects.filter(pk=emergency_id).first()
    if emergency is None:
        return
    try:
        write_alerts_for(emergency)
    except Exception:
        log.exception("emergency %s: alerts files not written", emergency_id)
    if event:
        try:
            push.emergency_event_now(emergency, event)
        except Exception:
            log.exception("emergency %s: MQTT event %s not published", emergency_id, event)


def _after_commit(emergency: Emergency, event: str | None) -> None:
    pk = emergency.pk

    def announce_then_tell() -> None:
        _announce(pk, event)
        _tell_devices(pk, event)

    transaction.on_commit(announce_then_tell)


def _refresh_all_alerts() -> None:
    """Every province's alerts file: drops emergencies that ended over a day ago and restores
    a file that went missing. Runs once a minute (emergencies_finish_due)."""
    from .alerts import write_alerts

    try:
        write_alerts()
    except Exception:
        log.exception("alerts files not refreshed")


# --- Transitions --------------------------------------------------------------------------------


def emergency_start(
    *,
    actor: User | None,
    unit: Unit,
    targets: Iterable[Unit],
    source: str,
    bulletin: Bulletin | None = None,
    title: str = "",
    text: str = "",
    audio: IO[bytes] | None = None,
    repeat_count: int = 3,
    interval_seconds: int = 60,
) -> Emergency:
    """Request an emergency broadcast; on air at once unless a second person must confirm it."""
    _require_broadcast(actor, unit)
    return _start(
        actor=actor,
        unit=unit,
        targets=targets,
        source=source,
        bulletin=bulletin,
        title=title,
        text=text,
        audio=audio,
        repeat_count=repeat_count,
        interval_seconds=interval_seconds,
        created_by=actor,
        confirm=None,
    )


def _start(
    *,
    actor: User | None,
    unit: Unit,
    targets: Iterable[Unit],
    source: str,
    bulletin: Bulletin | None,
    title: str,
    text: str,
    audio: IO[bytes] | None,
    repeat_count: int,
    interval_seconds: int,
    created_by: User | None,
    confirm: bool | None,
) -> Emergency:
    """The work of a start, for a person (permission checked by the caller) or for the relay
    path (no actor; `created_by` and `confirm=False` stand for the bulletin's approval)."""
    target_list = _clean_targets(unit, targets)
    repeat_count, interval_seconds = _clean_numbers(repeat_count, interval_seconds)
    text = (text or "").strip()
    title = " ".join((title or "").split())
    if source not in EmergencySource.values:
        raise ServiceError(_("Choose where the emergency's audio comes from."), field="source")
    if source == EmergencySource.SPEECH:
        if not text:
            raise ServiceError(_("Write the text to read."), field="text")
        if len(text) > MAX_TEXT_CHARS:
            raise ServiceError(
                _("An emergency text may have at most %(n)d characters.") % {"n": MAX_TEXT_CHARS},
                field="text",
            )
    elif source == EmergencySource.RECORDING:
        if audio is None:
            raise ServiceError(_("Record or upload the audio to play."), field="audio")
    else:
        bulletin = _clean_bulletin(actor, unit, bulletin)
        title = title or bulletin.title
    author = created_by
    if author is None:
        raise ServiceError(_("An emergency broadcast needs the person who requested it."))

    # The audio is content-addressed and reusable, so producing it before the transaction
    # leaves nothing half-written if a later step fails.
    if source == EmergencySource.SPEECH:
        asset = render_text(unit, text)
    elif source == EmergencySource.RECORDING:
        assert audio is not None
        asset = _recording_asset(unit, audio)
    else:
        assert bulletin is not None
        asset = bulletin_asset(bulletin)
    if not title:
        title = text[:120] if text else _("Emergency broadcast")

    needs_confirmation = confirm
    if needs_confirmation is None:
        needs_confirmation = _is_wide(target_list) and _province_confirmation(unit)
    now = timezone.now()
    with transaction.atomic():
        emergency = Emergency(
            unit=unit,
            source=source,
            bulletin=bulletin,
            title=title[:300],
            text=text,
            asset=asset,
            audio_sha256=asset.sha256,
            audio_size=asset.mp3_size,
            audio_duration=asset.duration,
            repeat_count=repeat_count,
            interval_seconds=interval_seconds,
            created_by=author,
        )
        if needs_confirmation:
            emergency.state = EmergencyState.AWAITING_CONFIRMATION
        else:
            emergency.state = EmergencyState.ACTIVE
            emergency.started_at = now
            emergency.ends_at = on_air_until(emergency, now)
        emergency.save()
        emergency.targets.set(target_list)
        after = {
            **_snapshot(emergency),
            "title": emergency.title,
            "source": source,
            "bulletin": bulletin.pk if bulletin else None,
            "targets": [t.code for t in target_list],
            "repeat_count": repeat_count,
            "interval_seconds": interval_seconds,
            "sha256": asset.sha256,
            "duration": asset.duration,
        }
        if actor is None and bulletin is not None:
            after["approved_by"] = bulletin.approved_by_id
        audit_record(
            actor=actor, action="radio.emergency.start", obj=emergency, unit=unit, after=after
        )
        if emergency.state == EmergencyState.ACTIVE:
            _after_commit(emergency, "start")
    return emergency


def _province_confirmation(unit: Unit) -> bool:
    return rules_for(unit).province_emergency_confirmation


def _clean_bulletin(actor: User | None, unit: Unit, bulletin: Bulletin | None) -> Bulletin:
    from thongtincoso.bulletins.models import Delivery, Status

    if bulletin is None:
        raise ServiceError(_("Choose the emergency bulletin to broadcast."), field="bulletin")
    visible = actor is None or policy.may(actor, Action.VIEW, bulletin)
    if not visible:
        # A bulletin relayed to a commune of this unit is the unit's to broadcast.
        from thongtincoso.units.models import path_upper_bound

        visible = Delivery.objects.filter(
            bulletin=bulletin,
            commune__path__gte=unit.path,
            commune__path__lt=path_upper_bound(unit.path),
        ).exists()
    if not visible:
        raise NotFoundError(_("Bulletin not found."), field="bulletin")
    if bulletin.status != Status.PUBLISHED:
        raise ConflictError(_("Only a published bulletin can be broadcast."), field="bulletin")
    return bulletin


def emergency_confirm(*, actor: User | None, emergency: Emergency) -> Emergency:
    """A second person puts a province-wide emergency on air."""
    _require_visible(actor, emergency)
    with transaction.atomic():
        current = _locked(emergency, expected=[EmergencyState.AWAITING_CONFIRMATION])
        if actor is None or current.created_by_id == actor.pk:
            raise PermissionDeniedError(
                _("Another person must confirm the emergency broadcast you requested.")
            )
        before = _snapshot(current)
        now = timezone.now()
        _move(
            current,
            [EmergencyState.AWAITING_CONFIRMATION],
            state=EmergencyState.ACTIVE,
            confirmed_by=actor,
            started_at=now,
            ends_at=on_air_until(current, now),
        )
        audit_record(
            actor=actor,
            action="radio.emergency.confirm",
            obj=current,
            unit=current.unit,
            before=before,
            after=_snapshot(current),
        )
        _after_commit(current, "start")
    return current


def emergency_cancel(*, actor: User | None, emergency: Emergency, reason: str = "") -> Emergency:
    """Withdraw an emergency that is still waiting for its confirmation."""
    _require_visible(actor, emergency)
    reason = " ".join((reason or "").split())[:500]
    with transaction.atomic():
        current = _locked(emergency, expected=[EmergencyState.AWAITING_CONFIRMATION])
        before = _snapshot(current)
        _move(
            current,
            [EmergencyState.AWAITING_CONFIRMATION],
            state=EmergencyState.CANCELLED,
            stopped_by=actor,
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="radio.emergency.cancel",
            obj=current,
            unit=current.unit,
            before=before,
            after={**_snapshot(current), "reason": reason},
        )
        # It never went on air, so no device plays it and no manifest changes; the alerts files
        # are rewritten anyway so that they always follow the database (bytes stay the same).
        pk = current.pk
        transaction.on_commit(lambda: _announce(pk, None))
    return current


def emergency_stop(*, actor: User | None, emergency: Emergency, reason: str = "") -> Emergency:
    """Take an emergency off the air now; the schedule resumes from this moment."""
    _require_visible(actor, emergency)
    reason = " ".join((reason or "").split())[:500]
    with transaction.atomic():
        current = _locked(emergency, expected=[EmergencyState.ACTIVE])
        before = _snapshot(current)
        now = timezone.now()
        _move(
            current,
            [EmergencyState.ACTIVE],
            state=EmergencyState.STOPPED,
            stopped_by=actor,
            stopped_at=now,
            ends_at=now,
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="radio.emergency.stop",
            obj=current,
            unit=current.unit,
            before=before,
            after={**_snapshot(current), "reason": reason},
        )
        _after_commit(current, "stop")
    return current


def emergencies_finish_due(now: dt.datetime | None = None) -> int:
    """Active emergencies whose last repetition has ended become finished (runs every minute)."""
    now = now or timezone.now()
    count = 0
    due = Emergency.objects.filter(state=EmergencyState.ACTIVE, ends_at__lte=now)
    for pk in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            current = Emergency.objects.select_for_update().select_related("unit").get(pk=pk)
            if current.state != EmergencyState.ACTIVE or not current.ends_at:
                continue
            if current.ends_at > now:
                continue
            before = _snapshot(current)
            updated = Emergency.objects.filter(pk=pk, state=EmergencyState.ACTIVE).update(
                state=EmergencyState.FINISHED
            )
            if not updated:
                continue
            current.state = EmergencyState.FINISHED
            audit_record(
                actor=None,
                action="radio.emergency.finish",
                obj=current,
                unit=current.unit,
                before=before,
                after=_snapshot(current),
            )
            # The manifests already end it at ends_at; re-rendering drops "on air" from them.
            _after_commit(current, None)
            count += 1
    _refresh_all_alerts()
    return count


# --- The relay path -----------------------------------------------------------------------------


def on_emergency_relayed(
    sender: Any, bulletin: Bulletin, commune_ids: Iterable[int], **kwargs: Any
) -> Emergency | None:
    """An emergency bulletin was relayed: put it on air in those communes at once.

    The bulletin already passed its approval, so no second confirmation; the approver is in
    the audit record. Idempotent while an emergency for the bulletin is live.
    """
    from thongtincoso.bulletins.models import Delivery

    ids = sorted(set(commune_ids))
    if not ids:
        return None
    if Emergency.objects.filter(bulletin=bulletin, state__in=LIVE_STATES).exists():
        return None
    zones_of = dict(
        Delivery.objects.filter(bulletin=bulletin, commune_id__in=ids).values_list(
            "commune_id", "zone_codes"
        )
    )
    targets: list[Unit] = []
    communes = Unit.objects.current().filter(pk__in=ids, kind=UnitKind.COMMUNE)
    for commune in communes:
        codes = zones_of.get(commune.pk) or []
        zones = (
            list(Unit.objects.current().filter(parent=commune, kind=UnitKind.ZONE, code__in=codes))
            if codes
            else []
        )
        targets.extend(zones or [commune])
    if not targets:
        return None
    try:
        return _start(
            actor=None,
            unit=bulletin.unit,
            targets=targets,
            source=EmergencySource.BULLETIN,
            bulletin=bulletin,
            title="",
            text="",
            audio=None,
            repeat_count=3,
            interval_seconds=60,
            created_by=bulletin.approved_by or bulletin.author,
            confirm=False,
        )
    except ServiceError:
        # The publication has committed; a failure here must not undo it. It is logged for
        # the operators, who can still start the emergency by hand.
        log.exception("emergency broadcast of relayed bulletin %s failed", bulletin.pk)
        return None

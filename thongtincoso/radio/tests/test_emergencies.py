"""Emergency broadcasts: who may start, confirm, stop and cancel them; the audio; the relay."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone, translation

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins.tests.factories import Staff, published
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from thongtincoso.radio import emergencies as svc
from thongtincoso.radio.models import (
    BroadcastRules,
    Emergency,
    EmergencySource,
    EmergencyState,
)
from thongtincoso.radio.tests.factories import with_audio
from thongtincoso.speech.models import AudioAsset


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def staff(tree: Any, make_user: Any) -> Staff:
    """The bulletins tests' people (province and commune editors and approvers)."""
    return Staff(
        hn_editor=make_user("hn_editor", tree.hanoi, role=Role.EDITOR),
        hn_approver=make_user("hn_approver", tree.hanoi, role=Role.APPROVER),
        hk_editor=make_user("hk_editor", tree.hoankiem, role=Role.EDITOR),
        hk_approver=make_user("hk_approver", tree.hoankiem, role=Role.APPROVER),
        hk_operator=make_user("hk_operator", tree.hoankiem, role=Role.BROADCAST_OPERATOR),
        cn_editor=make_user("cn_editor", tree.cuanam, role=Role.EDITOR),
    )


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    """Real files in a directory of the test's own (as the speech app's tests do)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture
def people(tree: Any, make_user: Any) -> Any:
    class People:
        hk_operator = make_user("hk_op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
        hk_viewer = make_user("hk_viewer", tree.hoankiem, role=Role.VIEWER)
        hn_operator = make_user("hn_op", tree.hanoi, role=Role.BROADCAST_OPERATOR)
        hn_operator2 = make_user("hn_op2", tree.hanoi, role=Role.BROADCAST_OPERATOR)

    return People


def bulletin_with_audio(staff: Any, tree: Any, **fields: Any) -> Any:
    return with_audio(published(staff.hn_editor, staff.hn_approver, tree.hanoi, **fields), 30.0)


def actions_of(emergency: Emergency) -> list[str]:
    return list(
        AuditRecord.objects.filter(object_type="radio.emergency", object_id=str(emergency.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_speech_emergency_renders_real_audio_and_goes_on_air(tree, people, media):
    before = timezone.now()
    emergency = svc.emergency_start(
        actor=people.hk_operator,
        unit=tree.hoankiem,
        targets=[tree.zone, tree.hoankiem],
        source=EmergencySource.SPEECH,
        text="Bão số 3 đang vào bờ. Bà con không ra khỏi nhà.",
        repeat_count=2,
        interval_seconds=30,
    )
    asset = AudioAsset.objects.get(pk=emergency.asset.pk if emergency.asset else 0)
    assert (media / asset.mp3.name).stat().st_size == asset.mp3_size > 0
    assert emergency.audio_sha256 == asset.sha256
    assert emergency.audio_duration == asset.duration > 1
    assert emergency.state == EmergencyState.ACTIVE
    assert emergency.started_at is not None
    assert emergency.started_at >= before
    assert emergency.ends_at == emergency.started_at + dt.timedelta(seconds=2 * asset.duration + 30)
    assert {t.pk for t in emergency.targets.all()} == {tree.zone.pk, tree.hoankiem.pk}
    assert emergency.title.startswith("Bão số 3")
    assert actions_of(emergency) == ["radio.emergency.start"]
    # The same text again is found, not rendered twice.
    assert svc.render_text(tree.hoankiem, emergency.text).pk == asset.pk


def test_recorded_emergency_goes_through_the_loudness_path(tree, people, media):
    from thongtincoso.speech.tests.audio_samples import speech_like, wav_bytes

    emergency = svc.emergency_start(
        actor=people.hk_operator,
        unit=tree.hoankiem,
        targets=[tree.hoankiem],
        source=EmergencySource.RECORDING,
        title="Cháy chợ",
        audio=io.BytesIO(wav_bytes(speech_like(3.0))),
        repeat_count=1,
    )
    assert emergency.asset is not None
    assert emergency.asset.source == "recording"
    assert 2.5 < emergency.audio_duration < 5
    assert emergency.started_at is not None
    assert emergency.ends_at == emergency.started_at + dt.timedelta(
        seconds=emergency.audio_duration
    )


def test_a_commune_operator_cannot_target_another_commune(tree, people, staff):
    bulletin = bulletin_with_audio(staff, tree)
    for targets in ([tree.cuanam], [tree.hoankiem, tree.hanoi], [tree.saigon]):
        with pytest.raises(NotFoundError):
            svc.emergency_start(
                actor=people.hk_operator,
                unit=tree.hoankiem,
                targets=targets,
                source=EmergencySource.BULLETIN,
                bulletin=bulletin,
            )
    # Nor start one for the neighbouring commune, nor as a viewer.
    with pytest.raises(NotFoundError):
        svc.emergency_start(
            actor=people.hk_operator,
            unit=tree.cuanam,
            targets=[tree.cuanam],
            source=EmergencySource.BULLETIN,
            bulletin=bulletin,
        )
    with pytest.raises(PermissionDeniedError):
        svc.emergency_start(
            actor=people.hk_viewer,
            unit=tree.hoankiem,
            targets=[tree.hoankiem],
            source=EmergencySource.BULLETIN,
            bulletin=bulletin,
        )
    assert not Emergency.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"targets": []}, "targets"),
        ({"repeat_count": 0}, "repeat_count"),
        ({"repeat_count": 21}, "repeat_count"),
        ({"interval_seconds": -1}, "interval_seconds"),
        ({"interval_seconds": 3601}, "interval_seconds"),
        ({"text": "   "}, "text"),
        ({"source": EmergencySource.RECORDING, "text": ""}, "audio"),
        ({"source": EmergencySource.BULLETIN, "text": ""}, "bulletin"),
        ({"source": "video"}, "source"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(tree, people, changes, field):
    arguments = {
        "actor": people.hk_operator,
        "unit": tree.hoankiem,
        "targets": [tree.hoankiem],
        "source": EmergencySource.SPEECH,
        "text": "Thông báo khẩn.",
        **changes,
    }
    with pytest.raises(ServiceError) as caught:
        svc.emergency_start(**arguments)
    assert caught.value.field == field
    assert not Emergency.objects.exists()
    assert not AudioAsset.objects.exists()


def test_province_wide_emergency_needs_a_second_person(tree, people, staff):
    bulletin = bulletin_with_audio(staff, tree, title="Lũ quét")
    emergency = svc.emergency_start(
        actor=people.hn_operator,
        unit=tree.hanoi,
        targets=[tree.hanoi],
        source=EmergencySource.BULLETIN,
        bulletin=bulletin,
        repeat_count=3,
        interval_seconds=60,
    )
    assert emergency.state == EmergencyState.AWAITING_CONFIRMATION
    assert emergency.started_at is None
    assert emergency.ends_at is None
    assert emergency.title == "Lũ quét"

    with pytest.raises(PermissionDeniedError):
        svc.emergency_confirm(actor=people.hn_operator, emergency=emergency)
    with pytest.raises(NotFoundError):  # a commune operator does not see the province's
        svc.emergency_confirm(actor=people.hk_operator, emergency=emergency)
    with pytest.raises(ConflictError):  # not on air yet
        svc.emergency_stop(actor=people.hn_operator2, emergency=emergency)
    emergency.refresh_from_db()
    assert emergency.state == EmergencyState.AWAITING_CONFIRMATION

    confirmed = svc.emergency_confirm(actor=people.hn_operator2, emergency=emergency)
    assert confirmed.state == EmergencyState.ACTIVE
    assert confirmed.confirmed_by == people.hn_operator2
    assert confirmed.started_at is not None
    assert confirmed.ends_at == confirmed.started_at + dt.timedelta(seconds=3 * 30 + 2 * 60)
    with pytest.raises(ConflictError):
        svc.emergency_confirm(actor=people.hn_operator2, emergency=emergency)
    with pytest.raises(ConflictError):
        svc.emergency_cancel(actor=people.hn_operator2, emergency=emergency, reason="x")

    stopped = svc.emergency_stop(actor=people.hn_operator, emergency=emergency, reason="Hết lũ")
    assert stopped.state == EmergencyState.STOPPED
    assert stopped.stopped_at == stopped.ends_at
    assert stopped.stopped_by == people.hn_operator
    with pytest.raises(ConflictError):  # a second operator cannot stop it again
        svc.emergency_stop(actor=people.hn_operator2, emergency=emergency)
    assert actions_of(emergency) == [
        "radio.emergency.start",
        "radio.emergency.confirm",
        "radio.emergency.stop",
    ]


def test_the_province_may_waive_the_confirmation(tree, people, staff):
    BroadcastRules.objects.create(unit=tree.hanoi, province_emergency_confirmation=False)
    emergency = svc.emergency_start(
        actor=people.hn_operator,
        unit=tree.hanoi,
        targets=[tree.hanoi],
        source=EmergencySource.BULLETIN,
        bulletin=bulletin_with_audio(staff, tree),
    )
    assert emergency.state == EmergencyState.ACTIVE


def test_a_commune_level_emergency_of_the_province_needs_no_confirmation(tree, people, staff):
    emergency = svc.emergency_start(
        actor=people.hn_operator,
        unit=tree.hanoi,
        targets=[tree.hoankiem, tree.cuanam],
        source=EmergencySource.BULLETIN,
        bulletin=bulletin_with_audio(staff, tree),
    )
    assert emergency.state == EmergencyState.ACTIVE


def test_cancel_an_awaiting_emergency(tree, people, staff):
    emergency = svc.emergency_start(
        actor=people.hn_operator,
        unit=tree.hanoi,
        targets=[tree.hanoi],
        source=EmergencySource.BULLETIN,
        bulletin=bulletin_with_audio(staff, tree),
    )
    with pytest.raises(PermissionDeniedError):
        svc.emergency_cancel(actor=staff.hn_editor, emergency=emergency, reason="nhầm")
    cancelled = svc.emergency_cancel(actor=people.hn_operator, emergency=emergency, reason="nhầm")
    assert cancelled.state == EmergencyState.CANCELLED
    assert cancelled.reason == "nhầm"
    with pytest.raises(ConflictError):
        svc.emergency_confirm(actor=people.hn_operator2, emergency=emergency)
    assert actions_of(emergency)[-1] == "radio.emergency.cancel"


def test_finished_when_the_last_repetition_is_over(
    tree, people, staff, django_capture_on_commit_callbacks
):
    emergency = svc.emergency_start(
        actor=people.hk_operator,
        unit=tree.hoankiem,
        targets=[tree.hoankiem],
        source=EmergencySource.BULLETIN,
        bulletin=bulletin_with_audio(staff, tree, targets=["00070"]),
        repeat_count=2,
        interval_seconds=10,
    )
    assert emergency.ends_at is not None
    assert svc.emergencies_finish_due(now=emergency.ends_at - dt.timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert svc.emergencies_finish_due(now=emergency.ends_at) == 1
    emergency.refresh_from_db()
    assert emergency.state == EmergencyState.FINISHED
    assert svc.emergencies_finish_due(now=emergency.ends_at + dt.timedelta(hours=1)) == 0
    with pytest.raises(ConflictError):
        svc.emergency_stop(actor=people.hk_operator, emergency=emergency)
    assert actions_of(emergency)[-1] == "radio.emergency.finish"


def test_a_relayed_emergency_bulletin_goes_on_air_once(tree, staff):
    from thongtincoso.bulletins.models import Delivery

    bulletin = published(
        staff.hn_editor,
        staff.hn_approver,
        tree.hanoi,
        title="Sơ tán khẩn cấp",
        priority="emergency",
        targets=["00070.001", "00073"],
    )
    with_audio(bulletin, 20.0)
    communes = sorted(Delivery.objects.filter(bulletin=bulletin).values_list("commune", flat=True))
    assert communes == sorted([tree.hoankiem.pk, tree.cuanam.pk])

    emergency = svc.on_emergency_relayed(sender=None, bulletin=bulletin, commune_ids=communes)
    assert emergency is not None
    assert emergency.state == EmergencyState.ACTIVE
    assert emergency.source == EmergencySource.BULLETIN
    assert emergency.unit == tree.hanoi
    assert emergency.created_by == staff.hn_approver
    assert {t.pk for t in emergency.targets.all()} == {tree.zone.pk, tree.cuanam.pk}
    record = AuditRecord.objects.get(action="radio.emergency.start", object_id=str(emergency.pk))
    assert record.actor_id is None
    assert record.after["approved_by"] == staff.hn_approver.pk

    assert svc.on_emergency_relayed(sender=None, bulletin=bulletin, commune_ids=communes) is None
    assert Emergency.objects.filter(bulletin=bulletin).count() == 1


def test_a_bulletin_without_audio_is_rendered_before_it_airs(tree, people, staff, media):
    from thongtincoso.speech.models import BulletinAudio

    bulletin = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Mất điện")
    assert not BulletinAudio.objects.filter(bulletin=bulletin, asset__isnull=False).exists()
    emergency = svc.emergency_start(
        actor=people.hk_operator,
        unit=tree.hoankiem,
        targets=[tree.hoankiem],
        source=EmergencySource.BULLETIN,
        bulletin=bulletin,
    )
    row = BulletinAudio.objects.get(bulletin=bulletin)
    assert row.asset is not None
    assert emergency.asset == row.asset
    assert (media / row.asset.mp3.name).exists()
    assert emergency.title == "Mất điện"


def test_the_periodic_work_is_registered():
    from thongtincoso.jobs.services import PERIODIC_REGISTRY
    from thongtincoso.radio import radio_tasks

    assert {"radio.emergencies_finish", "radio.offline_alerts", "radio.reconcile"} <= set(
        PERIODIC_REGISTRY
    )
    assert radio_tasks.mqtt_publish.retries == 3


@pytest.mark.parametrize("sync_limit", [2000, 0], ids=["in-the-request", "background-task"])
def test_the_reached_devices_get_the_emergency_in_their_manifests(
    tree,
    people,
    staff,
    settings,
    tmp_path,
    monkeypatch,
    django_capture_on_commit_callbacks,
    sync_limit,
):
    """Small fleets are told in the operator's request, large ones by a retried task (Huey runs
    tasks at once in tests); either way every reached device's manifest has the emergency."""
    import json

    from thongtincoso.radio import credentials
    from thongtincoso.radio.tests.test_devices import enrolled

    settings.TTCS_MANIFEST_ROOT = str(tmp_path / "manifests")
    monkeypatch.setattr(svc, "SYNC_DEVICES", sync_limit)
    reached, _c1 = enrolled(tree.hoankiem, "HK-E1")
    other, _c2 = enrolled(tree.saigon, "SG-E1")
    with django_capture_on_commit_callbacks(execute=True):
        emergency = svc.emergency_start(
            actor=people.hk_operator,
            unit=tree.hoankiem,
            targets=[tree.hoankiem],
            source=EmergencySource.BULLETIN,
            bulletin=bulletin_with_audio(staff, tree),
        )

    def emergencies_on_disk(device: Any) -> list[int]:
        path = credentials.device_manifest_path(device)
        return [e["id"] for e in json.loads(path.read_bytes())["emergencies"]]

    assert emergencies_on_disk(reached) == [emergency.pk]
    assert emergencies_on_disk(other) == []

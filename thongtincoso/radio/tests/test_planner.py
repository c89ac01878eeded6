"""The planner: what each session of a station airs, in which order, and what it leaves out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone, translation

from thongtincoso.bulletins import services as bulletins
from thongtincoso.bulletins.models import Bulletin, Delivery, DeliveryStatus
from thongtincoso.bulletins.tests.factories import published, staff  # noqa: F401  (fixture)
from thongtincoso.radio import planner, receivers, selectors
from thongtincoso.radio.models import Airing, AiringKind, QueueOrder, Slot, Station
from thongtincoso.radio.schedule import local_date, local_datetime
from thongtincoso.radio.slots import station_for
from thongtincoso.radio.tests.factories import fake_asset, with_audio

# Plans start at the coming local midnight, so every bulletin made by a test is already valid.
DAY = local_date(timezone.now()) + dt.timedelta(days=1)
NOW = local_datetime(DAY, dt.time(0, 0))


def at(hms: str, day: int = 0) -> dt.datetime:
    """A local time on DAY (+ day) as a UTC instant."""
    return local_datetime(DAY + dt.timedelta(days=day), dt.time.fromisoformat(hms)).astimezone(
        dt.UTC
    )


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def station(tree: Any) -> Station:
    found = station_for(tree.hoankiem)
    assert found is not None
    return found


def daily(station: Station, minutes: int = 30, start: str = "06:00", **kw: Any) -> Slot:
    return Slot.objects.create(
        station=station,
        name=f"Daily {start}",
        rrule="FREQ=DAILY",
        start_time=dt.time.fromisoformat(start),
        duration_minutes=minutes,
        starts_on=DAY - dt.timedelta(days=1),
        **kw,
    )


def own(staff: Any, tree: Any, title: str, seconds: float = 60, **fields: Any) -> Bulletin:  # noqa: F811
    bulletin = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title=title, **fields)
    return with_audio(bulletin, seconds)


def session_table(station: Station, day: int = 0) -> list[tuple[str, str, str]]:
    """(title, local start, local end) of one day's airings."""
    begin, end = at("00:00:00", day), at("00:00:00", day + 1)
    rows = Airing.objects.filter(station=station, starts_at__gte=begin, starts_at__lt=end)
    return [
        (
            a.title,
            f"{timezone.localtime(a.starts_at):%H:%M:%S}",
            f"{timezone.localtime(a.ends_at):%H:%M:%S}",
        )
        for a in rows.order_by("starts_at", "position")
    ]


def test_order_priority_then_own_order_then_valid_from(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    daily(station)
    a = own(staff, tree, "A")
    own(staff, tree, "B")
    c = own(staff, tree, "C")
    own(staff, tree, "P", priority="priority")
    own(staff, tree, "E", priority="emergency")
    QueueOrder.objects.create(station=station, bulletin=c, position=1)
    assert planner.plan_station(station, now=NOW) is True
    assert session_table(station) == [
        ("E", "06:00:00", "06:01:00"),
        ("P", "06:01:00", "06:02:00"),
        ("C", "06:02:00", "06:03:00"),  # the commune's own order
        ("A", "06:03:00", "06:04:00"),  # then validity
        ("B", "06:04:00", "06:05:00"),
        ("Silence", "06:05:00", "06:30:00"),  # the filler to the session's end
    ]
    first = Airing.objects.get(bulletin=a)
    assert first.key == f"{first.slot_id}:{DAY.isoformat()}:{a.pk}"
    assert first.audio_duration == 60
    # Each bulletin airs once: the next days have only the filler.
    assert session_table(station, day=1) == [("Silence", "06:00:00", "06:30:00")]
    filler = Airing.objects.filter(kind=AiringKind.FILLER).first()
    assert filler is not None
    assert filler.key.endswith(":filler")


@pytest.mark.parametrize(
    ("rule", "day0", "day1"),
    [
        pytest.param(
            "carry",
            [("X", "06:00:00", "06:06:40"), ("Silence", "06:06:40", "06:10:00")],
            [
                ("Y", "06:00:00", "06:05:00"),
                ("Z", "06:05:00", "06:06:40"),
                ("Silence", "06:06:40", "06:10:00"),
            ],
            id="carry-keeps-order-into-next-session",
        ),
        pytest.param(
            "drop",
            [
                ("X", "06:00:00", "06:06:40"),
                ("Z", "06:06:40", "06:08:20"),
                ("Silence", "06:08:20", "06:10:00"),
            ],
            [("Silence", "06:00:00", "06:10:00")],
            id="drop-leaves-it-out",
        ),
    ],
)
def test_overflow(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
    rule: str,
    day0: list,
    day1: list,
) -> None:
    Station.objects.filter(pk=station.pk).update(overflow_rule=rule)
    station.refresh_from_db()
    daily(station, minutes=10)
    own(staff, tree, "X", 400)
    y = own(staff, tree, "Y", 300)
    own(staff, tree, "Z", 100)
    planner.plan_station(station, now=NOW)
    assert session_table(station) == day0
    assert session_table(station, day=1) == day1
    queue = selectors.station_queue(station, now=NOW)
    overflow = [row["bulletin"].pk for row in queue["overflow"]]
    assert overflow == ([] if rule == "carry" else [y.pk])


def test_an_item_longer_than_any_session_does_not_block_the_others(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    daily(station, minutes=5)
    huge = own(staff, tree, "Huge", 600)
    own(staff, tree, "Small", 60)
    planner.plan_station(station, now=NOW)
    assert session_table(station)[0] == ("Small", "06:00:00", "06:01:00")
    queue = selectors.station_queue(station, now=NOW)
    assert [row["bulletin"].pk for row in queue["overflow"]] == [huge.pk]


def test_carry_keeps_order_when_a_longer_session_comes_later(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    """A 30-minute item does not fit the 15-minute morning session but fits the evening one:
    with "carry" the item after it waits too (strict order), instead of jumping ahead."""
    daily(station, minutes=15, start="06:00")
    daily(station, minutes=60, start="17:00")
    own(staff, tree, "Long", 1800)
    own(staff, tree, "Short", 60)
    planner.plan_station(station, now=NOW)
    assert [row for row in session_table(station) if row[0] != "Silence"] == [
        ("Long", "17:00:00", "17:30:00"),
        ("Short", "17:30:00", "17:31:00"),
    ]


def test_filler_audio(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    music = fake_asset("jingle", 30)
    Station.objects.filter(pk=station.pk).update(filler="audio", filler_asset=music)
    daily(station)
    planner.plan_station(station, now=NOW)
    filler = Airing.objects.get(starts_at=at("06:00:00"))
    assert (filler.kind, filler.audio_sha256, filler.ends_at) == (
        AiringKind.FILLER,
        music.sha256,
        at("06:30:00"),
    )


def test_zones_copied_and_relayed_item_reported_scheduled(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    daily(station)
    relayed = published(
        staff.hn_editor,
        staff.hn_approver,
        tree.hanoi,
        title="Province",
        priority="priority",
        targets=["00070.001"],
    )
    with_audio(relayed, 120)
    local = own(staff, tree, "Zone only", 60, targets=["00070.001"])
    everyone = own(staff, tree, "Everyone", 60)
    delivery = Delivery.objects.get(bulletin=relayed, commune=tree.hoankiem)
    assert delivery.status == DeliveryStatus.ACCEPTED  # priority: accepted automatically
    planner.plan_station(station, now=NOW)
    airing = Airing.objects.get(bulletin=relayed)
    assert airing.zone_codes == ["00070.001"]
    assert airing.delivery == delivery
    assert Airing.objects.get(bulletin=local).zone_codes == ["00070.001"]
    assert Airing.objects.get(bulletin=everyone).zone_codes == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SCHEDULED
    assert delivery.scheduled_at == airing.starts_at == at("06:00:00")


def test_normal_relayed_items_wait_for_acceptance_and_air_from(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    daily(station)
    relayed = with_audio(
        published(staff.hn_editor, staff.hn_approver, tree.hanoi, title="Normal"), 60
    )
    delivery = Delivery.objects.get(bulletin=relayed, commune=tree.hoankiem)
    planner.plan_station(station, now=NOW)
    assert not Airing.objects.filter(bulletin=relayed).exists()  # only received
    bulletins.delivery_accept(actor=staff.hk_editor, delivery=delivery, air_from=at("12:00:00"))
    planner.plan_station(station, now=NOW)
    assert Airing.objects.get(bulletin=relayed).starts_at == at("06:00:00", day=1)


def test_replanning_is_idempotent_and_keeps_started_airings(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    # Two days only, so that a later `now` does not bring a new day into the window.
    daily(station, ends_on=DAY + dt.timedelta(days=1))
    first = own(staff, tree, "First", 120)
    own(staff, tree, "Second", 60)
    assert planner.plan_station(station, now=NOW) is True
    keys = list(Airing.objects.values_list("pk", "key"))
    assert planner.plan_station(station, now=NOW) is False
    assert list(Airing.objects.values_list("pk", "key")) == keys
    # Later, with nothing changed, the plan is the same too.
    assert planner.plan_station(station, now=at("06:01:00")) is False

    started = Airing.objects.get(bulletin=first)
    urgent = own(staff, tree, "Urgent", 30, priority="priority")
    assert planner.plan_station(station, now=at("06:01:00")) is True
    kept = Airing.objects.get(bulletin=first)
    assert (kept.pk, kept.starts_at, kept.ends_at) == (
        started.pk,
        started.starts_at,
        started.ends_at,
    )
    assert session_table(station)[:3] == [
        ("First", "06:00:00", "06:02:00"),
        ("Urgent", "06:02:00", "06:02:30"),  # first in what is left of the session
        ("Second", "06:02:30", "06:03:30"),
    ]
    assert Airing.objects.filter(bulletin=urgent).count() == 1


def test_withdrawn_and_stale_bulletins_leave_future_sessions(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    daily(station)
    withdrawn = own(staff, tree, "Withdrawn")
    stale = own(staff, tree, "Stale")
    silent = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="No audio")
    kept = own(staff, tree, "Kept")
    planner.plan_station(station, now=NOW)
    assert Airing.objects.filter(bulletin__in=[withdrawn, stale, kept]).count() == 3
    assert not Airing.objects.filter(bulletin=silent).exists()
    bulletins.bulletin_withdraw(actor=staff.hk_approver, bulletin=withdrawn, reason="Sai")
    Bulletin.objects.filter(pk=stale.pk).update(reading_text="Một nội dung khác")
    assert planner.plan_station(station, now=NOW) is True
    assert list(Airing.objects.filter(kind="bulletin").values_list("bulletin", flat=True)) == [
        kept.pk
    ]
    assert session_table(station)[0] == ("Kept", "06:00:00", "06:01:00")


def test_replan_returns_changed_stations_and_receivers_replan_on_commit(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
    django_capture_on_commit_callbacks: Any,
) -> None:
    daily(station)
    other = station_for(tree.cuanam)
    assert other is not None
    bulletin = own(staff, tree, "News")
    # Cửa Nam has no slots: nothing to plan, nothing changed there.
    assert planner.replan([station.pk, other.pk], now=NOW) == {station.pk}
    assert planner.replan([station.pk, other.pk], now=NOW) == set()
    Bulletin.objects.filter(pk=bulletin.pk).update(status="withdrawn")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        receivers.on_bulletin_changed(sender=Bulletin, bulletin=bulletin)
    assert len(callbacks) == 1
    assert not Airing.objects.filter(bulletin=bulletin, starts_at__gt=timezone.now()).exists()


def test_calendar_and_queue(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    slot = daily(station, minutes=10)
    news = own(staff, tree, "News", 120)
    planner.plan_station(station, now=NOW)
    calendar = selectors.station_calendar(station, DAY, 2)
    assert [day["date"] for day in calendar] == [DAY, DAY + dt.timedelta(days=1)]
    session = calendar[0]["sessions"][0]
    assert session["slot"] == slot
    assert f"{session['start']:%H:%M}" == "06:00"
    assert [a.title for a in session["airings"]] == ["News", "Silence"]
    assert (session["filled_seconds"], session["free_seconds"]) == (120, 480)
    queue = selectors.station_queue(station, now=NOW)
    assert [row["bulletin"] for row in queue["waiting"]] == [news]
    assert queue["waiting"][0]["next_airing"].starts_at == at("06:00:00")


def test_stations_visible(tree: Any, make_user: Any, station: Station) -> None:
    from thongtincoso.accounts.roles import Action, Role

    other = station_for(tree.cuanam)
    cn = make_user("cn_view", tree.cuanam, role=Role.VIEWER)
    assert list(selectors.stations_visible(cn)) == [other]
    assert selectors.station_for_user(cn, "00070") is None
    assert selectors.station_for_user(cn, "00073") == other
    assert selectors.station_for_user(cn, "00073", Action.BROADCAST) is None


def test_delivery_and_audio_receivers_replan_the_right_stations(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
    django_capture_on_commit_callbacks: Any,
) -> None:
    daily(station)
    other = station_for(tree.saigon)
    assert other is not None
    daily(other)
    relayed = published(staff.hn_editor, staff.hn_approver, tree.hanoi, title="Normal")
    delivery = Delivery.objects.get(bulletin=relayed, commune=tree.hoankiem)
    assert receivers.stations_of_bulletin(relayed) == [station.pk]
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.ACCEPTED)
    with django_capture_on_commit_callbacks(execute=True):
        receivers.on_delivery_changed(sender=Delivery, delivery=delivery)
    assert not Airing.objects.filter(bulletin=relayed).exists()  # no audio yet
    with_audio(relayed, 90)
    with django_capture_on_commit_callbacks(execute=True):
        receivers.on_audio_changed(sender=Bulletin, bulletin=relayed)
    assert Airing.objects.filter(bulletin=relayed, station=station).count() == 1
    assert not Airing.objects.filter(station=other).exists()  # Sài Gòn was not re-planned


def test_slot_changes_replan_the_station_on_commit(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from thongtincoso.radio import slots

    news = own(staff, tree, "News")
    with django_capture_on_commit_callbacks(execute=True):
        slot, _ = slots.slot_create(
            actor=staff.hk_operator,
            station=station,
            name="Sáng",
            rrule="FREQ=DAILY",
            start_time=dt.time(6, 0),
            duration_minutes=30,
            starts_on=DAY,
        )
    assert Airing.objects.get(bulletin=news).starts_at == at("06:00:00")
    with django_capture_on_commit_callbacks(execute=True):
        slots.slot_delete(actor=staff.hk_operator, slot=slot)
    assert not Airing.objects.filter(starts_at__gt=timezone.now()).exists()


def test_a_slot_moved_later_the_same_day_does_not_reuse_aired_keys(
    tree: Any,
    staff: Any,  # noqa: F811
    station: Station,
) -> None:
    slot = daily(station, minutes=10)
    own(staff, tree, "Morning", 60)
    planner.plan_station(station, now=NOW)
    Slot.objects.filter(pk=slot.pk).update(start_time=dt.time(17, 0))
    late = own(staff, tree, "Evening", 60)
    after_morning = at("07:00:00")
    assert planner.plan_station(station, now=after_morning) is True
    evening = Airing.objects.filter(occurrence_start=at("17:00:00")).order_by("position")
    assert [(a.bulletin_id, a.key) for a in evening] == [
        (late.pk, f"{slot.pk}:{DAY.isoformat()}:{late.pk}"),
        (None, f"{slot.pk}:{DAY.isoformat()}:filler@1700"),
    ]
    # The morning's airings are history and stay as they were.
    assert [a.title for a in Airing.objects.filter(occurrence_start=at("06:00:00"))] == [
        "Morning",
        "Silence",
    ]

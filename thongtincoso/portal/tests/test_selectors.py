"""The portal's fast reads show exactly what `public_bulletins()` allows, in the same order."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin, Delivery
from thongtincoso.bulletins.selectors import public_bulletin_parts, public_bulletins
from thongtincoso.bulletins.tests.factories import draft, published
from thongtincoso.portal.selectors import PublicBulletinList

from .helpers import attach, mp3_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(tree, staff):
    """Every kind of row a unit's page must show or leave out."""
    now = timezone.now()
    hk = (staff.hk_editor, staff.hk_approver, tree.hoankiem)
    hn = (staff.hn_editor, staff.hn_approver, tree.hanoi)
    shown = [published(*hk, title="Của phường") for _ in range(3)]
    same_time = published(*hk, title="Cùng giờ")  # ties on published_at break by id
    Bulletin.objects.filter(pk__in=[shown[0].pk, same_time.pk]).update(published_at=now)
    with_audio = draft(staff.hk_editor, tree.hoankiem, title="Có âm thanh")
    attach(staff.hk_editor, with_audio, mp3_bytes(), "a.mp3")
    services.bulletin_submit(actor=staff.hk_editor, bulletin=with_audio)
    services.bulletin_approve(actor=staff.hk_approver, bulletin=with_audio)
    relayed = published(*hn, title="Chuyển tới", targets=["00070"])
    declined = published(*hn, title="Bị từ chối", targets=["00070"])
    services.delivery_decline(
        actor=staff.hk_operator,
        delivery=Delivery.objects.get(bulletin=declined, commune=tree.hoankiem),
        reason="Không",
    )
    published(*hn, title="Phường khác", targets=["00073"])
    published(staff.cn_editor, staff.hn_approver, tree.cuanam, title="Của Cửa Nam")
    off_portal = published(*hk, title="Chỉ phát thanh", channels=["radio"])
    withdrawn = published(*hk, title="Thu hồi")
    services.bulletin_withdraw(actor=staff.hk_approver, bulletin=withdrawn, reason="Sai")
    ended = published(*hk, title="Hết hiệu lực")
    Bulletin.objects.filter(pk=ended.pk).update(valid_until=now - dt.timedelta(minutes=1))
    later = published(*hk, title="Chưa hiệu lực")
    Bulletin.objects.filter(pk=later.pk).update(valid_from=now + dt.timedelta(days=1))
    still = published(*hk, title="Còn hiệu lực")
    Bulletin.objects.filter(pk=still.pk).update(valid_until=now + dt.timedelta(days=1))
    draft(staff.hk_editor, tree.hoankiem, title="Nháp")
    return {"relayed": relayed, "off_portal": off_portal}


@pytest.mark.parametrize("code", ["hoankiem", "cuanam", "hanoi", "hcm"])
def test_parts_and_pages_hold_exactly_the_public_bulletins_in_order(tree, mixed, code):
    unit = tree.by_name(code)
    expected = list(public_bulletins(unit).values_list("pk", flat=True))
    own, relayed = public_bulletin_parts(unit)
    assert sorted([*own.values_list("pk", flat=True), *relayed.values_list("pk", flat=True)]) == (
        sorted(expected)
    )
    rows = PublicBulletinList(unit)
    assert rows.count() == len(expected)
    assert [b.pk for b in rows[0:100]] == expected
    assert [b.pk for b in rows[2:5]] == expected[2:5]
    assert rows[0:0] == []  # what a Paginator asks for when there is nothing


def test_the_commune_page_mixes_own_and_relayed_bulletins(tree, mixed):
    titles = [b.title for b in PublicBulletinList(tree.hoankiem)[0:100]]
    assert "Chuyển tới" in titles
    assert not {"Bị từ chối", "Phường khác", "Chỉ phát thanh", "Thu hồi"} & set(titles)
    assert not {"Hết hiệu lực", "Chưa hiệu lực", "Nháp"} & set(titles)
    assert "Còn hiệu lực" in titles


def test_audio_only_list_keeps_bulletins_with_audio(tree, mixed):
    rows = PublicBulletinList(tree.hoankiem, audio_only=True)
    assert rows.count() == 1
    assert [b.title for b in rows[0:50]] == ["Có âm thanh"]

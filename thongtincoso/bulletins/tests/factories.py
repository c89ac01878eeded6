"""Helpers for bulletin tests: a draft through the real services, a role per person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Role
from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin
from thongtincoso.units.models import Unit


def draft(author: User, unit: Unit, **fields: Any) -> Bulletin:
    fields.setdefault("title", "Thông báo lịch tiêm chủng")
    fields.setdefault("body", "<p>Trạm y tế tiêm chủng ngày 20/4/2026.</p>")
    fields.setdefault("category", "kien-thuc-san-xuat-doi-song")
    return services.bulletin_create(actor=author, unit=unit, **fields)


def published(author: User, approver: User, unit: Unit, **fields: Any) -> Bulletin:
    bulletin = draft(author, unit, **fields)
    services.bulletin_submit(actor=author, bulletin=bulletin)
    return services.bulletin_approve(actor=approver, bulletin=bulletin)


@dataclass
class Staff:
    """People of the test tree: province (Hà Nội) and commune (Hoàn Kiếm) staff."""

    hn_editor: User
    hn_approver: User
    hk_editor: User
    hk_approver: User
    hk_operator: User
    cn_editor: User  # Cửa Nam, a sibling commune


@pytest.fixture
def staff(tree: Any, make_user: Any) -> Staff:
    return Staff(
        hn_editor=make_user("hn_editor", tree.hanoi, role=Role.EDITOR),
        hn_approver=make_user("hn_approver", tree.hanoi, role=Role.APPROVER),
        hk_editor=make_user("hk_editor", tree.hoankiem, role=Role.EDITOR),
        hk_approver=make_user("hk_approver", tree.hoankiem, role=Role.APPROVER),
        hk_operator=make_user("hk_operator", tree.hoankiem, role=Role.BROADCAST_OPERATOR),
        cn_editor=make_user("cn_editor", tree.cuanam, role=Role.EDITOR),
    )

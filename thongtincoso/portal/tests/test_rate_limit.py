"""Public pages and feeds are rate-limited per address; logged-in staff are not counted."""

from __future__ import annotations

from django.core.cache import cache
from django.test import Client

from thongtincoso.accounts.roles import Role


def test_portal_answers_429_with_retry_after_beyond_the_rate(tree, settings):
    settings.TTCS_PORTAL_RATE = "3/m"
    cache.clear()
    visitor = Client(REMOTE_ADDR="203.0.113.7")
    codes = [visitor.get("/portal/00070/").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    blocked = visitor.get("/portal/00070/rss.xml")
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    # Another address is not affected.
    assert Client(REMOTE_ADDR="203.0.113.8").get("/portal/00070/").status_code == 200


def test_logged_in_staff_are_not_limited(tree, make_user, client_for, settings):
    settings.TTCS_PORTAL_RATE = "2/m"
    cache.clear()
    staff = client_for(make_user("ed", tree.hoankiem, role=Role.EDITOR))
    assert [staff.get("/portal/00070/").status_code for _ in range(4)] == [200] * 4

"""Public pages: who sees what, where, and the shape of each page."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone

from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin, Delivery, Priority, Status
from thongtincoso.bulletins.tests.factories import draft, published
from thongtincoso.units.models import Unit

pytestmark = pytest.mark.django_db


class Outline(HTMLParser):
    """Headings, links and `<link>` elements of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def outline(html: str) -> Outline:
    parser = Outline()
    parser.feed(html)
    return parser


def get(path: str) -> tuple[int, str]:
    response = Client().get(path)
    return response.status_code, response.content.decode()


# --- Home ------------------------------------------------------------------------------------


def test_home_lists_provinces_and_finds_a_commune_by_name(tree):
    status, html = get("/portal/")
    assert status == 200
    assert 'href="/portal/01/"' in html
    assert 'href="/portal/79/"' in html
    assert "/portal/00070/" not in html
    page = outline(html)
    assert page.count("h1") == 1
    assert page.attrs("html")[0]["lang"] == "vi"
    # The search box has a label, and the page a skip link to the main content.
    assert any(a.get("for") == "q" for a in page.attrs("label"))
    assert any(a.get("href") == "#main" for a in page.attrs("a"))

    status, html = get("/portal/?q=hoàn kiếm")
    assert status == 200
    assert 'href="/portal/00070/"' in html
    assert "Thành phố Hà Nội" in html  # the commune's province beside it
    assert 'href="/portal/00073/"' not in html


def test_anonymous_visitor_at_root_goes_to_the_portal_and_staff_to_the_dashboard(
    tree, staff, client_for
):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert client_for(staff.hk_editor).get("/").status_code == 200


# --- Unit page -------------------------------------------------------------------------------


def test_unit_page_shows_published_bulletins_newest_first_with_feeds_in_head(tree, staff):
    older = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Tin cũ hơn")
    newer = published(
        staff.hk_editor,
        staff.hk_approver,
        tree.hoankiem,
        title="Báo động lũ",
        summary="Sơ tán ngay khu vực ven sông",
        priority=Priority.EMERGENCY,
    )
    Bulletin.objects.filter(pk=older.pk).update(published_at=timezone.now() - dt.timedelta(days=1))
    draft(staff.hk_editor, tree.hoankiem, title="Bản nháp bí mật")

    status, html = get("/portal/00070/")
    assert status == 200
    assert html.index("Báo động lũ") < html.index("Tin cũ hơn")
    assert "Sơ tán ngay khu vực ven sông" in html
    assert "Bản nháp bí mật" not in html
    assert f'href="/portal/00070/b/{newer.pk}/"' in html
    assert 'class="badge badge-emergency"' in html
    page = outline(html)
    assert page.count("h1") == 1
    feeds = {a["type"]: a["href"] for a in page.attrs("link") if a.get("rel") == "alternate"}
    assert feeds["application/atom+xml"] == "/portal/00070/atom.xml"
    assert feeds["application/rss+xml"] in {"/portal/00070/rss.xml", "/portal/00070/podcast.xml"}
    rss = [a["href"] for a in page.attrs("link") if a.get("type") == "application/rss+xml"]
    assert rss == ["/portal/00070/rss.xml", "/portal/00070/podcast.xml"]
    # Breadcrumbs up the tree: home, then the province.
    hrefs = [a.get("href") for a in page.attrs("a")]
    assert "/portal/01/" in hrefs


def test_unit_page_paginates_twenty_per_page(tree, staff):
    first = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Tin số 0")
    # Copies of a published row: the page only reads them.
    now = timezone.now()
    rows = []
    for i in range(1, 25):
        copy = Bulletin.objects.get(pk=first.pk)
        copy.pk = None
        copy.title = f"Tin số {i}"
        copy.published_at = now + dt.timedelta(seconds=i)
        rows.append(copy)
    Bulletin.objects.bulk_create(rows)

    _, page1 = get("/portal/00070/")
    assert "Tin số 24" in page1
    assert "Tin số 5<" in page1
    assert "Tin số 4<" not in page1
    assert outline(page1).count("h3") == 20
    _, page2 = get("/portal/00070/?page=2")
    assert outline(page2).count("h3") == 5
    assert "Tin số 0<" in page2
    # Nonsense page numbers fall back to a real page instead of failing.
    assert get("/portal/00070/?page=abc")[0] == 200
    assert get("/portal/00070/?page=99999999999999999999")[0] == 200


def test_province_page_links_its_communes(tree):
    status, html = get("/portal/01/")
    assert status == 200
    assert 'href="/portal/00070/"' in html
    assert 'href="/portal/00073/"' in html
    assert 'href="/portal/26734/"' not in html


def test_unknown_retired_and_zone_codes_are_not_found(tree):
    Unit.objects.filter(pk=tree.cuanam.pk).update(valid_to=dt.date(2026, 1, 1))
    for path in ("/portal/99999/", "/portal/00073/", "/portal/00070.001/", "/portal/00073/rss.xml"):
        assert Client().get(path).status_code == 404, path
    _, html = get("/portal/99999/")
    assert '<html lang="vi">' in html
    assert outline(html).count("h1") == 1


# --- Bulletin page ---------------------------------------------------------------------------


def test_bulletin_page_renders_a_published_bulletin(tree, staff):
    b = published(
        staff.hk_editor,
        staff.hk_approver,
        tree.hoankiem,
        title="Lịch tiêm chủng",
        summary="Tiêm chủng mở rộng",
        body="<p>Trạm y tế <strong>phường</strong> tiêm chủng.</p>",
        source_note="Trạm y tế phường",
        tags=["y tế"],
    )
    status, html = get(f"/portal/00070/b/{b.pk}/")
    assert status == 200
    assert "<p>Trạm y tế <strong>phường</strong> tiêm chủng.</p>" in html
    assert "Tiêm chủng mở rộng" in html
    assert "Trạm y tế phường" in html
    assert "y tế" in html
    assert b.category.name in html
    page = outline(html)
    assert page.count("h1") == 1


@pytest.mark.parametrize("state", ["draft", "submitted", "withdrawn", "expired", "ended"])
def test_bulletin_page_is_not_found_unless_public(tree, staff, state):
    if state == "draft":
        b = draft(staff.hk_editor, tree.hoankiem)
    elif state == "submitted":
        b = draft(staff.hk_editor, tree.hoankiem)
        services.bulletin_submit(actor=staff.hk_editor, bulletin=b)
    else:
        b = published(staff.hk_editor, staff.hk_approver, tree.hoankiem)
        if state == "withdrawn":
            services.bulletin_withdraw(actor=staff.hk_approver, bulletin=b, reason="Sai số liệu")
        elif state == "expired":
            Bulletin.objects.filter(pk=b.pk).update(
                valid_until=timezone.now() - dt.timedelta(minutes=1)
            )
            services.bulletins_expire_due()
            assert Bulletin.objects.get(pk=b.pk).status == Status.EXPIRED
        else:  # validity over, before the periodic task marks it expired
            Bulletin.objects.filter(pk=b.pk).update(
                valid_until=timezone.now() - dt.timedelta(minutes=1)
            )
    assert Client().get(f"/portal/00070/b/{b.pk}/").status_code == 404
    assert b.title not in get("/portal/00070/")[1]


def test_bulletin_of_another_unit_is_not_found_under_this_unit(tree, staff):
    b = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Chỉ Hoàn Kiếm")
    assert Client().get(f"/portal/00070/b/{b.pk}/").status_code == 200
    assert Client().get(f"/portal/00073/b/{b.pk}/").status_code == 404
    assert Client().get(f"/portal/01/b/{b.pk}/").status_code == 404
    assert "Chỉ Hoàn Kiếm" not in get("/portal/00073/")[1]


def test_bulletin_off_the_portal_channel_is_not_found(tree, staff):
    b = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, channels=["radio"])
    assert Client().get(f"/portal/00070/b/{b.pk}/").status_code == 404


def test_relayed_bulletin_shows_on_the_commune_until_the_commune_declines_it(tree, staff):
    b = published(
        staff.hn_editor,
        staff.hn_approver,
        tree.hanoi,
        title="Thông báo của thành phố",
        targets=["00070", "00073"],
    )
    for code in ("00070", "00073", "01"):
        _, html = get(f"/portal/{code}/")
        assert "Thông báo của thành phố" in html, code
        assert Client().get(f"/portal/{code}/b/{b.pk}/").status_code == 200
    _, html = get(f"/portal/00070/b/{b.pk}/")
    assert "Thành phố Hà Nội" in html  # who published it
    assert "Thông báo của thành phố" not in get("/portal/26734/")[1]

    delivery = Delivery.objects.get(bulletin=b, commune=tree.hoankiem)
    services.delivery_decline(actor=staff.hk_operator, delivery=delivery, reason="Không phù hợp")

    assert "Thông báo của thành phố" not in get("/portal/00070/")[1]
    assert Client().get(f"/portal/00070/b/{b.pk}/").status_code == 404
    assert "Thông báo của thành phố" in get("/portal/00073/")[1]


def test_emergency_in_force_is_pinned_on_the_commune_page(tree, staff):
    from django.test import Client

    from thongtincoso.bulletins import services
    from thongtincoso.bulletins.tests.factories import published

    alarm = published(
        staff.hn_editor,
        staff.hn_approver,
        tree.hanoi,
        title="Bão số 3 đổ bộ",
        targets=["00070"],
        priority="emergency",
    )
    published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Lịch thu gom rác")
    page = Client().get("/portal/00070/").content.decode()
    banner = page.split('class="emergency-banner"', 1)[1].split("</section>", 1)[0]
    assert "Bão số 3 đổ bộ" in banner
    assert "Lịch thu gom rác" not in banner
    # A commune that was not targeted has no banner; a withdrawn emergency leaves the page.
    assert "emergency-banner" not in Client().get("/portal/00073/").content.decode()
    services.bulletin_withdraw(actor=staff.hn_approver, bulletin=alarm, reason="Đã qua")
    assert "emergency-banner" not in Client().get("/portal/00070/").content.decode()

"""The injection battery on the staff side: the same stored-XSS payloads (portal/tests/xss.py) in a
commune's bulletins and in a province bulletin relayed to it, then every staff page that shows them
(list, search, detail, revisions, diff, approval queue, inbox, notifications) is checked.

Staff pages carry our own scripts (htmx, the editor), so the check is on what a payload would add:
event-handler attributes, script-bearing URLs and elements, and script text that is not ours.
"""

from __future__ import annotations

from html.parser import HTMLParser

from django.urls import reverse

from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin, Delivery
from thongtincoso.portal.tests.xss import BAD_SCHEMES, PAYLOADS, URL_ATTRIBUTES

from .factories import draft

PAYLOAD_MARKERS = ("alert(", "PHNjcmlwdD5")  # every payload calls alert() or carries it base64'd
OUR_SCRIPTS = ("/static/", "/jsi18n/")  # package assets and Django's JavaScript catalog
FORBIDDEN_ELEMENTS = {"iframe", "object", "embed", "base", "frame", "frameset", "applet"}


class StaffPageAudit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_ELEMENTS:
            self.problems.append(f"<{tag}> element")
        if tag == "meta" and any(name == "http-equiv" for name, _ in attrs):
            self.problems.append("<meta http-equiv>")
        for name, value in attrs:
            if name.startswith("on") or name == "srcdoc":
                self.problems.append(f"{name}= on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                squeezed = "".join(ch for ch in value if ord(ch) > 0x20).lower()
                if squeezed.startswith(BAD_SCHEMES):
                    self.problems.append(f"{name}={value!r} on <{tag}>")
            if name == "style" and value and "expression" in value.lower():
                self.problems.append(f"style expression on <{tag}>")
        if tag == "script":
            src = dict(attrs).get("src")
            if src is not None and not src.startswith(OUR_SCRIPTS):
                self.problems.append(f"<script src={src!r}>")
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and any(marker in data for marker in PAYLOAD_MARKERS):
            self.problems.append(f"payload inside <script>: {data[:60]!r}")


def problems_in(html: str) -> list[str]:
    audit = StaffPageAudit()
    audit.feed(html)
    audit.close()
    return audit.problems


def test_no_staff_page_carries_executable_markup(tree, staff, client_for):
    own: list[Bulletin] = []
    for n, payload in enumerate(PAYLOADS):
        b = draft(
            staff.hk_editor,
            tree.hoankiem,
            title=payload,
            summary=payload,
            body=f"<p>{payload}</p>",
            source_note=payload,
            tags=[f"{n}{payload}"[:50]],
        )
        services.bulletin_update(
            actor=staff.hk_editor, bulletin=b, version=b.version, title=f"{payload} v2"
        )
        if n % 2:
            services.bulletin_submit(actor=staff.hk_editor, bulletin=b)
        # Written around the services too, so only the output side protects the page.
        Bulletin.objects.filter(pk=b.pk).update(body=f"<p>{payload}</p>{payload}")
        own.append(b)
    relayed = draft(staff.hn_editor, tree.hanoi, title=PAYLOADS[6], targets=["00070"])
    services.bulletin_submit(actor=staff.hn_editor, bulletin=relayed)
    services.bulletin_approve(actor=staff.hn_approver, bulletin=relayed)
    assert Delivery.objects.filter(bulletin=relayed, commune=tree.hoankiem).exists()

    shared = ["/bulletins/", "/bulletins/?q=" + PAYLOADS[0], "/bulletins/notifications/"]
    for b in own:
        shared += [
            reverse("bulletins:detail", args=[b.pk]),
            reverse("bulletins:revisions", args=[b.pk]),
            reverse("bulletins:revision_diff", args=[b.pk, 1, 2]),
        ]
    # Drafts (even n) can still be edited; submitted ones are not editable.
    editor_only = ["/bulletins/inbox/"] + [
        reverse("bulletins:edit", args=[b.pk]) for n, b in enumerate(own) if n % 2 == 0
    ]
    for user, pages in (
        (staff.hk_editor, shared + editor_only),
        (staff.hk_approver, [*shared, "/bulletins/queue/"]),
    ):
        client = client_for(user)
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, f"{user.username} {path}"
            found = problems_in(response.content.decode())
            assert found == [], f"{user.username} {path}: {found}"

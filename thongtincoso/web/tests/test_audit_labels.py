"""Readable audit actions: every action code in the code base has a label, and pages show it."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.template import Context, Template
from django.utils import translation

from thongtincoso.accounts.roles import Role
from thongtincoso.units.services import unit_update, zone_create
from thongtincoso.web.audit_labels import AUDIT_ACTION_LABELS, action_label

from .test_forms import VIETNAMESE

# `action="app.entity.verb"` as services and signals pass it to audit_record().
ACTION_CODE = re.compile(r"""\baction\s*=\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+){2,})["']""")


def _source_files() -> list[Path]:
    root = Path(settings.BASE_DIR) / "thongtincoso"
    return [
        path
        for path in root.rglob("*.py")
        if "tests" not in path.relative_to(root).parts
        and "migrations" not in path.relative_to(root).parts
    ]


def _action_codes_in_sources() -> dict[str, str]:
    """Each action code written in the (non-test) sources, with one file that writes it."""
    found: dict[str, str] = {}
    for path in _source_files():
        for code in ACTION_CODE.findall(path.read_text(encoding="utf-8")):
            found.setdefault(code, str(path.relative_to(settings.BASE_DIR)))
    return found


def test_every_audit_action_in_the_code_has_a_label():
    codes = _action_codes_in_sources()
    # The scan itself works: it finds actions of services and of signal handlers.
    assert {"units.zone.retire", "accounts.user.set_password", "accounts.session.login"} <= set(
        codes
    )
    missing = {code: where for code, where in codes.items() if code not in AUDIT_ACTION_LABELS}
    assert missing == {}, (
        "Add these audit actions to thongtincoso/web/audit_labels.py (and translate them): "
        f"{missing}"
    )


def test_labels_are_translated_and_distinct():
    with translation.override("vi"):
        labels = {code: str(label) for code, label in AUDIT_ACTION_LABELS.items()}
    for code, label in labels.items():
        assert VIETNAMESE.search(label), f"{code}: {label!r} is not Vietnamese"
    assert len(set(labels.values())) == len(labels), "two actions read the same"
    with translation.override("en"):
        assert action_label("units.zone.retire") == "Zone retired"


def test_filter_falls_back_to_the_code():
    template = Template("{% load ttcs %}{{ a|action_label }}|{{ b|action_label }}")
    with translation.override("vi"):
        html = template.render(Context({"a": "units.zone.create", "b": "future.thing.happen"}))
    assert html == f"{AUDIT_ACTION_LABELS['units.zone.create']}|future.thing.happen"


def test_audit_page_shows_label_and_code(tree, make_user, client_for):
    admin = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    zone_create(actor=admin, commune=tree.hoankiem, name="Đông", type_name="Thôn")

    html = client_for(admin).get("/audit/", {"action": "units.zone"}).content.decode()

    with translation.override("vi"):
        label = action_label("units.zone.create")
    assert f"{label}<br><code>units.zone.create</code>" in html


def test_dashboard_recent_changes_show_labels_with_the_code_as_title(tree, make_user, client_for):
    admin = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    unit_update(actor=admin, unit=tree.hoankiem, committee_name="UBND phường Hoàn Kiếm")

    html = client_for(admin).get("/").content.decode()

    with translation.override("vi"):
        label = action_label("units.unit.update")
    assert f'<span title="units.unit.update">{label}</span>' in html
    assert "<code>units.unit.update</code>" not in html

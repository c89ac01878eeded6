"""Personal data never appears in public output.

A sender leaves a name, a phone number and an e-mail address (the contact fields), and also types
the phone number and e-mail into the description. Their feedback goes through the whole life
(accepted, answered, a bulletin made from the answer and published on the portal, merged,
rejected, sent through Open311). Then every address anyone may open without logging in is
fetched, and none may contain the name, the phone number in any writing, or the e-mail.

Every URL pattern of the site must be listed below, as public (fetched, must answer as stated)
or as staff-only (fetched anonymously, must not answer 200): a new page makes this test fail
until it is added here, so no public page escapes the check.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import role_assign
from thongtincoso.bulletins import services as bulletin_services
from thongtincoso.bulletins.models import Bulletin
from thongtincoso.feedback import services
from thongtincoso.feedback.models import Contact, Feedback, Source

from .factories import make_officer, reload, submission

NAME = "Trần Thị Bích Ngọc"
PHONE = "0912345678"
EMAIL = "bich.ngoc.sender@vidu.vn"
# How people write the same number (all must be masked or absent).
PHONE_WRITTEN = ["0912 345 678", "+84 912.345.678", "0912-345-678"]
DEVICE_ID = "device-7f3a9c-secret"


@dataclass
class World:
    received: Feedback  # not yet checked: only its tracking page shows it
    answered: Feedback  # accepted, answered, bulletin published
    duplicate: Feedback  # merged into `answered`
    rejected: Feedback
    transferred: Feedback
    via_open311: Feedback
    bulletin: Bulletin
    unit_codes: list[str]


def _send(commune: Any, *, description: str, source: str = Source.WEB, **kw: Any) -> Feedback:
    api_client = kw.pop("api_client", None)
    return services.feedback_submit(
        submission=submission(
            commune,
            description=description,
            address=kw.pop("address", f"Ngõ 5 Hàng Bông, gọi {PHONE_WRITTEN[1]}"),
            name=NAME,
            phone=kw.pop("phone", PHONE_WRITTEN[0]),
            email=EMAIL,
            source=source,
            **kw,
        ),
        api_client=api_client,
    )


@pytest.fixture
def world(tree: Any, make_user: Any) -> World:
    cache.clear()
    officer = make_officer(make_user, tree.hoankiem, "canbo")
    role_assign(actor=None, user=officer, role=Role.EDITOR, unit=tree.hoankiem)
    approver = make_user("lanhdao", tree.hoankiem, role=Role.APPROVER)
    make_officer(make_user, tree.cuanam, "canbo_cuanam")
    description = (
        f"Rác đổ trộm ở đầu ngõ 5 đã ba ngày. Liên hệ tôi: {PHONE_WRITTEN[0]}, "
        f"{PHONE_WRITTEN[2]} hoặc {EMAIL}. Số nhà 102, phạt 1.500.000 đồng ngày 13/02/2026."
    )

    answered = _send(tree.hoankiem, description=description)
    services.feedback_accept(actor=officer, feedback=answered)
    services.feedback_start(actor=officer, feedback=answered, note=f"Gọi lại {PHONE}")
    duplicate = _send(tree.hoankiem, description=description)
    services.feedback_merge(actor=officer, duplicate=duplicate, into=answered)
    services.answer_save(
        actor=officer,
        feedback=answered,
        text=f"Phường đã thu gom rác. Cán bộ đã gọi lại số {PHONE_WRITTEN[0]} để báo.",
    )
    services.answer_submit(actor=officer, feedback=answered)
    bulletin = services.answer_to_bulletin(actor=officer, feedback=answered)
    bulletin_services.bulletin_submit(actor=officer, bulletin=bulletin)
    bulletin = bulletin_services.bulletin_approve(actor=approver, bulletin=bulletin)

    rejected = _send(tree.hoankiem, description=description)
    services.feedback_reject(actor=officer, feedback=rejected, reason=f"Trùng, đã gọi {PHONE}")
    transferred = _send(tree.hoankiem, description=description)
    services.feedback_accept(actor=officer, feedback=transferred)
    services.feedback_transfer(
        actor=officer, feedback=transferred, to_unit=tree.cuanam, reason="Thuộc Cửa Nam"
    )
    received = _send(tree.hoankiem, description=description)
    client, _key = services.open311_key_create(name="Ứng dụng thử")
    via_open311 = _send(
        tree.hoankiem,
        description=description,
        source=Source.OPEN311,
        device_id=DEVICE_ID,
        api_client=client,
    )
    services.feedback_accept(actor=officer, feedback=via_open311)
    assert Contact.objects.count() == 6
    return World(
        received=reload(received),
        answered=reload(answered),
        duplicate=reload(duplicate),
        rejected=reload(rejected),
        transferred=reload(transferred),
        via_open311=reload(via_open311),
        bulletin=bulletin,
        unit_codes=[tree.nation.code, tree.hanoi.code, tree.hoankiem.code, tree.cuanam.code],
    )


# --- The site's URL patterns --------------------------------------------------------------------


def all_patterns() -> list[tuple[str, str]]:
    """(route, name) of every URL pattern, routes joined from their includes."""
    found: list[tuple[str, str]] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = namespace + (f"{p.namespace}:" if p.namespace else "")
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                found.append((prefix + str(p.pattern), namespace + (p.name or "")))

    walk(get_resolver().url_patterns, "", "")
    return found


def key(route: str, name: str) -> str:
    # Admin views and a few others share empty names; their route identifies them.
    return name if name and not name.endswith(":") else route


PathsFor = Callable[[World], list[str]]


def _track(w: World) -> list[str]:
    feedback = [w.received, w.answered, w.duplicate, w.rejected, w.transferred, w.via_open311]
    # Lower case and with a dash, as people type it from a phone call.
    return [f"/feedback/track/{f.code}/" for f in feedback] + [
        f"/feedback/track/{w.answered.code[:4].lower()}-{w.answered.code[4:].lower()}/"
    ]


def _public(w: World) -> list[Feedback]:
    return [w.answered, w.duplicate, w.transferred, w.via_open311]


def _portal(suffix: str) -> PathsFor:
    return lambda w: [f"/portal/{code}/{suffix}" for code in w.unit_codes]


def _open311(path: Callable[[World], list[str]]) -> PathsFor:
    return lambda w: [f"/open311/v2/{p}.{fmt}" for p in path(w) for fmt in ("json", "xml")]


# Addresses anyone may open, with what they answer. Every one is checked for personal data.
PUBLIC: dict[str, tuple[PathsFor, set[int]]] = {
    "healthz": (lambda w: ["/healthz"], {200}),
    "javascript-catalog": (lambda w: ["/jsi18n/"], {200}),
    # Language switch: POST only in use; a GET just goes back.
    "set_language": (lambda w: ["/i18n/setlang/"], {302, 405}),
    "api-v1:api-root": (lambda w: ["/api/v1/"], {200, 404}),
    "api-v1:openapi-json": (lambda w: ["/api/v1/openapi.json"], {200}),
    "api-v1:openapi-view": (lambda w: ["/api/v1/docs"], {200}),
    "api-v1:unit_detail": (lambda w: [f"/api/v1/units/{c}" for c in w.unit_codes], {200}),
    "api-v1:unit_patch": (lambda w: ["/api/v1/units/00070"], {200}),  # same address, GET
    "api-v1:unit_children": (
        lambda w: [f"/api/v1/units/{c}/children" for c in w.unit_codes],
        {200},
    ),
    "api-v1:category_list": (lambda w: ["/api/v1/categories"], {200}),
    "api-v1:language_list": (lambda w: ["/api/v1/languages"], {200}),
    "portal:home": (lambda w: ["/portal/"], {200}),
    "portal:unit": (_portal(""), {200}),
    "portal:bulletin": (lambda w: [f"/portal/00070/b/{w.bulletin.pk}/"], {200}),
    "portal:rss": (_portal("rss.xml"), {200}),
    "portal:atom": (_portal("atom.xml"), {200}),
    "portal:podcast": (_portal("podcast.xml"), {200}),
    # No attachment in this world: the address answers 404 (never a directory listing).
    "portal:attachment": (lambda w: ["/portal/files/1/a.pdf"], {404}),
    "radio_device_alerts_file": (
        lambda w: [f"/device-alerts/{c}.json" for c in w.unit_codes[1:]],
        {200, 404},
    ),
    "radio_device_manifest_file": (lambda w: [f"/device-manifests/{'0' * 64}.json"], {404}),
    "web:login": (lambda w: ["/login/"], {200}),
    "admin:login": (lambda w: ["/admin/login/"], {200}),
    # The e-board's page shell: content comes from the device manifest API, with a credential.
    "radio:kiosk": (lambda w: ["/radio/kiosk/"], {200}),
    "feedback:public_list": (
        lambda w: [
            "/feedback/",
            "/feedback/?province=01",
            "/feedback/?commune=00070",
            "/feedback/?category=moi-truong",
            "/feedback/?status=answered",
            "/feedback/?page=2",
        ],
        {200},
    ),
    "feedback:submit": (lambda w: ["/feedback/new/", "/feedback/new/?commune=00070"], {200}),
    "feedback:communes": (lambda w: ["/feedback/communes/?province=01"], {200}),
    "feedback:questions": (lambda w: ["/feedback/questions/?category=truyen-thanh"], {200}),
    "feedback:lookup": (
        lambda w: ["/feedback/track/", f"/feedback/track/?code={w.answered.code}"],
        {200, 302},
    ),
    "feedback:track": (_track, {200}),
    "feedback:reopen": (lambda w: [f"/feedback/track/{w.answered.code}/reopen/"], {200, 302, 405}),
    # The export form only: the export itself needs the phone or e-mail (POST).
    "feedback:export": (lambda w: ["/feedback/export/"], {200}),
    "feedback:public_detail": (
        lambda w: [f"/feedback/p/{f.code}/" for f in _public(w)],
        {200},
    ),
    "open311:discovery": (_open311(lambda w: ["discovery"]), {200}),
    "open311:services": (_open311(lambda w: ["services"]), {200}),
    "open311:service_definition": (
        _open311(lambda w: ["services/truyen-thanh", "services/moi-truong"]),
        {200, 400, 404},
    ),
    "open311:requests": (
        lambda w: [
            *(f"/open311/v2/requests.{fmt}" for fmt in ("json", "xml")),
            f"/open311/v2/requests.json?service_request_id={w.answered.code},{w.received.code}",
            "/open311/v2/requests.json?status=closed",
            "/open311/v2/requests.json?service_code=moi-truong&status=open",
        ],
        {200},
    ),
    "open311:request": (_open311(lambda w: [f"requests/{f.code}" for f in _public(w)]), {200}),
    "open311:token": (_open311(lambda w: [f"tokens/{w.via_open311.token}"]), {200}),
    "open311:not_found": (lambda w: ["/open311/v2/nothing-here"], {404}),
}

# Addresses not found for everybody else (rejected or unchecked feedback is not public).
HIDDEN: dict[str, PathsFor] = {
    "feedback:public_detail": lambda w: [
        f"/feedback/p/{w.received.code}/",
        f"/feedback/p/{w.rejected.code}/",
    ],
    "open311:request": _open311(
        lambda w: [f"requests/{w.received.code}", f"requests/{w.rejected.code}"]
    ),
}

# Staff pages: anonymous visitors are sent to log in (or refused). Fetched anonymously all the same.
STAFF = {
    "web:dashboard", "web:logout", "web:account", "web:password_change", "web:2fa_setup",
    "web:2fa_verify", "web:token_revoke", "web:unit_root", "web:unit_detail",
    "web:unit_children", "web:unit_edit", "web:zone_create", "web:zone_retire",
    "web:units_reload", "web:unit_users", "web:user_create", "web:user_detail", "web:user_edit",
    "web:user_deactivate", "web:user_reactivate", "web:user_set_password", "web:role_assign",
    "web:role_revoke", "web:audit", "web:job_progress", "web:job_cancel",
    "api-v1:unit_access", "api-v1:zone_create", "api-v1:me", "api-v1:token_list",
    "api-v1:token_create", "api-v1:token_revoke", "api-v1:unit_users", "api-v1:user_create",
    "api-v1:role_assign", "api-v1:role_revoke", "api-v1:bulletin_audio",
    "api-v1:bulletin_audio_render", "api-v1:bulletin_audio_upload", "api-v1:speech_normalize",
    "api-v1:job_cancel", "api-v1:bulletin_list", "api-v1:bulletin_create",
    "api-v1:bulletin_detail", "api-v1:bulletin_patch", "api-v1:bulletin_revisions",
    "api-v1:bulletin_deliveries", "api-v1:bulletin_transition", "api-v1:inbox",
    "api-v1:inbox_reorder", "api-v1:inbox_accept", "api-v1:inbox_decline", "api-v1:inbox_adapt",
    "bulletins:list", "bulletins:create", "bulletins:estimate", "bulletins:queue",
    "bulletins:inbox", "bulletins:inbox_accept", "bulletins:inbox_decline",
    "bulletins:inbox_adapt", "bulletins:inbox_move", "bulletins:settings", "bulletins:config",
    "bulletins:config_add", "bulletins:config_update", "bulletins:notifications",
    "bulletins:notifications_read", "bulletins:notification_open", "bulletins:detail",
    "bulletins:edit", "bulletins:autosave", "bulletins:transition", "bulletins:attachment_add",
    "bulletins:attachment_remove", "bulletins:revisions", "bulletins:revision_diff",
    "speech:bulletin_audio", "speech:render", "speech:upload", "speech:remove",
    "speech:audio_file", "speech:settings", "speech:jingle", "speech:abbreviation_add",
    "speech:abbreviation_remove", "speech:preview", "speech:preview_audio",
    "radio:index", "radio:station", "radio:station_settings", "radio:station_rules",
    "radio:queue_reorder", "radio:queue_move", "radio:slot_create", "radio:slot_edit",
    "radio:slot_delete", "radio:unit_rules", "radio:emergencies", "radio:emergency_new",
    "radio:emergency", "radio:emergency_act", "radio:devices", "radio:device_new",
    "radio:device", "radio:device_command", "radio:device_reenrol", "radio:device_revoke",
    "radio:reports",
    "radio_device:enrol", "radio_device:manifest", "radio_device:audio",
    "radio_device:heartbeat", "radio_device:playlog", "radio_device:credential_rotate",
    "feedback:staff_list", "feedback:staff_new", "feedback:staff_routing",
    "feedback:staff_routing_delete", "feedback:staff_unit_settings", "feedback:staff_holidays",
    "feedback:staff_holiday_delete", "feedback:staff_stats", "feedback:staff_stats_csv",
    "feedback:staff_detail", "feedback:staff_contact", "feedback:staff_photo",
    "feedback:staff_action",
}  # fmt: skip


def is_admin(route: str) -> bool:
    # Django's admin site: every page but its login needs a staff login; its patterns follow the
    # registered models, so they are checked by prefix rather than listed.
    return route.startswith("admin/") and route != "admin/login/"


def example_path(route: str, world: World) -> str:
    """A concrete address for a staff route, with arguments that exist where it matters."""
    code = world.answered.code
    if route.startswith("api/device/v1/^audio/"):
        return f"/api/device/v1/audio/{'a' * 64}.mp3"
    path = route.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", path)
    path = re.sub(r"<int:[^>]+>", "1", path)
    path = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000001", path)
    path = re.sub(
        r"<(?:str|slug):(code)>", code if route.startswith("feedback/") else "00070", path
    )
    path = re.sub(r"<(?:str|slug|path):[^>]+>", "x", path)
    path = re.sub(r"<([a-z_]+)>", lambda m: "00070" if m.group(1) == "code" else "1", path)
    return "/" + path.replace("\\.", ".")


# --- Looking for the personal data --------------------------------------------------------------


def _normalised(body: str) -> str:
    text = html.unescape(body)
    # JSON escapes (\u00e2) as well as raw text.
    with contextlib.suppress(ValueError):
        text += json.dumps(json.loads(body), ensure_ascii=False)
    return text.lower()


def leaks(body: str) -> list[str]:
    text = _normalised(body)
    found = [s for s in (NAME.lower(), EMAIL.lower(), "bich.ngoc.sender", DEVICE_ID) if s in text]
    # The phone however written: digits with spaces, dots, dashes or brackets in between.
    digits_joined = re.sub(r"(?<=\d)[\s.\-()]+(?=\d)", "", text)
    if "912345678" in digits_joined:
        found.append("phone")
    return found


def fetch(client: Client, path: str) -> Any:
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="vi")
    streamed = getattr(response, "streaming_content", None)
    body = b"".join(streamed) if response.streaming and streamed is not None else response.content
    return response, body.decode("utf-8", errors="replace")


# --- The test -----------------------------------------------------------------------------------


def test_every_url_pattern_is_listed() -> None:
    """A new URL pattern must be added to PUBLIC (and so checked) or to STAFF."""
    keys = {key(route, name) for route, name in all_patterns() if not is_admin(route)}
    unlisted = keys - set(PUBLIC) - STAFF
    assert not unlisted, f"Add these to PUBLIC or STAFF in {__name__}: {sorted(unlisted)}"
    gone = (set(PUBLIC) | STAFF) - keys
    assert not gone, f"These patterns no longer exist; remove them: {sorted(gone)}"


def test_personal_data_never_appears_in_public_output(world: World) -> None:
    # A crash is reported with the rest (as a 500), not raised at the first one.
    client = Client(raise_request_exception=False)
    problems: list[str] = []
    fetched = 0
    for name, (paths, statuses) in PUBLIC.items():
        for path in paths(world):
            response, body = fetch(client, path)
            fetched += 1
            if response.status_code not in statuses:
                problems.append(f"{path} ({name}) answered {response.status_code}")
            if found := leaks(body):
                problems.append(f"{path} ({name}) shows {found}")
    for name, paths in HIDDEN.items():
        for path in paths(world):
            response, body = fetch(client, path)
            if response.status_code != 404:
                problems.append(f"{path} ({name}) answered {response.status_code}, not 404")
            if found := leaks(body):
                problems.append(f"{path} ({name}) shows {found}")
    for route, name in all_patterns():
        if key(route, name) not in STAFF and not is_admin(route):
            continue
        path = example_path(route, world)
        response, body = fetch(client, path)
        fetched += 1
        if response.status_code == 200 or response.status_code >= 500:
            problems.append(f"{path} ({name or route}) answered {response.status_code}")
        if found := leaks(body):
            problems.append(f"{path} ({name or route}) shows {found}")
    assert not problems, "\n".join(problems)
    assert fetched > 150


def test_public_output_really_shows_the_feedback(world: World) -> None:
    """The pages above were checked with the feedback on them (not empty lists or errors)."""
    client = Client()
    answer = "Phường đã thu gom rác"
    shown = {
        f"/feedback/p/{world.answered.code}/": [world.answered.code, answer, "đầu ngõ 5"],
        f"/feedback/p/{world.duplicate.code}/": [world.duplicate.code, answer],
        f"/feedback/track/{world.received.code}/": [world.received.code, "đầu ngõ 5"],
        "/feedback/": [world.answered.code, world.via_open311.code],
        "/open311/v2/requests.json": [world.answered.code, answer],
        f"/open311/v2/tokens/{world.via_open311.token}.json": [world.via_open311.code],
        f"/portal/00070/b/{world.bulletin.pk}/": [world.answered.code, answer],
        "/portal/00070/rss.xml": [world.answered.code],
    }
    for path, wanted in shown.items():
        response, body = fetch(client, path)
        assert response.status_code == 200, path
        text = _normalised(body)
        for piece in wanted:
            assert piece.lower() in text, (path, piece)
        # Dates and amounts in the description stay readable where the description is shown.
        if "đầu ngõ 5" in wanted:
            assert "1.500.000 đồng" in text, path
            assert "13/02/2026" in text, path


@pytest.mark.parametrize(
    "body",
    [
        f"<p>{NAME}</p>",
        json.dumps({"x": f"gọi {PHONE}"}),  # JSON escapes the Vietnamese, not the digits
        json.dumps({"name": NAME}),
        "Liên hệ +84 912.345.678",
        "Liên hệ (+84) 912-345-678",
        "Liên hệ 0912&#32;345&#32;678",
        EMAIL.upper(),
        f"device {DEVICE_ID}",
    ],
)
def test_leak_detector_finds_every_writing(body: str) -> None:
    assert leaks(body)


def test_leak_detector_ignores_other_numbers() -> None:
    assert not leaks("Phạt 1.500.000 đồng ngày 13/02/2026, hotline 1900 1234, mã 0987654321")

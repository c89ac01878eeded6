"""Enrolment codes, credentials, rotation and revocation, through the device's own HTTP calls."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.core.errors import PermissionDeniedError, ServiceError
from thongtincoso.radio import credentials
from thongtincoso.radio.credentials import (
    ENROLMENT_ALPHABET,
    device_revoke,
    enrol,
    enrolment_issue,
    normalise_enrolment_code,
)
from thongtincoso.radio.models import Device
from thongtincoso.radio.tests.test_devices import (  # noqa: F401  (fixtures)
    _english,
    enrolled,
    make_device,
    manifest_root,
    tech,
)

pytestmark = [
    pytest.mark.usefixtures("manifest_root"),
]


def post_enrol(client: Client, code: Any) -> Any:
    return client.post(
        "/api/device/v1/enrol",
        json.dumps({"enrolment_code": code}),
        content_type="application/json",
    )


def get_manifest(client: Client, credential: str, **headers: Any) -> Any:
    return client.get(
        "/api/device/v1/manifest", HTTP_AUTHORIZATION=f"Bearer {credential}", **headers
    )


def test_codes_avoid_confusable_characters_and_read_back_loosely():
    assert not set("0O1IL") & set(ENROLMENT_ALPHABET)
    assert normalise_enrolment_code("abcd-efgh-jkmn") == "ABCDEFGHJKMN"
    assert normalise_enrolment_code(" ABCD EFGH JKMN ") == "ABCDEFGHJKMN"
    assert normalise_enrolment_code("ABCD-EFGH-JKM0") is None  # a zero is never issued
    assert normalise_enrolment_code("ABCD-EFGH") is None
    assert normalise_enrolment_code(12) is None  # type: ignore[arg-type]


def test_a_device_enrols_once_and_gets_its_credential(tree, client, settings):
    _device, code = make_device(tree.hoankiem, "HK-01", zone=tree.zone)
    # Lower case, without dashes: still the code.
    response = post_enrol(client, code.replace("-", "").lower())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["device"] == "HK-01"
    credential = body["credential"]
    assert credential.startswith("ttcsd_")
    assert len(credential) > 40
    capability = credentials.capability_for(credential)
    assert body["manifest_url"] == f"/device-manifests/{capability}.json"
    assert body["poll_interval"] >= 2
    assert body["mqtt_topics"] == [
        "ttcs/devices/HK-01/events",
        "ttcs/zones/00070.001/events",
        "ttcs/communes/00070/events",
        "ttcs/provinces/01/events",
    ]
    device = Device.objects.get(code="HK-01")
    # Stored as hashes only; the code is used up.
    assert device.credential_hash == credentials.sha256_hex(credential)
    assert device.enrolment_code_hash is None
    assert device.enrolled_at is not None
    # The manifest is already on disk at the capability URL.
    assert (Path(settings.TTCS_MANIFEST_ROOT) / capability[:2] / f"{capability}.json").exists()
    assert client.get(body["manifest_url"]).status_code == 200
    assert get_manifest(client, credential).status_code == 200
    # Single use.
    again = post_enrol(client, code)
    assert again.status_code == 400
    assert again.json()["field"] == "enrolment_code"
    record = AuditRecord.objects.get(action="radio.device.enrol")
    assert record.actor_id is None
    assert credential not in json.dumps([record.before, record.after])


def test_an_expired_or_wrong_code_is_refused(tree, client):
    device, code = make_device(tree.hoankiem, "HK-01")
    Device.objects.filter(pk=device.pk).update(
        enrolment_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert post_enrol(client, code).status_code == 400
    assert post_enrol(client, "ABCD-EFGH-JKMN").status_code == 400
    assert post_enrol(client, "").status_code == 400
    device.refresh_from_db()
    assert device.credential_hash is None
    with pytest.raises(ServiceError):
        enrol(code)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"enrolment_code": 123456789012}', b'{"code": "x"}', b"\xff\xfe"],
)
def test_malformed_enrolment_requests_get_400(tree, client, body):
    response = client.post("/api/device/v1/enrol", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_enrolment_is_rate_limited_per_address(tree, settings):
    settings.TTCS_API_ANON_RATE = "3/m"
    cache.clear()
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    codes = [post_enrol(guesser, "ABCD-EFGH-JKMN").status_code for _ in range(3)]
    assert codes == [400, 400, 400]
    blocked = post_enrol(guesser, "ABCD-EFGH-JKMN")
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert blocked.json()["detail"]
    _device, code = make_device(tree.hoankiem, "HK-01")
    assert post_enrol(Client(REMOTE_ADDR="203.0.113.10"), code).status_code == 201
    cache.clear()


def test_reenrolment_keeps_the_old_credential_until_the_new_code_is_used(
    tree,
    client,
    tech,  # noqa: F811
):
    device, old = enrolled(tree.hoankiem, "HK-01")
    old_file = credentials.device_manifest_path(device)
    assert old_file is not None
    assert old_file.exists()
    code = enrolment_issue(actor=tech, device=device)
    assert get_manifest(client, old).status_code == 200
    response = post_enrol(client, code)
    assert response.status_code == 201
    new = response.json()["credential"]
    assert new != old
    assert not old_file.exists()
    assert get_manifest(client, old).status_code == 401
    assert get_manifest(client, new).status_code == 200
    assert AuditRecord.objects.filter(action="radio.device.enrolment_issue").count() == 1


def test_revocation_takes_effect_on_the_next_request(tree, client, tech):  # noqa: F811
    device, credential = enrolled(tree.hoankiem, "HK-01")
    first = get_manifest(client, credential)
    assert first.status_code == 200
    path = credentials.device_manifest_path(device)
    assert path is not None
    assert path.exists()
    device_revoke(actor=tech, device=device, reason="stolen")
    assert not path.exists()
    # Every endpoint, including the conditional poll with the ETag it had.
    assert get_manifest(client, credential, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 401
    assert get_manifest(client, credential).status_code == 401
    beat = client.post(
        "/api/device/v1/heartbeat", "{}", content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {credential}",
    )  # fmt: skip
    assert beat.status_code == 401
    assert beat["WWW-Authenticate"].startswith("Bearer")
    assert client.get(first.wsgi_request.path).status_code == 401
    device.refresh_from_db()
    assert device.revoked_at is not None
    assert device.credential_hash is None
    record = AuditRecord.objects.get(action="radio.device.revoke")
    assert record.actor_id == tech.pk
    assert record.after["reason"] == "stolen"
    # Enrolling again brings it back.
    code = enrolment_issue(actor=tech, device=device)
    _same, fresh = enrol(code)
    assert get_manifest(client, fresh).status_code == 200


def test_only_device_managers_revoke_or_issue_codes(tree, make_user):
    device, credential = enrolled(tree.hoankiem, "HK-01")
    operator = make_user("op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
    with pytest.raises(PermissionDeniedError):
        device_revoke(actor=operator, device=device)
    with pytest.raises(PermissionDeniedError):
        enrolment_issue(actor=operator, device=device)
    device.refresh_from_db()
    assert device.revoked_at is None
    assert device.enrolment_code_hash is None
    assert credentials.device_for_credential(credential) == device


def test_the_device_rotates_its_credential(tree, client):
    _device, old = enrolled(tree.hoankiem, "HK-01")
    old_url = f"/device-manifests/{credentials.capability_for(old)}.json"
    assert client.get(old_url).status_code == 200
    response = client.post(
        "/api/device/v1/credential/rotate", b"", content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {old}",
    )  # fmt: skip
    assert response.status_code == 200
    new = response.json()["credential"]
    assert (
        response.json()["manifest_url"]
        == f"/device-manifests/{credentials.capability_for(new)}.json"
    )
    assert client.get(old_url).status_code == 404
    assert get_manifest(client, old).status_code == 401
    assert get_manifest(client, new).status_code == 200
    assert client.get(response.json()["manifest_url"]).status_code == 200
    assert AuditRecord.objects.filter(action="radio.device.credential_rotate").count() == 1


def test_device_for_credential_ignores_what_is_not_a_credential(tree):
    device, credential = enrolled(tree.hoankiem, "HK-01")
    assert credentials.device_for_credential(credential) == device
    assert credentials.device_for_credential("") is None
    assert credentials.device_for_credential(credential[:-1]) is None
    assert credentials.device_for_credential("ttcsd_" + "x" * 200) is None
    assert credentials.device_for_credential(credentials.sha256_hex(credential)) is None


def test_json_nested_too_deep_is_a_400_not_a_500(client: Client) -> None:
    for body in (b"[" * 3000, b'{"a":' * 10 + b"[" * 3000):
        response = client.post("/api/device/v1/enrol", body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["detail"]

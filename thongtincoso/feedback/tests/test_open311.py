"""Open311 GeoReport v2: every endpoint in XML and JSON, the spec's errors, no personal data out."""

from __future__ import annotations

import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from PIL import Image

from thongtincoso.accounts.roles import Role
from thongtincoso.feedback import services
from thongtincoso.feedback.models import (
    Contact,
    Feedback,
    Open311Client,
    Photo,
    Source,
    Status,
)

BASE = "/open311/v2"
FORMATS = ["xml", "json"]
FORM = "application/x-www-form-urlencoded"

NAME_FIRST, NAME_LAST = "Nguyễn", "Thị Bí Mật"
PHONE = "0912345678"
EMAIL = "bimat@vidu.vn"
DEVICE = "device-xyz-123456"


# --- Helpers ------------------------------------------------------------------------------------


def _xml_dict(element: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in element:
        out[child.tag] = _xml_dict(child) if len(child) else (child.text or "")
    return out


def items(response: Any, fmt: str) -> list[dict[str, Any]]:
    """A list response (services, requests, errors) as dicts; XML values are text."""
    if fmt == "json":
        assert response["Content-Type"] == "application/json; charset=utf-8"
        data = json.loads(response.content)
        assert isinstance(data, list)
        return data
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b"<?xml")
    root = ET.fromstring(response.content)  # noqa: S314  (our own output, in a test)
    return [_xml_dict(child) for child in root]


def root_of(response: Any) -> ET.Element:
    return ET.fromstring(response.content)  # noqa: S314  (our own output, in a test)


def assert_error(response: Any, fmt: str, code: int) -> str:
    assert response.status_code == code
    if fmt == "xml":
        root = root_of(response)
        assert root.tag == "errors"
        assert [child.tag for child in root] == ["error"]
    errors = items(response, fmt)
    assert len(errors) == 1
    assert str(errors[0]["code"]) == str(code)
    assert errors[0]["description"]
    return str(errors[0]["description"])


def post(client: Client, fmt: str, data: dict[str, Any]) -> Any:
    return client.post(f"{BASE}/requests.{fmt}", urlencode(data, doseq=True), content_type=FORM)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def key(db: Any) -> str:
    return services.open311_key_create(name="Ứng dụng thành phố")[1]


@pytest.fixture
def officer(tree: Any, make_user: Any) -> Any:
    return make_user("officer", tree.nation, role=Role.FEEDBACK_OFFICER)


@pytest.fixture
def valid(tree: Any, key: str) -> dict[str, Any]:
    return {
        "api_key": key,
        "service_code": "giao-thong",
        "commune_code": tree.hoankiem.code,
        "lat": "21.028511",
        "long": "105.852100",
        "address_string": "Số 1 Tràng Tiền",
        "description": "Ổ gà lớn giữa đường, xe máy dễ ngã.",
    }


def submit(
    commune: str = "00070", category: str = "giao-thong", description: str = "Đèn hỏng", **kw: Any
) -> Feedback:
    return services.feedback_submit(
        submission=services.Submission(
            category=category,
            commune=commune,
            description=description,
            address=kw.pop("address", "Phố Huế"),
            **kw,
        )
    )


def public_feedback(officer: Any, **kw: Any) -> Feedback:
    feedback = submit(**kw)
    return services.feedback_accept(actor=officer, feedback=feedback)


# --- Discovery and services ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery(client: Client, db: Any, fmt: str) -> None:
    response = client.get(f"{BASE}/discovery.{fmt}")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    if fmt == "json":
        data = json.loads(response.content)
        endpoint = data["endpoints"][0]
        formats = endpoint["formats"]
        assert "open311_key" in data["key_service"]
    else:
        root = root_of(response)
        assert root.tag == "discovery"
        assert "open311_key" in (root.findtext("key_service") or "")
        endpoint_el = root.find("endpoints/endpoint")
        assert endpoint_el is not None
        endpoint = _xml_dict(endpoint_el)
        formats = [f.text for f in endpoint_el.findall("formats/format")]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["type"] == "production"
    assert endpoint["changeset"]
    assert formats == ["text/xml", "application/json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_lists_active_categories(client: Client, db: Any, fmt: str) -> None:
    from thongtincoso.feedback.models import Category

    Category.objects.filter(code="khac").update(is_active=False)
    response = client.get(f"{BASE}/services.{fmt}")
    assert response.status_code == 200
    if fmt == "xml":
        assert root_of(response).tag == "services"
        assert {child.tag for child in root_of(response)} == {"service"}
    by_code = {s["service_code"]: s for s in items(response, fmt)}
    assert "khac" not in by_code
    assert "giao-thong" in by_code
    radio, roads = by_code["truyen-thanh"], by_code["giao-thong"]
    assert radio["type"] == "realtime"
    assert radio["group"] == "Thông tin cơ sở"
    assert radio["service_name"] == "Loa truyền thanh, thông tin cơ sở"
    if fmt == "json":
        assert radio["metadata"] is True
        assert roads["metadata"] is False
    else:
        assert radio["metadata"] == "true"
        assert roads["metadata"] == "false"


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition_with_values(client: Client, db: Any, fmt: str) -> None:
    response = client.get(f"{BASE}/services/truyen-thanh.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        data = json.loads(response.content)
        assert data["service_code"] == "truyen-thanh"
        attribute = data["attributes"][0]
        assert attribute["variable"] is True
        assert attribute["required"] is True
        assert attribute["order"] == 1
        keys = [v["key"] for v in attribute["values"]]
    else:
        root = root_of(response)
        assert root.tag == "service_definition"
        assert root.findtext("service_code") == "truyen-thanh"
        element = root.find("attributes/attribute")
        assert element is not None
        attribute = _xml_dict(element)
        assert attribute["variable"] == "true"
        assert attribute["required"] == "true"
        assert attribute["order"] == "1"
        keys = [v.findtext("key") for v in element.findall("values/value")]
        assert element.find("values/value/name") is not None
    assert attribute["code"] == "van-de"
    assert attribute["datatype"] == "singlevaluelist"
    assert attribute["description"] == "Vấn đề với loa"
    assert keys == ["khong-nghe-ro", "qua-to", "khong-hoat-dong", "sai-gio"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_or_inactive_definition_404(client: Client, db: Any, fmt: str) -> None:
    from thongtincoso.feedback.models import Category

    assert_error(client.get(f"{BASE}/services/khong-co.{fmt}"), fmt, 404)
    Category.objects.filter(code="khac").update(is_active=False)
    assert_error(client.get(f"{BASE}/services/khac.{fmt}"), fmt, 404)


@pytest.mark.parametrize("path", ["discovery.html", "services.yaml", "requests", "nowhere.json"])
def test_bad_format_or_path_404_json(client: Client, db: Any, path: str) -> None:
    assert_error(client.get(f"{BASE}/{path}"), "json", 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_method_405(client: Client, db: Any, fmt: str) -> None:
    response = client.post(f"{BASE}/services.{fmt}")
    assert_error(response, fmt, 405)
    assert response["Allow"] == "GET"


# --- Posting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_creates_one_feedback_with_contact(
    client: Client, valid: dict[str, Any], fmt: str
) -> None:
    data = {
        **valid,
        "first_name": NAME_FIRST,
        "last_name": NAME_LAST,
        "phone": PHONE,
        "email": EMAIL,
        "device_id": DEVICE,
        "account_id": "acc-42",
        "media_url": "http://127.0.0.1/secret.jpg",
    }
    response = post(client, fmt, data)
    assert response.status_code == 201, response.content
    if fmt == "xml":
        assert root_of(response).tag == "service_requests"
    (created,) = items(response, fmt)
    feedback = Feedback.objects.get()
    assert created["service_request_id"] == feedback.code
    assert created["token"] == feedback.token
    assert feedback.due_date.strftime("%d/%m/%Y") in created["service_notice"]
    assert feedback.source == Source.OPEN311
    assert feedback.api_client is not None
    assert feedback.api_client.name == "Ứng dụng thành phố"
    assert feedback.category.code == "giao-thong"
    assert feedback.commune.code == "00070"
    assert str(feedback.lat) == "21.028511"
    assert feedback.address == "Số 1 Tràng Tiền"
    # The personal data sits in Contact only, never on the feedback itself.
    contact = Contact.objects.get()
    assert contact.feedback_id == feedback.pk
    assert contact.name == f"{NAME_FIRST} {NAME_LAST}"
    assert contact.phone == PHONE
    assert contact.email == EMAIL
    assert contact.device_id == DEVICE
    for secret in (NAME_LAST, PHONE, EMAIL, DEVICE):
        assert secret not in feedback.description + feedback.address + json.dumps(
            feedback.attributes
        )
    assert Open311Client.objects.get().last_used_at is not None


def test_post_attributes_and_address_only(client: Client, valid: dict[str, Any]) -> None:
    data = {k: v for k, v in valid.items() if k not in ("lat", "long")}
    data.update(service_code="truyen-thanh", **{"attribute[van-de]": "qua-to"})
    response = post(client, "json", data)
    assert response.status_code == 201, response.content
    feedback = Feedback.objects.get()
    assert feedback.attributes == {"van-de": "qua-to"}
    assert feedback.lat is None
    assert not Contact.objects.exists()


def test_post_required_attribute_missing_400(client: Client, valid: dict[str, Any]) -> None:
    response = post(client, "json", {**valid, "service_code": "truyen-thanh"})
    description = assert_error(response, "json", 400)
    assert "attribute[van-de]" in description
    assert not Feedback.objects.exists()


def test_post_with_media(client: Client, valid: dict[str, Any]) -> None:
    files = [SimpleUploadedFile(f"p{i}.jpg", jpeg(), content_type="image/jpeg") for i in range(2)]
    response = client.post(f"{BASE}/requests.json", {**valid, "media": files})
    assert response.status_code == 201, response.content
    assert Photo.objects.filter(feedback=Feedback.objects.get()).count() == 2


def test_last_used_written_at_most_once_a_minute(client: Client, valid: dict[str, Any]) -> None:
    assert post(client, "json", valid).status_code == 201
    first = Open311Client.objects.get().last_used_at
    assert post(client, "json", valid).status_code == 201
    assert Open311Client.objects.get().last_used_at == first
    earlier = timezone.now() - dt.timedelta(minutes=5)
    Open311Client.objects.update(last_used_at=earlier)
    assert post(client, "json", valid).status_code == 201
    assert Open311Client.objects.get().last_used_at > earlier  # type: ignore[operator]


@pytest.mark.parametrize("fmt", FORMATS)
def test_token_lookup(client: Client, valid: dict[str, Any], fmt: str) -> None:
    created = json.loads(post(client, "json", valid).content)[0]
    response = client.get(f"{BASE}/tokens/{created['token']}.{fmt}")
    assert response.status_code == 200
    assert items(response, fmt) == [
        {"service_request_id": created["service_request_id"], "token": created["token"]}
    ]
    assert_error(client.get(f"{BASE}/tokens/khong-co-token.{fmt}"), fmt, 404)


# --- Posting: errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_without_key_403(client: Client, valid: dict[str, Any], fmt: str) -> None:
    data = {k: v for k, v in valid.items() if k != "api_key"}
    assert_error(post(client, fmt, data), fmt, 403)
    assert_error(post(client, fmt, {**data, "api_key": "ttcs311_abcd_nope"}), fmt, 403)
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_revoked_key_403(client: Client, valid: dict[str, Any], fmt: str) -> None:
    services.open311_key_revoke(client=Open311Client.objects.get())
    assert_error(post(client, fmt, valid), fmt, 403)
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"service_code": "khong-co"}, "service_code"),
        ({"service_code": ""}, "service_code"),
        ({"lat": "", "long": "", "address_string": ""}, "location"),
        ({"commune_code": ""}, "commune_code"),
        ({"commune_code": "99999"}, "commune_code"),
        ({"description": "x" * 4001}, "description"),
        ({"lat": "48.85", "long": "2.35"}, "lat"),
        ({"email": "not-an-email"}, "email"),
        ({"description": "nul\x00byte"}, "NUL"),
    ],
)
def test_post_invalid_400_nothing_stored(
    client: Client, valid: dict[str, Any], fmt: str, change: dict[str, str], word: str
) -> None:
    # Messages follow the language cookie (Vietnamese by default); assert on the English ones.
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    description = assert_error(post(client, fmt, {**valid, **change}), fmt, 400)
    assert word in description
    assert not Feedback.objects.exists()
    assert not Contact.objects.exists()


def test_post_needs_no_csrf_token(valid: dict[str, Any]) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, "json", valid).status_code == 201


def test_post_address_id_counts_as_location(client: Client, valid: dict[str, Any]) -> None:
    data = {k: v for k, v in valid.items() if k not in ("lat", "long", "address_string")}
    response = post(client, "json", {**data, "address_id": "HK-123"})
    assert response.status_code == 201
    assert Feedback.objects.get().address == "HK-123"


@pytest.mark.parametrize("fmt", FORMATS)
def test_script_as_media_400_nothing_stored(
    client: Client, valid: dict[str, Any], fmt: str
) -> None:
    script = SimpleUploadedFile("anh.jpg", b"<script>alert(1)</script>", content_type="image/jpeg")
    response = client.post(f"{BASE}/requests.{fmt}", {**valid, "media": [script]})
    assert "media" in assert_error(response, fmt, 400)
    assert not Feedback.objects.exists()
    assert not Photo.objects.exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_six_media_400(client: Client, valid: dict[str, Any], fmt: str) -> None:
    files = [SimpleUploadedFile(f"p{i}.jpg", jpeg(), content_type="image/jpeg") for i in range(6)]
    response = client.post(f"{BASE}/requests.{fmt}", {**valid, "media": files})
    assert_error(response, fmt, 400)
    assert not Feedback.objects.exists()


def test_broken_multipart_400(client: Client, valid: dict[str, Any]) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb',
        content_type="multipart/form-data",  # no boundary
    )
    assert_error(response, "json", 400)


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_rate_limit_per_key_429(
    client: Client, valid: dict[str, Any], fmt: str, settings: Any
) -> None:
    settings.TTCS_OPEN311_RATE_KEY = "1/m"
    # A request refused for its content gives its place back.
    assert post(client, fmt, {**valid, "description": ""}).status_code == 400
    assert post(client, fmt, valid).status_code == 201
    response = post(client, fmt, valid)
    assert_error(response, fmt, 429)
    assert int(response["Retry-After"]) >= 1
    assert Feedback.objects.count() == 1
    # Another application's key has its own allowance.
    other = services.open311_key_create(name="Another app")[1]
    assert post(client, fmt, {**valid, "api_key": other}).status_code == 201


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_rate_limit_per_address_429(client: Client, db: Any, fmt: str, settings: Any) -> None:
    settings.TTCS_PORTAL_RATE = "2/m"
    assert client.get(f"{BASE}/services.{fmt}").status_code == 200
    assert client.get(f"{BASE}/services.{fmt}").status_code == 200
    response = client.get(f"{BASE}/services.{fmt}")
    assert_error(response, fmt, 429)
    assert response["Retry-After"]


# --- Reading requests ---------------------------------------------------------------------------


def codes(response: Any, fmt: str) -> list[str]:
    assert response.status_code == 200, response.content
    return [str(r["service_request_id"]) for r in items(response, fmt)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_list_fields(client: Client, officer: Any, fmt: str) -> None:
    feedback = public_feedback(officer, lat="21.0285", long="105.8521")
    submit(description="still unchecked")  # received: not public yet
    response = client.get(f"{BASE}/requests.{fmt}")
    assert response["Access-Control-Allow-Origin"] == "*"
    if fmt == "xml":
        assert root_of(response).tag == "service_requests"
        assert {child.tag for child in root_of(response)} == {"request"}
    (item,) = items(response, fmt)
    assert item["service_request_id"] == feedback.code
    assert item["status"] == "open"
    assert item["service_code"] == "giao-thong"
    assert item["service_name"] == feedback.category.name
    assert item["agency_responsible"] == "Phường Hoàn Kiếm"
    assert item["address_id"] == "00070"
    assert item["zipcode"] == ""
    assert item["media_url"] == ""
    assert item["status_notes"] == ""
    assert item["requested_datetime"].endswith("+07:00")
    assert item["updated_datetime"].endswith("+07:00")
    assert item["expected_datetime"] == f"{feedback.due_date.isoformat()}T17:00:00+07:00"
    assert float(item["lat"]) == pytest.approx(21.0285)
    assert float(item["long"]) == pytest.approx(105.8521)
    parsed = dt.datetime.fromisoformat(item["requested_datetime"])
    assert abs(parsed - feedback.received_at) < dt.timedelta(seconds=1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_answered_is_closed_with_notes(client: Client, officer: Any, fmt: str) -> None:
    feedback = public_feedback(officer)
    services.answer_save(actor=officer, feedback=feedback, text="Đã vá xong ổ gà.")
    services.answer_submit(actor=officer, feedback=feedback)
    (item,) = items(client.get(f"{BASE}/requests.{fmt}"), fmt)
    assert item["status"] == "closed"
    assert item["status_notes"] == "Đã vá xong ổ gà."


def test_requests_list_query_count(
    client: Client, officer: Any, django_assert_max_num_queries: Any
) -> None:
    for n in range(6):
        feedback = public_feedback(officer, description=f"Việc số {n}")
        if n % 2:
            services.answer_save(actor=officer, feedback=feedback, text=f"Trả lời {n}")
            services.answer_submit(actor=officer, feedback=feedback)
    with django_assert_max_num_queries(8):
        response = client.get(f"{BASE}/requests.json")
    assert len(items(response, "json")) == 6


@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_filters(client: Client, officer: Any, fmt: str) -> None:
    roads = public_feedback(officer)
    lights = public_feedback(officer, category="chieu-sang")
    saigon = public_feedback(officer, commune="26734")
    answered = public_feedback(officer, category="moi-truong")
    services.answer_save(actor=officer, feedback=answered, text="Đã thu gom.")
    services.answer_submit(actor=officer, feedback=answered)
    url = f"{BASE}/requests.{fmt}"

    assert set(codes(client.get(url), fmt)) == {
        roads.code,
        lights.code,
        saigon.code,
        answered.code,
    }
    ids = f"{roads.code},{saigon.code.lower()}"
    # A list of ids overrides the other filters, per the specification.
    overriding = {"service_request_id": ids, "service_code": "y-te"}
    assert set(codes(client.get(url, overriding), fmt)) == {roads.code, saigon.code}
    assert set(codes(client.get(url, {"service_code": "chieu-sang,moi-truong"}), fmt)) == {
        lights.code,
        answered.code,
    }
    assert codes(client.get(url, {"status": "closed"}), fmt) == [answered.code]
    assert answered.code not in codes(client.get(url, {"status": "open"}), fmt)
    assert len(codes(client.get(url, {"status": "open,closed"}), fmt)) == 4
    assert codes(client.get(url, {"commune_code": "26734"}), fmt) == [saigon.code]


@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_date_window(client: Client, officer: Any, fmt: str) -> None:
    recent = public_feedback(officer)
    old = public_feedback(officer)
    Feedback.objects.filter(pk=old.pk).update(received_at=timezone.now() - dt.timedelta(days=120))
    url = f"{BASE}/requests.{fmt}"
    # Without dates: the last 90 days only.
    assert codes(client.get(url), fmt) == [recent.code]
    since = (timezone.now() - dt.timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%S+07:00")
    assert codes(client.get(url, {"start_date": since}), fmt) == [recent.code, old.code]
    until = (timezone.now() - dt.timedelta(days=100)).isoformat()
    assert codes(client.get(url, {"end_date": until}), fmt) == [old.code]
    assert codes(client.get(url, {"start_date": since, "end_date": until}), fmt) == [old.code]
    assert codes(client.get(url, {"start_date": "2000-01-01"}), fmt) == [recent.code, old.code]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "hôm qua"},
        {"end_date": "2025-13-45T00:00:00Z"},
        {"status": "pending"},
        {"start_date": "2025-02-01", "end_date": "2025-01-01"},
    ],
)
def test_requests_bad_filters_400(client: Client, db: Any, fmt: str, params: dict) -> None:
    assert_error(client.get(f"{BASE}/requests.{fmt}", params), fmt, 400)


@pytest.mark.parametrize("fmt", FORMATS)
def test_request_detail(client: Client, officer: Any, fmt: str) -> None:
    feedback = public_feedback(officer)
    response = client.get(f"{BASE}/requests/{feedback.code}.{fmt}")
    assert [r["service_request_id"] for r in items(response, fmt)] == [feedback.code]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert_error(client.get(f"{BASE}/requests/KHONGCO9.{fmt}"), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_request_not_public_404(client: Client, officer: Any, fmt: str) -> None:
    received = submit()
    assert_error(client.get(f"{BASE}/requests/{received.code}.{fmt}"), fmt, 404)
    rejected = submit()
    services.feedback_reject(actor=officer, feedback=rejected, reason="Quảng cáo")
    assert Feedback.objects.get(pk=rejected.pk).status == Status.REJECTED
    assert_error(client.get(f"{BASE}/requests/{rejected.code}.{fmt}"), fmt, 404)
    assert codes(client.get(f"{BASE}/requests.{fmt}"), fmt) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_personal_data_in_any_get(
    client: Client, officer: Any, valid: dict[str, Any], fmt: str
) -> None:
    data = {
        **valid,
        "first_name": NAME_FIRST,
        "last_name": NAME_LAST,
        "phone": PHONE,
        "email": EMAIL,
        "device_id": DEVICE,
        "account_id": "acc-secret-42",
        # The sender also typed their number and e-mail into the text itself.
        "description": "Gọi tôi 0987 654 321 hoặc viet@thu.vn nhé",
    }
    created = json.loads(post(client, "json", data).content)[0]
    feedback = Feedback.objects.get(code=created["service_request_id"])
    services.feedback_accept(actor=officer, feedback=feedback)
    bodies = [
        client.get(f"{BASE}/requests.{fmt}").content,
        client.get(f"{BASE}/requests/{feedback.code}.{fmt}").content,
        client.get(f"{BASE}/requests.{fmt}", {"service_request_id": feedback.code}).content,
        client.get(f"{BASE}/tokens/{created['token']}.{fmt}").content,
    ]
    for body in bodies:
        text = body.decode()
        assert feedback.code in text
        for secret in (
            NAME_LAST,
            PHONE,
            EMAIL,
            DEVICE,
            "acc-secret-42",
            "0987 654 321",
            "viet@thu.vn",
        ):
            assert secret not in text


# --- Management command -------------------------------------------------------------------------


def test_command_create_list_revoke(db: Any, settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"  # commands speak the site's language; the asserts read English
    out, err = io.StringIO(), io.StringIO()
    call_command("open311_key", "create", "--name", "Cổng quốc gia", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert "\n" not in key
    assert key.startswith("ttcs311_")
    assert "only this once" in err.getvalue()
    client = services.open311_client_for_key(key)
    assert client is not None
    assert client.name == "Cổng quốc gia"
    assert key not in client.key_hash

    with pytest.raises(CommandError, match="already exists"):
        call_command("open311_key", "create", "--name", "Cổng quốc gia", stdout=io.StringIO())

    listing = io.StringIO()
    call_command("open311_key", "list", stdout=listing)
    assert "Cổng quốc gia" in listing.getvalue()
    assert client.prefix in listing.getvalue()
    assert key not in listing.getvalue()

    call_command("open311_key", "revoke", "--name", "Cổng quốc gia", stdout=io.StringIO())
    assert services.open311_client_for_key(key) is None
    assert Open311Client.objects.get().revoked_at is not None
    with pytest.raises(CommandError, match="already revoked"):
        call_command("open311_key", "revoke", "--name", "Cổng quốc gia", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No Open311 application"):
        call_command("open311_key", "revoke", "--name", "Không có", stdout=io.StringIO())


# --- Errors before or beside the endpoints (helper H) -------------------------------------------


@pytest.mark.parametrize(
    "path", ["nowhere.xml", "services/khac/extra.xml", "requests/.xml", "DISCOVERY.XML"]
)
def test_unknown_path_ending_in_xml_404_xml(client: Client, db: Any, path: str) -> None:
    assert_error(client.get(f"{BASE}/{path}"), "xml", 404)


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("services.xml", "xml"),
        ("services.json", "json"),
        ("requests.xml", "xml"),
        ("nowhere", "json"),
        ("nowhere.xml", "xml"),
    ],
)
def test_nul_in_the_query_400_in_the_specs_format(
    client: Client, db: Any, path: str, fmt: str
) -> None:
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    description = assert_error(client.get(f"{BASE}/{path}?service_code=%00"), fmt, 400)
    assert "NUL" in description
    assert_error(client.get(f"{BASE}/{path}?a%00b=1"), fmt, 400)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("field", ["first_name", "description", "attribute[x\x00]"])
def test_nul_in_a_form_encoded_post_400_in_the_specs_format(
    client: Client, valid: dict[str, Any], fmt: str, field: str
) -> None:
    response = post(client, fmt, {**valid, field: "Nguyễn\x00"})
    assert_error(response, fmt, 400)
    assert not Feedback.objects.exists()
    assert not Contact.objects.exists()
    # A literal "%00" typed by someone is text ("%2500" on the wire), not a NUL.
    response = post(client, fmt, {**valid, "description": "Giảm 100%00 phí"})
    assert response.status_code == 201
    assert Feedback.objects.get().description == "Giảm 100%00 phí"

"""The speech pages and API over real HTTP (Django's test client): panel, settings, abbreviations,
audio files by hash with their access rules, and the JSON API."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import feedparser
import pytest
from django.conf import settings
from django.urls import reverse

from thongtincoso.accounts.roles import Role
from thongtincoso.bulletins import services as bulletin_services
from thongtincoso.bulletins.tests.factories import draft
from thongtincoso.speech import services
from thongtincoso.speech.models import Abbreviation, AudioAsset, BulletinAudio, SpeechSettings
from thongtincoso.speech.normalizer import normalize

from .test_bulletin_audio import _tone_mp3

pytestmark = pytest.mark.django_db(transaction=True)


def _bulletin(staff: Any, tree: Any, text: str = "Bà con chú ý: 14h30 họp tổ dân phố.") -> Any:
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    return bulletin_services.bulletin_update(
        actor=staff.hk_editor, bulletin=bulletin, version=bulletin.version, reading_text=text
    )


def test_panel_renders_and_shows_the_player_with_loudness(
    staff: Any, tree: Any, media: Path, client_for: Any
) -> None:
    bulletin = _bulletin(staff, tree)
    client = client_for(staff.hk_editor)
    page = client.get(f"/bulletins/{bulletin.pk}/").content.decode()
    assert 'data-testid="audio-none"' in page
    assert 'data-testid="render-button"' in page

    response = client.post(f"/speech/bulletins/{bulletin.pk}/audio/render/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    panel = client.get(f"/speech/bulletins/{bulletin.pk}/audio/").content.decode()
    asset = BulletinAudio.objects.get(bulletin=bulletin).asset
    assert f"/speech/audio/{asset.sha256}.mp3" in panel
    assert f"/speech/audio/{asset.opus_sha256}.opus" in panel
    assert "LUFS" in panel
    assert "dBTP" in panel


def test_render_refusal_is_shown_in_vietnamese_and_the_text_stays(
    staff: Any, tree: Any, media: Path, client_for: Any
) -> None:
    bulletin = _bulletin(staff, tree, "★★★ 🙂")
    client = client_for(staff.hk_editor)
    response = client.post(
        f"/speech/bulletins/{bulletin.pk}/audio/render/",
        HTTP_HX_REQUEST="true",
        HTTP_ACCEPT_LANGUAGE="vi",
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert 'data-testid="audio-error"' in text
    assert "tiếng Việt" in text  # "…Write it in Vietnamese words", in Vietnamese
    bulletin.refresh_from_db()
    assert bulletin.reading_text == "★★★ 🙂"


def test_upload_form_refuses_a_fake_mp3_with_a_message(
    staff: Any, tree: Any, media: Path, client_for: Any
) -> None:
    bulletin = _bulletin(staff, tree)
    client = client_for(staff.hk_editor)
    fake = io.BytesIO(b"MZ\x90\x00 not really audio at all" * 40)
    fake.name = "tin-tuc.mp3"
    response = client.post(
        f"/speech/bulletins/{bulletin.pk}/audio/upload/",
        {"file": fake, "source": "upload"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "không phải âm thanh" in response.content.decode()
    assert AudioAsset.objects.count() == 0


def test_upload_then_play_through_the_hash_url_with_ranges(
    staff: Any, tree: Any, media: Path, client_for: Any
) -> None:
    bulletin = _bulletin(staff, tree)
    client = client_for(staff.hk_editor)
    upload = io.BytesIO(_tone_mp3(4.0, 0.2))
    upload.name = "ghi-am.mp3"
    response = client.post(
        f"/speech/bulletins/{bulletin.pk}/audio/upload/", {"file": upload, "source": "upload"}
    )
    assert response.status_code == 302
    asset = BulletinAudio.objects.get(bulletin=bulletin).asset
    url = f"/speech/audio/{asset.sha256}.mp3"
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole["Content-Type"] == "audio/mpeg"
    assert whole["Cache-Control"] == "private, no-store"  # a draft's audio is not public
    part = client.get(url, HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206
    assert len(b"".join(part.streaming_content)) == 100

    # Out of scope: the same answer as a hash that does not exist.
    other = client_for(staff.cn_editor)
    assert other.get(url).status_code == 404
    assert other.get("/speech/audio/" + "0" * 64 + ".mp3").status_code == 404
    assert client_for(staff.hk_editor).get("/speech/audio/xyz.wav").status_code == 404


def test_published_audio_is_public_and_cacheable(
    staff: Any, tree: Any, media: Path, client: Any
) -> None:
    bulletin = _bulletin(staff, tree)
    bulletin = bulletin_services.bulletin_update(
        actor=staff.hk_editor,
        bulletin=bulletin,
        version=bulletin.version,
        channels=["radio", "portal"],
    )
    bulletin_services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    bulletin_services.bulletin_approve(actor=staff.hk_approver, bulletin=bulletin)
    asset = BulletinAudio.objects.get(bulletin=bulletin).asset
    response = client.get(f"/speech/audio/{asset.opus_sha256}.opus")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/ogg"
    assert response["Cache-Control"].startswith("public, max-age=31536000")
    # The public bulletin page plays it.
    page = client.get(reverse("portal:bulletin", args=[tree.hoankiem.code, bulletin.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="programme-audio"' in html
    assert f"/speech/audio/{asset.opus_sha256}.opus" in html
    # And the podcast feed carries it as the episode.
    feed = feedparser.parse(
        client.get(reverse("portal:podcast", args=[tree.hoankiem.code])).content
    )
    (entry,) = feed.entries
    assert entry.enclosures[0]["href"].endswith(f"/speech/audio/{asset.sha256}.mp3")
    assert entry.enclosures[0]["type"] == "audio/mpeg"


def test_settings_page_saves_voice_and_reading_and_is_inherited(
    staff: Any, tree: Any, make_user: Any, client_for: Any
) -> None:
    admin = make_user("hn_admin", tree.hanoi, role=Role.UNIT_ADMIN)
    client = client_for(admin)
    page = client.get(f"/speech/units/{tree.hanoi.code}/")
    assert page.status_code == 200
    assert "espeak:vi-VN-x-south" in page.content.decode()
    response = client.post(
        f"/speech/units/{tree.hanoi.code}/",
        {
            "engine_voice": "espeak:vi-VN-x-south",
            "rate": "170",
            "thousand": "ngàn",
            "odd": "lẻ",
            "target_lufs": "-18",
        },
    )
    assert response.status_code == 302
    commune = services.speech_settings_for(tree.hoankiem)
    assert (commune.voice, commune.rate, commune.thousand, commune.target_lufs) == (
        "vi-VN-x-south",
        170,
        "ngàn",
        -18.0,
    )
    assert normalize("1.005 người", services.reading_options_for(tree.hoankiem)).startswith(
        "một ngàn không trăm lẻ năm"
    )
    # A commune editor can read them but not change them.
    denied = client_for(staff.hk_editor).post(
        f"/speech/units/{tree.hoankiem.code}/",
        {
            "engine_voice": "espeak:vi",
            "rate": "180",
            "thousand": "nghìn",
            "odd": "linh",
            "target_lufs": "-16",
        },
    )
    assert denied.status_code == 400
    assert SpeechSettings.objects.filter(unit=tree.hoankiem).count() == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rate": "20"}, "100"),
        ({"target_lufs": "-3"}, "-10"),
        ({"engine_voice": "espeak:klingon"}, "Select a valid choice"),
    ],
)
def test_settings_page_refuses_bad_values(
    tree: Any, make_user: Any, client_for: Any, fields: dict, message: str
) -> None:
    admin = make_user("hn_admin2", tree.hanoi, role=Role.UNIT_ADMIN)
    data = {
        "engine_voice": "espeak:vi",
        "rate": "180",
        "thousand": "nghìn",
        "odd": "linh",
        "target_lufs": "-16",
        **fields,
    }
    client = client_for(admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(f"/speech/units/{tree.hanoi.code}/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SpeechSettings.objects.exists()


def test_abbreviations_page_adds_changes_and_removes(
    staff: Any, tree: Any, client_for: Any
) -> None:
    client = client_for(staff.hk_editor)
    url = f"/speech/units/{tree.hoankiem.code}/abbreviations/"
    assert (
        client.post(url, {"written": "HTX.NN", "spoken": "hợp tác xã nông nghiệp"}).status_code
        == 302
    )
    assert client.post(url, {"written": "HTX.NN", "spoken": "hợp tác xã"}).status_code == 302
    row = Abbreviation.objects.get(unit=tree.hoankiem)
    assert row.spoken == "hợp tác xã"
    assert "hợp tác xã" in normalize(
        "Họp HTX.NN sáng nay.", services.reading_options_for(tree.hoankiem)
    )
    bad = client.post(url, {"written": "ĐB", "spoken": "đường 20"}, HTTP_ACCEPT_LANGUAGE="vi")
    assert bad.status_code == 400
    assert Abbreviation.objects.count() == 1
    # Another commune's editor cannot remove it (404, as if it did not exist).
    other = client_for(staff.cn_editor).post(
        f"/speech/units/{tree.hoankiem.code}/abbreviations/{row.pk}/remove/"
    )
    assert other.status_code == 404
    removed = client.post(f"/speech/units/{tree.hoankiem.code}/abbreviations/{row.pk}/remove/")
    assert removed.status_code == 302
    assert not Abbreviation.objects.exists()


def test_preview_shows_the_spoken_form_and_plays_it(staff: Any, tree: Any, client_for: Any) -> None:
    client = client_for(staff.hk_editor)
    response = client.post(
        f"/speech/units/{tree.hoankiem.code}/preview/", {"text": "UBND xã họp lúc 14h30."}
    )
    assert response.status_code == 200
    assert "ủy ban nhân dân" in response.content.decode().lower()
    audio = client.get(
        f"/speech/units/{tree.hoankiem.code}/preview.mp3", {"text": "UBND xã họp lúc 14h30."}
    )
    assert audio.status_code == 200
    assert audio["Content-Type"] == "audio/mpeg"
    assert len(audio.content) > 5000
    empty = client.get(f"/speech/units/{tree.hoankiem.code}/preview.mp3", {"text": "🙂"})
    assert empty.status_code == 400


def _api(client: Any, token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_api_render_status_and_cancel(staff: Any, tree: Any, media: Path, client: Any) -> None:
    from conftest import api_token_for

    bulletin = _bulletin(staff, tree)
    auth = _api(client, api_token_for(staff.hk_editor))
    response = client.post(
        f"/api/v1/bulletins/{bulletin.pk}/audio/render",
        {"rate": 200},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["job"]["state"] == "succeeded"
    assert body["rate"] == 200
    assert body["asset"]["mp3_url"].endswith(".mp3")
    assert -16.5 <= body["asset"]["integrated_lufs"] <= -15.5
    again = client.get(f"/api/v1/bulletins/{bulletin.pk}/audio", **auth).json()
    assert again["asset"]["sha256"] == body["asset"]["sha256"]

    bad = client.post(
        f"/api/v1/bulletins/{bulletin.pk}/audio/render",
        {"rate": 5},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 422 or bad.status_code == 400
    hidden = client.get(
        f"/api/v1/bulletins/{bulletin.pk}/audio", **_api(client, api_token_for(staff.cn_editor))
    )
    assert hidden.status_code == 404
    done = client.post(f"/api/v1/jobs/{body['job']['id']}/cancel", **auth)
    assert done.status_code == 200
    assert done.json()["state"] == "succeeded"


def test_api_upload_and_normalize(staff: Any, tree: Any, media: Path, client: Any) -> None:
    from conftest import api_token_for

    bulletin = _bulletin(staff, tree)
    auth = _api(client, api_token_for(staff.hk_editor))
    upload = io.BytesIO(_tone_mp3(2.0))
    upload.name = "x.mp3"
    response = client.post(
        f"/api/v1/bulletins/{bulletin.pk}/audio/upload", {"file": upload}, **auth
    )
    assert response.status_code == 200, response.content
    assert response.json()["source"] == "upload"
    fake = io.BytesIO(b"%PDF-1.4 not audio" * 10)
    fake.name = "x.mp3"
    refused = client.post(f"/api/v1/bulletins/{bulletin.pk}/audio/upload", {"file": fake}, **auth)
    assert refused.status_code == 400
    assert "audio" in refused.json()["detail"].lower() or "âm thanh" in refused.json()["detail"]

    Abbreviation.objects.create(unit=tree.hoankiem, written="TDP", spoken="tổ dân phố")
    spoken = client.post(
        "/api/v1/speech/normalize",
        {"text": "Họp TDP lúc 14h30. Mang CCCD.", "unit": tree.hoankiem.code},
        content_type="application/json",
        **auth,
    ).json()
    assert "tổ dân phố" in spoken["spoken"]
    assert "mười bốn giờ ba mươi phút" in spoken["spoken"]
    assert len(spoken["sentences"]) == 2
    assert spoken["syllables"] > 10


def test_api_normalize_refuses_invalid_utf8_and_empty_text(
    staff: Any, tree: Any, client: Any
) -> None:
    from conftest import api_token_for

    auth = _api(client, api_token_for(staff.hk_editor))
    broken = client.post(
        "/api/v1/speech/normalize",
        b'{"text": "ng\xc3y 20/4 \xff\xfe"}',
        content_type="application/json",
        **auth,
    )
    assert broken.status_code in (400, 422)
    empty = client.post(
        "/api/v1/speech/normalize", {"text": "   "}, content_type="application/json", **auth
    )
    assert empty.status_code == 400
    assert "text" in empty.json()["detail"]

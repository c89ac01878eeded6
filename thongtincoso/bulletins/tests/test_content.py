"""Pure text helpers: sanitising, reading text, spoken-length estimate, SMS length."""

from __future__ import annotations

import pytest

from thongtincoso.bulletins.content import (
    estimate_spoken_seconds,
    html_to_text,
    sanitise_html,
    sms_parts,
)


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">x</a>', "javascript:"),
        ('<svg onload="alert(1)"></svg>', "onload"),
        ('<p style="background:url(javascript:x)">x</p>', "style"),
        ('<iframe srcdoc="<script>alert(1)</script>"></iframe>', "iframe"),
        ("<!-- <script>x</script> -->", "<!--"),
    ],
)
def test_sanitiser_removes_executable_markup(dirty, forbidden):
    assert forbidden not in sanitise_html(dirty).lower()


def test_sanitiser_keeps_structure_and_safe_links():
    clean = sanitise_html('<h2>Tiêu đề</h2><p><a href="https://hanoi.gov.vn">Cổng</a></p>')
    assert "<h2>Tiêu đề</h2>" in clean
    assert 'href="https://hanoi.gov.vn"' in clean
    assert 'rel="noopener noreferrer nofollow"' in clean


def test_html_to_text_one_paragraph_per_line():
    html = "<p>Một  hai</p><ul><li>ba</li><li>bốn&nbsp;năm</li></ul><p>sáu<br>bảy</p>"
    assert html_to_text(html) == "Một hai\nba\nbốn năm\nsáu\nbảy"


def test_spoken_estimate_counts_syllables_and_numbers():
    assert estimate_spoken_seconds("") == 0
    # 180 syllables at 180 a minute is a minute (no pauses without punctuation).
    assert estimate_spoken_seconds(" ".join(["tiếng"] * 180)) == 60
    # A number reads as more syllables than a word.
    assert estimate_spoken_seconds("ngày 20/4/2026") > estimate_spoken_seconds("ngày mai")


def test_sms_parts_gsm_and_unicode():
    assert sms_parts("Hello") == (5, 1, "GSM-7")
    assert sms_parts("a" * 161) == (161, 2, "GSM-7")
    # Vietnamese letters need UCS-2: 70 characters a single message, 67 per part.
    assert sms_parts("ă" * 70) == (70, 1, "UCS-2")
    assert sms_parts("ă" * 71) == (71, 2, "UCS-2")

"""Translations: the Vietnamese catalog is complete, and people see the language they chose."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from django.conf import settings
from django.test import Client


def _load_check_script() -> ModuleType:
    path = Path(settings.BASE_DIR) / "scripts" / "check_catalogs.py"
    spec = importlib.util.spec_from_file_location("check_catalogs", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_catalogs = _load_check_script()


def test_vietnamese_catalog_is_complete() -> None:
    problems = check_catalogs.catalog_problems(["vi"])
    assert problems == [], "\n".join(problems)


def test_english_catalog_exists_for_the_language_switch() -> None:
    assert (Path(settings.BASE_DIR) / "locale/en/LC_MESSAGES/django.po").exists()
    assert {code for code, _name in settings.LANGUAGES} == {"vi", "en"}


@pytest.mark.django_db
def test_login_page_is_vietnamese_by_default() -> None:
    response = Client().get("/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="vi">' in html
    assert "Đăng nhập" in html
    assert "Tên đăng nhập" in html
    assert "Log in" not in html


@pytest.mark.django_db
def test_language_switch_to_english_and_back() -> None:
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/login/"

    html = client.get("/login/").content.decode()
    assert '<html lang="en">' in html
    assert "Log in" in html
    assert "Đăng nhập" not in html

    client.post("/i18n/setlang/", {"language": "vi", "next": "/login/"})
    html = client.get("/login/").content.decode()
    assert '<html lang="vi">' in html
    assert "Đăng nhập" in html


@pytest.mark.django_db
def test_generic_login_error_is_vietnamese() -> None:
    response = Client().post("/login/", {"username": "nobody", "password": "wrong-password-1"})
    assert response.status_code == 200
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in response.content.decode()

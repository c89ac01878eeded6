"""Test settings: SQLite by default, PostgreSQL when DATABASE_URL is set (CI runs both)."""

import atexit
import shutil
import tempfile
from pathlib import Path

from config import env as E

from .base import *  # noqa: F403
from .base import HUEY, STATIC_ROOT

SECRET_KEY = "test-only-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
DEBUG = False
# Fast hashing in tests; production keeps Argon2 (base.py).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUEY = {**HUEY, "immediate": True}
# Each test's database is new; the anchor tests point this at a temporary file themselves.
TTCS_AUDIT_ANCHOR = ""
# Tests make many calls from one address; the throttling test lowers these itself.
TTCS_API_ANON_RATE = "100000/m"
TTCS_PORTAL_RATE = "100000/m"
TTCS_API_USER_RATE = "100000/m"
TTCS_FEEDBACK_RATE_IP = "100000/m"
TTCS_FEEDBACK_RATE_CONTACT = "100000/m"
TTCS_OPEN311_RATE_KEY = "100000/m"
if not E.DATABASE_URL:
    DATABASES = {"default": E.sqlite_config(E.VAR_DIR / "test.sqlite3")}
    # A file test database, as in production, not Django's shared in-memory one: with that one the
    # live server hands its single connection to every request thread (two htmx requests at once
    # interleave their transactions) and other threads' connections get "database table is
    # locked" at once instead of waiting. Each run has its own directory, so a developer's and an
    # editor's runs proceed side by side.
    _test_db_dir = tempfile.mkdtemp(prefix="ttcs-testdb-")
    atexit.register(shutil.rmtree, _test_db_dir, ignore_errors=True)
    DATABASES["default"]["TEST"] = {"NAME": str(Path(_test_db_dir) / "test.sqlite3")}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
E.VAR_DIR.mkdir(parents=True, exist_ok=True)
# Each run writes device manifests to its own directory (tests that read them use tmp_path).
TTCS_MANIFEST_ROOT = tempfile.mkdtemp(prefix="ttcs-manifests-")
atexit.register(shutil.rmtree, TTCS_MANIFEST_ROOT, ignore_errors=True)
# whitenoise warns about a missing STATIC_ROOT; tests serve static files through the finders.
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)

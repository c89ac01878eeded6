"""The one place that reads the process environment.

Every setting that differs between a laptop, CI and a province's servers comes from here, so an
operator can read this file to learn every knob (see also deploy/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Where run-time state lives when nothing else is configured: SQLite database, Huey queue, media.
VAR_DIR = Path(env.str("TTCS_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG: bool = env.bool("DEBUG", default=False)
SECRET_KEY: str = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The address people reach the platform at, for links in e-mails (pages use the request's host).
PUBLIC_BASE_URL: str = env.str("TTCS_PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# Empty means "embedded SQLite under VAR_DIR" (the zero set-up default).
DATABASE_URL: str = env.str("DATABASE_URL", default="")
# Empty means "SQLite-backed Huey queue and local-memory cache".
REDIS_URL: str = env.str("REDIS_URL", default="")
# Empty means devices only poll (push is an optimisation, never a requirement).
MQTT_URL: str = env.str("MQTT_URL", default="")

# Devices' rendered manifests, one file per device at an unguessable name (docs/device-protocol.md).
# Behind nginx this directory is served directly (deploy/nginx/ttcs.conf); on several app servers
# it must be shared storage.
MANIFEST_ROOT: str = env.str("TTCS_MANIFEST_ROOT", default=str(VAR_DIR / "manifests"))

MEDIA_ROOT: str = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL: str = env.str("MEDIA_URL", default="/media/")
# S3-compatible object storage for media in a scaled-out deployment (django-storages, later).
MEDIA_STORAGE_BACKEND: str = env.str(
    "MEDIA_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"
)
STATIC_ROOT: str = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))
# Behind nginx (deploy/nginx/ttcs.conf): after checking who may download an attachment, the app
# answers with "X-Accel-Redirect: /protected-media/<path>" and nginx sends the file (ranges
# included). Off by default: the app then sends files itself. Never used while DEBUG is on.
X_ACCEL_REDIRECT: bool = env.bool("TTCS_X_ACCEL_REDIRECT", default=False)

EMAIL_URL: str = env.str("EMAIL_URL", default="consolemail://")
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="ttcs@localhost")
# Notifications also go out by e-mail only when an operator configured a mail server.
NOTIFY_BY_EMAIL: bool = env.bool("TTCS_NOTIFY_BY_EMAIL", default="EMAIL_URL" in os.environ)

# Roles whose holders must use two-factor authentication (comma-separated role names).
TWO_FACTOR_REQUIRED_ROLES: list[str] = env.list(
    "TTCS_2FA_REQUIRED_ROLES", default=["system_admin", "unit_admin", "approver"]
)
# API rate limits ("requests/period", period s, m, h or d): per address for anonymous callers,
# per account for authenticated ones.
API_ANON_RATE: str = env.str("TTCS_API_ANON_RATE", default="120/m")
# Public portal pages, feeds and downloads, per address (a feed reader polls; a crawler must not
# exhaust the server).
PORTAL_RATE: str = env.str("TTCS_PORTAL_RATE", default="300/m")
# Citizen feedback (docs/feedback.md): submissions per client address and per phone or e-mail,
# Open311 POSTs per application key; how long a sender may reopen an answer; how long contact
# details are kept once a feedback is closed; reminders this many working days before a deadline.
FEEDBACK_RATE_IP: str = env.str("TTCS_FEEDBACK_RATE_IP", default="20/h")
FEEDBACK_RATE_CONTACT: str = env.str("TTCS_FEEDBACK_RATE_CONTACT", default="10/d")
OPEN311_RATE_KEY: str = env.str("TTCS_OPEN311_RATE_KEY", default="600/m")
FEEDBACK_REOPEN_DAYS: int = env.int("TTCS_FEEDBACK_REOPEN_DAYS", default=30)
FEEDBACK_RETENTION_DAYS: int = env.int("TTCS_FEEDBACK_RETENTION_DAYS", default=365)
FEEDBACK_REMIND_DAYS: int = env.int("TTCS_FEEDBACK_REMIND_DAYS", default=2)
API_USER_RATE: str = env.str("TTCS_API_USER_RATE", default="1200/m")
# HTTPS policy in production (config/settings/production.py).
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Where audit verification keeps the chain's head, outside the database ("" turns it off).
AUDIT_ANCHOR: str = env.str("TTCS_AUDIT_ANCHOR", default=str(VAR_DIR / "audit-anchor.json"))
# How many reverse proxies (nginx, a load balancer) stand in front of the app. With N > 0 the
# client address is the Nth entry from the right of X-Forwarded-For; with 0 it is REMOTE_ADDR.
# Audit records, login throttling and API rate limits all use this one rule.
TRUSTED_PROXY_COUNT: int = env.int("TTCS_TRUSTED_PROXY_COUNT", default=0)
# Speech (docs/speech-engines.md). Piper voices are files an operator puts in this directory
# (<name>.onnx + <name>.onnx.json); nothing is downloaded.
PIPER_VOICE_DIR: str = env.str("TTCS_PIPER_VOICE_DIR", default=str(VAR_DIR / "piper-voices"))
# A commercial speech service over HTTP; empty URL means the engine is not offered.
TTS_HTTP_URL: str = env.str("TTCS_TTS_HTTP_URL", default="")
TTS_HTTP_KEY: str = env.str("TTCS_TTS_HTTP_KEY", default="")
# The header carrying the key: "Authorization" sends "Bearer <key>", another name the bare key.
TTS_HTTP_KEY_HEADER: str = env.str("TTCS_TTS_HTTP_KEY_HEADER", default="Authorization")
TTS_HTTP_VOICES: list[str] = env.list("TTCS_TTS_HTTP_VOICES", default=[])
TTS_HTTP_TIMEOUT: float = env.float("TTCS_TTS_HTTP_TIMEOUT", default=30.0)
SESSION_IDLE_SECONDS: int = env.int("TTCS_SESSION_IDLE_SECONDS", default=2 * 60 * 60)
LOGIN_FAILURE_LIMIT: int = env.int("TTCS_LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES: int = env.int("TTCS_LOGIN_LOCKOUT_MINUTES", default=15)


def database_config() -> dict:
    """DATABASES['default'] from DATABASE_URL, or a tuned embedded SQLite file."""
    if DATABASE_URL:
        config = environ.Env.db_url_config(DATABASE_URL)
        if config.get("ENGINE") == "django.db.backends.sqlite3" and config.get("NAME") not in (
            "",
            ":memory:",
        ):
            # A SQLite file named by URL gets the same tuning as the embedded default: without
            # IMMEDIATE transactions, concurrent writers fail with "database is locked".
            return sqlite_config(Path(config["NAME"]))
        config.setdefault("CONN_MAX_AGE", 60)
        config["CONN_HEALTH_CHECKS"] = True
        return config
    return sqlite_config(VAR_DIR / "ttcs.sqlite3")


def sqlite_config(path: Path) -> dict:
    # IMMEDIATE transactions take the write lock up front, so two writers queue instead of failing
    # with "database is locked" half-way; WAL lets readers run beside the one writer.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=20000;"
                "PRAGMA temp_store=MEMORY;"
                "PRAGMA mmap_size=134217728;"
                "PRAGMA cache_size=-20000;"
            ),
        },
    }

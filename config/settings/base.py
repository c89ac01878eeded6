"""Settings shared by every environment. Values that vary come from config.env."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext_lazy as _

from config import env as E

BASE_DIR = E.BASE_DIR
VAR_DIR = E.VAR_DIR

DEBUG = E.DEBUG
SECRET_KEY = E.SECRET_KEY
ALLOWED_HOSTS = E.ALLOWED_HOSTS
CSRF_TRUSTED_ORIGINS = E.CSRF_TRUSTED_ORIGINS

INSTALLED_APPS = [
    "thongtincoso.core.admin_site.TTCSAdminConfig",  # django.contrib.admin, policy-scoped
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_prose_editor",  # the bulletin body's WYSIWYG editor, its JS/CSS as static files
    "ninja",  # so /api/v1/docs serves Swagger UI from the package, not from a CDN
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "huey.contrib.djhuey",
    # Our apps, by domain. Each has the same shape: models, services, selectors, api, views, tests.
    "thongtincoso.core",
    "thongtincoso.units",
    "thongtincoso.accounts",
    "thongtincoso.audit",
    "thongtincoso.jobs",
    "thongtincoso.notifications",
    "thongtincoso.bulletins",
    "thongtincoso.speech",
    "thongtincoso.radio",
    "thongtincoso.feedback",
    "thongtincoso.portal",
    "thongtincoso.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "thongtincoso.core.middleware.RequestContextMiddleware",
    "thongtincoso.core.middleware.RejectNulBytesMiddleware",
    "thongtincoso.core.middleware.ApiJsonErrorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "thongtincoso.core.middleware.VietnameseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "thongtincoso.accounts.middleware.TwoFactorEnforcementMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Axes goes last: it turns a lockout signalled during authentication into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "thongtincoso.web.context_processors.shell",
            ],
        },
    },
]

DATABASES = {"default": E.database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses locked-out credentials before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
CSRF_FAILURE_VIEW = "thongtincoso.web.views.csrf_failure"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:login"

# Sessions end after a period of inactivity (every request renews the cookie).
SESSION_COOKIE_AGE = E.SESSION_IDLE_SECONDS
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Login throttling (django-axes): the same username from the same address is locked out after
# LOGIN_FAILURE_LIMIT failures. Unknown users count exactly like known ones.
AXES_FAILURE_LIMIT = E.LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=E.LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/lockout.html"
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = E.TRUSTED_PROXY_COUNT or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if E.TRUSTED_PROXY_COUNT else ["REMOTE_ADDR"]
)

TWO_FACTOR_REQUIRED_ROLES = E.TWO_FACTOR_REQUIRED_ROLES
OTP_TOTP_ISSUER = "Thông tin cơ sở"

LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = E.STATIC_ROOT
STORAGES = {
    "default": {"BACKEND": E.MEDIA_STORAGE_BACKEND},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = E.MEDIA_ROOT
MEDIA_URL = E.MEDIA_URL

if E.REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": E.REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Background jobs (Huey). Redis when configured, otherwise a SQLite file beside the database.
HUEY = {
    "name": "ttcs",
    "immediate": False,
    # Periodic tasks are written in Vietnam's local time ("02:45" means 02:45 in Hà Nội).
    "utc": False,
    "consumer": {"workers": 2, "worker_type": "thread", "periodic": True},
}
if E.REDIS_URL:
    HUEY.update({"huey_class": "huey.RedisHuey", "url": E.REDIS_URL})
else:
    HUEY.update({"huey_class": "huey.SqliteHuey", "filename": str(VAR_DIR / "huey.sqlite3")})

MQTT_URL = E.MQTT_URL
TTCS_MANIFEST_ROOT = E.MANIFEST_ROOT

EMAIL_CONFIG = E.env.email_url_config(E.EMAIL_URL)
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = E.DEFAULT_FROM_EMAIL
NOTIFY_BY_EMAIL = E.NOTIFY_BY_EMAIL
PUBLIC_BASE_URL = E.PUBLIC_BASE_URL
TTCS_X_ACCEL_REDIRECT = E.X_ACCEL_REDIRECT

TTCS_AUDIT_ANCHOR = E.AUDIT_ANCHOR
TTCS_PIPER_VOICE_DIR = E.PIPER_VOICE_DIR
TTCS_TTS_HTTP = {
    "url": E.TTS_HTTP_URL,
    "api_key": E.TTS_HTTP_KEY,
    "key_header": E.TTS_HTTP_KEY_HEADER,
    "voices": E.TTS_HTTP_VOICES,
    "timeout": E.TTS_HTTP_TIMEOUT,
}
TTCS_API_ANON_RATE = E.API_ANON_RATE
TTCS_PORTAL_RATE = E.PORTAL_RATE
TTCS_API_USER_RATE = E.API_USER_RATE
TTCS_FEEDBACK_RATE_IP = E.FEEDBACK_RATE_IP
TTCS_FEEDBACK_RATE_CONTACT = E.FEEDBACK_RATE_CONTACT
TTCS_OPEN311_RATE_KEY = E.OPEN311_RATE_KEY
TTCS_FEEDBACK_REOPEN_DAYS = E.FEEDBACK_REOPEN_DAYS
TTCS_FEEDBACK_RETENTION_DAYS = E.FEEDBACK_RETENTION_DAYS
TTCS_FEEDBACK_REMIND_DAYS = E.FEEDBACK_REMIND_DAYS
# Clients are identified by REMOTE_ADDR, or by X-Forwarded-For only as far as it was written by
# our own proxies (TTCS_TRUSTED_PROXY_COUNT); a client-supplied header would dodge the limits.
NINJA_NUM_PROXIES = E.TRUSTED_PROXY_COUNT
TTCS_TRUSTED_PROXY_COUNT = E.TRUSTED_PROXY_COUNT

# The public API is read by e-boards and other systems; keep its pages bounded.
NINJA_PAGINATION_PER_PAGE = 50

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "filters": {"request_id": {"()": "thongtincoso.core.context.RequestIdLogFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Huey's consumer logs through its own handler; do not print each line twice.
        "huey": {"level": "INFO", "propagate": False},
    },
}

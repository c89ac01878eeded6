"""Production: everything from the environment, secure cookies and HSTS, no defaults for secrets."""

from django.core.exceptions import ImproperlyConfigured

from config import env as E

from .base import *  # noqa: F403

if not E.SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment for production.")
SECRET_KEY = E.SECRET_KEY
DEBUG = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = E.SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = E.SECURE_HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# "preload" only allows submitting the domain to browsers' preload list; the operator decides that.
SECURE_HSTS_PRELOAD = E.SECURE_HSTS_PRELOAD
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
E.VAR_DIR.mkdir(parents=True, exist_ok=True)

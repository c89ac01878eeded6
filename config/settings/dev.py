"""Local development and `make demo`: embedded SQLite, debug off unless asked for."""

from config import env as E

from .base import *  # noqa: F403

SECRET_KEY = E.SECRET_KEY or "dev-only-insecure-key-change-me-in-production-0123456789"
E.VAR_DIR.mkdir(parents=True, exist_ok=True)

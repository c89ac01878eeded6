"""Errors that services raise and every entry point (view, API, command) turns into a message.

Messages are translatable and say what to fix; they are shown to people as they are.
"""

from __future__ import annotations

from django.utils.functional import Promise


class ServiceError(Exception):
    """The request cannot be carried out as asked (bad input or a broken business rule)."""

    def __init__(self, message: str | Promise, *, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class PermissionDeniedError(ServiceError):
    """The actor may not do this. Entry points answer 403, or 404 when the object is hidden."""


class NotFoundError(ServiceError):
    """The object does not exist, or the actor may not see it (the two answer alike)."""

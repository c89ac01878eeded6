"""Errors that services raise and every entry point (view, API, command) turns into a message.

Messages are translatable and say what to fix; they are shown to people as they are.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise


class ServiceError(Exception):
    """The request cannot be carried out as asked (bad input or a broken business rule)."""

    def __init__(self, message: str | Promise, *, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class PermissionDeniedError(ServiceError):
    """The actor may not do this. Entry points answer 403, or 404 when the object is hidden."""


class ConflictError(ServiceError):
    """The object is not in a state that allows this (a forbidden transition, a stale edit).

    Entry points answer 409 and nothing has changed.
    """


class NotFoundError(ServiceError):
    """The object does not exist, or the actor may not see it (the two answer alike)."""


def full_clean_or_raise(obj: Any, *, exclude: list[str] | None = None) -> None:
    """Run the model's own validation and report the first problem as a ServiceError.

    Services call this before saving, so a value the database would refuse (too long, wrong
    choice) reaches the person as a message naming the field, never as a server error.
    """
    from django.core.exceptions import ValidationError

    try:
        obj.full_clean(exclude=exclude)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        label = field
        if field != "__all__":
            try:
                label = str(obj._meta.get_field(field).verbose_name)
            except Exception:  # a non-field key: keep its name
                label = field
        text = f"{label}: {messages[0]}" if field != "__all__" else messages[0]
        raise ServiceError(text, field=None if field == "__all__" else field) from exc
